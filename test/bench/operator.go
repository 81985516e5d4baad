package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tenantai/tenantai/internal/testenv"
)

// operator is the tenantai manager binary running as its own process, as it
// is deployed: authenticated as its service account (not system:masters, so
// API Priority and Fairness applies), with metrics and pprof on loopback so
// the benchmark can read its counters and its heap.
type operator struct {
	cmd     *exec.Cmd
	metrics string
	pprof   string
	exited  chan error
	logPath string
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func startOperator(c *cluster, bin launcher) (*operator, error) {
	kubeconfig := filepath.Join(c.dir, "operator.kubeconfig")
	if err := testenv.WriteKubeconfig(kubeconfig, c.OperatorConfig); err != nil {
		return nil, err
	}
	var addrs [3]string
	for i := range addrs {
		a, err := freePort()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	o := &operator{metrics: addrs[0], pprof: addrs[1], exited: make(chan error, 1),
		logPath: filepath.Join(c.dir, fmt.Sprintf("operator-%d.log", time.Now().UnixNano()))}
	args := append([]string{
		"--leader-elect=false",
		"--metrics-bind-address=" + o.metrics, "--metrics-insecure",
		"--pprof-bind-address=" + o.pprof,
		"--health-probe-bind-address=" + addrs[2],
		"--zap-log-level=error",
	}, bin.flags...)
	log, err := os.Create(o.logPath)
	if err != nil {
		return nil, err
	}
	o.cmd = exec.Command(bin.path, args...)
	o.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	o.cmd.Stdout, o.cmd.Stderr = log, log
	// The operator dies with the benchmark, however the benchmark ends.
	o.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := o.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin.path, err)
	}
	go func() { o.exited <- o.cmd.Wait(); _ = log.Close() }()
	if err := o.waitReady("http://"+addrs[2]+"/readyz", time.Minute); err != nil {
		o.stop()
		return nil, err
	}
	return o, nil
}

func (o *operator) waitReady(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case err := <-o.exited:
			return fmt.Errorf("the operator exited: %v (log: %s)", err, o.tail())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the operator was not ready within %s (log: %s)", d, o.tail())
}

func (o *operator) tail() string {
	b, _ := os.ReadFile(o.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func (o *operator) stop() {
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-o.exited:
	case <-time.After(30 * time.Second):
		_ = o.cmd.Process.Kill()
		err = <-o.exited
	}
	if err != nil {
		logf("the operator exited: %v", err)
	}
}

// scrape returns the operator's metrics as "name{labels}" → value.
func (o *operator) scrape() (map[string]float64, error) {
	resp, err := http.Get("http://" + o.metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sum adds every series of a metric whose labels contain all of the given
// `name="value"` pairs.
func sum(m map[string]float64, metric string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		if k != metric && !strings.HasPrefix(k, metric+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(k, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// mutatingRequests is what the operator's own client counted: every request
// that is not a read, by rest_client_requests_total's method label.
func mutatingRequests(m map[string]float64) float64 {
	var n float64
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		n += sum(m, "rest_client_requests_total", `method="`+method+`"`)
	}
	return n
}

// memory is the operator's live heap after a forced GC (pprof's gc=1 runs
// one before it reports runtime.MemStats) and its resident set size.
type memory struct{ Heap, RSS uint64 }

func (o *operator) memory() (memory, error) {
	var m memory
	resp, err := http.Get("http://" + o.pprof + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return m, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return m, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			m.Heap, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	if m.RSS, err = residentMemory(o.cmd.Process.Pid); err != nil {
		return m, err
	}
	if m.Heap == 0 {
		return m, fmt.Errorf("no HeapAlloc in the pprof heap profile")
	}
	return m, nil
}

// saveHeapProfile writes the operator's heap profile (after a GC) to path.
func (o *operator) saveHeapProfile(path string) error {
	resp, err := http.Get("http://" + o.pprof + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// waitIdle waits until every controller has reconciled at least the given
// number of times and all work queues are empty, twice in a row 500 ms apart.
func (o *operator) waitIdle(ctx context.Context, minReconciles map[string]float64) (map[string]float64, error) {
	quietPolls := 0
	for {
		m, err := o.scrape()
		if err != nil {
			return nil, err
		}
		done := sum(m, "workqueue_depth") == 0 && sum(m, "controller_runtime_active_workers") == 0
		for ctrl, n := range minReconciles {
			if sum(m, "controller_runtime_reconcile_total", `controller="`+ctrl+`"`) < n {
				done = false
			}
		}
		if done {
			quietPolls++
			if quietPolls == 2 {
				return m, nil
			}
		} else {
			quietPolls = 0
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the operator did not become idle: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
