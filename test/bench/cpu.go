package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// controlPlane is the API server's processes, found by their command lines,
// whose CPU time the benchmark reads to say what each run cost the API
// server (the bottleneck on a small machine), not only how long it took.
type controlPlane struct {
	apiserver, etcd int
}

func findControlPlane(c *cluster) (controlPlane, error) {
	u, err := url.Parse(c.AdminConfig.Host)
	if err != nil {
		return controlPlane{}, err
	}
	var cp controlPlane
	var apiArgs []string
	apiArgs, cp.apiserver, err = findProcess("kube-apiserver", "--secure-port="+u.Port())
	if err != nil {
		return cp, err
	}
	etcdURL := ""
	for _, a := range apiArgs {
		if v, ok := strings.CutPrefix(a, "--etcd-servers="); ok {
			etcdURL = strings.Split(v, ",")[0]
		}
	}
	if etcdURL == "" {
		return cp, fmt.Errorf("kube-apiserver (pid %d) has no --etcd-servers flag", cp.apiserver)
	}
	if _, cp.etcd, err = findProcess("etcd", etcdURL); err != nil {
		return cp, err
	}
	return cp, nil
}

// findProcess returns the arguments and pid of the process whose executable
// is named name and one of whose arguments contains marker.
func findProcess(name, marker string) ([]string, int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if filepath.Base(args[0]) != name {
			continue
		}
		for _, a := range args[1:] {
			if strings.Contains(a, marker) {
				return args, pid, nil
			}
		}
	}
	return nil, 0, fmt.Errorf("no %s process with an argument containing %q", name, marker)
}

// cpuTime is the user and system CPU time a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it do not.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat has %d fields after the command name", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// cpuMeter measures the CPU the control plane uses over a window.
type cpuMeter struct {
	cp          controlPlane
	api0, etcd0 time.Duration
}

// controlPlaneCPU is what one window cost the API server and etcd.
type controlPlaneCPU struct{ APIServer, Etcd time.Duration }

func (c controlPlaneCPU) total() time.Duration { return c.APIServer + c.Etcd }

func (cp controlPlane) start() (*cpuMeter, error) {
	m := &cpuMeter{cp: cp}
	var err error
	if m.api0, err = cpuTime(cp.apiserver); err != nil {
		return nil, err
	}
	if m.etcd0, err = cpuTime(cp.etcd); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *cpuMeter) stop() (controlPlaneCPU, error) {
	api, err := cpuTime(m.cp.apiserver)
	if err != nil {
		return controlPlaneCPU{}, err
	}
	etcd, err := cpuTime(m.cp.etcd)
	if err != nil {
		return controlPlaneCPU{}, err
	}
	return controlPlaneCPU{APIServer: api - m.api0, Etcd: etcd - m.etcd0}, nil
}
