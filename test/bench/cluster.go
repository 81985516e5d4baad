package main

import (
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/tenantai/tenantai/internal/testenv"
)

// controllerManagerFlags tune kube-controller-manager as for a large
// cluster. Its default client limit (20 requests/s per controller) caps the
// quota controller at 20 ResourceQuota status updates a second, and a
// TenantQuota is Ready only once its quotas are enforced: with the default,
// B1 measures kube-controller-manager, not tenantai (docs/benchmarks.md).
var controllerManagerFlags = []string{"--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-resource-quota-syncs=8"}

// cluster is one fresh envtest API server (with etcd and kube-controller-
// manager, so quota status and service accounts behave as in a cluster) that
// writes an audit log of the operator's writes.
type cluster struct {
	*testenv.Env
	dir   string
	keep  bool
	audit *auditLog
	// processes are kube-apiserver's and etcd's, for their CPU time.
	processes controlPlane
}

// clusters are the running API servers, stopped on an interrupt too.
var clusters sync.Map

// stopOnInterrupt stops every running API server (etcd and kube-apiserver
// would outlive the benchmark otherwise) when the benchmark is interrupted.
func stopOnInterrupt() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		logf("interrupted: stopping the API servers")
		clusters.Range(func(k, _ any) bool { k.(*cluster).stop(); return true })
		os.Exit(130)
	}()
}

func startCluster(keep bool) (*cluster, error) {
	dir, err := os.MkdirTemp("", "tenantai-bench-")
	if err != nil {
		return nil, err
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "audit.log")
	flags := map[string]string{
		"audit-policy-file": policy,
		"audit-log-path":    logPath,
		"audit-log-format":  "json",
		// envtest's default /24 runs out after 256 Services; B3 has one
		// per ModelDeployment.
		"service-cluster-ip-range": "10.0.0.0/16",
	}
	maps.Copy(flags, auditLogFlags)
	env, err := testenv.Start(testenv.Options{
		ControllerManager:      true,
		ControllerManagerFlags: controllerManagerFlags,
		APIServerFlags:         flags,
	})
	if err != nil {
		return nil, err
	}
	op, err := operatorClient(&cluster{Env: env})
	if err != nil {
		return nil, err
	}
	if keep {
		// For looking inside while it runs: kubectl, the API server's pprof.
		if err := testenv.WriteKubeconfig(filepath.Join(dir, "admin.kubeconfig"), env.AdminConfig); err != nil {
			return nil, err
		}
		logf("API server logs and an admin kubeconfig in %s", dir)
	}
	c := &cluster{Env: env, dir: dir, keep: keep, audit: &auditLog{path: logPath, canary: newCanary(op)}}
	clusters.Store(c, true)
	if c.processes, err = findControlPlane(c); err != nil {
		c.stop()
		return nil, fmt.Errorf("finding the API server's processes: %w", err)
	}
	return c, nil
}

func (c *cluster) stop() {
	if _, running := clusters.LoadAndDelete(c); !running {
		return
	}
	if err := c.Stop(); err != nil {
		logf("stopping the API server: %v", err)
	}
	if c.keep {
		logf("kept the audit log and operator logs in %s", c.dir)
		return
	}
	_ = os.RemoveAll(c.dir)
}
