package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// scaleStep is one B6 sample: the cluster grown to Tenants tenants.
type scaleStep struct {
	Tenants int
	// Took runs from the step's first create until every tenant and quota
	// of the step is Ready.
	Took   time.Duration
	Writes writes
	CPU    controlPlaneCPU
	// Operator is the operator's heap (after a forced GC) and RSS, idle.
	Operator memory
	// APIServerRSS is kube-apiserver's resident memory, idle.
	APIServerRSS uint64
}

// scaleResult is B6.
type scaleResult struct {
	Steps                       []scaleStep
	HeapPerTenant, RSSPerTenant float64
	// Restart is B2 at the largest size; RestartTook runs from the new
	// process's start until every tenant and quota was reconciled and the
	// queues were empty.
	Restart     steadyResult
	RestartTook time.Duration
	Took        time.Duration
}

const scalePrefix = "s"

// scaleRun (B6) grows one cluster to each size in turn, tenants with two
// namespaces and a TenantQuota each (about 23 objects per tenant), and
// measures each step; then restarts the operator at the largest size.
func scaleRun(ctx context.Context, o options) (scaleResult, error) {
	var res scaleResult
	started := time.Now()
	logf("B6: starting a fresh API server")
	c, err := startCluster(o.keepLogs)
	if err != nil {
		return res, err
	}
	defer c.stop()
	op, err := startOperator(c, o.launcher())
	if err != nil {
		return res, err
	}
	defer func() { op.stop() }()
	w, err := newWatcher(c.AdminConfig, cache.Options{})
	if err != nil {
		return res, err
	}
	defer w.stop()
	tenants, err := w.countReady(ctx, &platformv1alpha1.Tenant{}, scalePrefix+"-")
	if err != nil {
		return res, err
	}
	quotas, err := w.countReady(ctx, &platformv1alpha1.TenantQuota{}, scalePrefix+"-")
	if err != nil {
		return res, err
	}
	have := 0
	for _, size := range o.scaleSizes {
		step, err := scaleStepTo(ctx, c, op, tenants, quotas, have, size)
		if err != nil {
			return res, err
		}
		logf("B6: %d tenants in %s (%.2f writes per tenant); operator heap %.1f MiB, RSS %.1f MiB; kube-apiserver RSS %.0f MiB",
			size, step.Took.Round(time.Second), float64(step.Writes.Total)/float64(size-have), mib(float64(step.Operator.Heap)), mib(float64(step.Operator.RSS)), mib(float64(step.APIServerRSS)))
		res.Steps = append(res.Steps, step)
		have = size
	}
	var xs, heaps, rsss []float64
	for _, s := range res.Steps {
		xs, heaps, rsss = append(xs, float64(s.Tenants)), append(heaps, float64(s.Operator.Heap)), append(rsss, float64(s.Operator.RSS))
	}
	res.HeapPerTenant, res.RSSPerTenant = slope(xs, heaps), slope(xs, rsss)
	logf("B6: restarting the operator at %d tenants", have)
	restart := time.Now()
	op, res.Restart, err = steadyState(ctx, c, op, o.launcher(), have, 0)
	if err != nil {
		return res, fmt.Errorf("restart at %d tenants: %w", have, err)
	}
	res.RestartTook = time.Since(restart)
	logf("B6: the restarted operator reconciled everything in %s with %d writes (%s)", res.RestartTook.Round(time.Second), res.Restart.Writes.Total, res.Restart.Writes)
	res.Took = time.Since(started)
	return res, nil
}

func scaleStepTo(ctx context.Context, c *cluster, op *operator, tenants, quotas *readyCounter, from, to int) (scaleStep, error) {
	step := scaleStep{Tenants: to}
	logf("B6: growing to %d tenants", to)
	tenantsDone, quotasDone := tenants.await(to), quotas.await(to)
	mark, err := c.audit.mark()
	if err != nil {
		return step, err
	}
	meter, err := c.processes.start()
	if err != nil {
		return step, err
	}
	start := time.Now()
	if err := createTenants(ctx, c.Admin, scalePrefix, from, to); err != nil {
		return step, err
	}
	patience := 15*time.Minute + time.Duration(to-from)*500*time.Millisecond
	if err := waitFor(tenantsDone, patience, "%d tenants Ready", to); err != nil {
		return step, err
	}
	if err := waitFor(quotasDone, patience, "%d tenant quotas Ready", to); err != nil {
		return step, err
	}
	step.Took = time.Since(start)
	if step.CPU, err = meter.stop(); err != nil {
		return step, err
	}
	if step.Operator, err = sampleWhenIdle(ctx, op); err != nil {
		return step, err
	}
	if step.Writes, err = c.audit.since(ctx, mark); err != nil {
		return step, err
	}
	if step.APIServerRSS, err = residentMemory(c.processes.apiserver); err != nil {
		return step, err
	}
	return step, nil
}

// residentMemory is a process's VmRSS in bytes.
func residentMemory(pid int) (uint64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status VmRSS: %w", pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// markdown renders B6 as a report.
func (r scaleResult) markdown(args []string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# B6: tenantai at the scale limit\n\n")
	p("Generated by `make bench-scale` (`go run ./test/bench %s`) on %s; the whole run took %s.\n",
		strings.Join(args, " "), time.Now().UTC().Format("2006-01-02"), r.Took.Round(time.Minute))
	p("One fresh API server (envtest: kube-apiserver and etcd, kube-controller-manager with the quota controller), the operator as its own process; ")
	p("each tenant has two namespaces and a TenantQuota. Writes come from the API server's audit log (leases and Events excluded).\n\n")
	p("| tenants | namespaces | step took | writes per tenant | API server + etcd CPU per tenant (ms) | operator heap (MiB) | operator RSS (MiB) | kube-apiserver RSS (MiB) |\n")
	p("|---|---|---|---|---|---|---|---|\n")
	from := 0
	for _, s := range r.Steps {
		n := float64(s.Tenants - from)
		p("| %d | %d | %s | %.2f | %.1f | %.1f | %.1f | %.0f |\n", s.Tenants, 2*s.Tenants, s.Took.Round(time.Second), float64(s.Writes.Total)/n,
			float64(s.CPU.total().Milliseconds())/n, mib(float64(s.Operator.Heap)), mib(float64(s.Operator.RSS)), mib(float64(s.APIServerRSS)))
		from = s.Tenants
	}
	last := r.Steps[len(r.Steps)-1].Tenants
	p("\nOperator heap per tenant (least-squares slope over the steps): **%.1f KiB**; RSS per tenant: %.1f KiB.\n\n", r.HeapPerTenant/1024, r.RSSPerTenant/1024)
	p("Restart at %d tenants (B2 at scale): every Tenant and TenantQuota reconciled and the queues empty **%s** after the new process started, with **%d writes** (audit log; %s) and reads: %s.\n\n",
		last, r.RestartTook.Round(time.Second), r.Restart.Writes.Total, r.Restart.Writes, orNone(r.Restart.Writes.ReadsString()))
	p("Writes and reads per step (audit log):\n\n")
	for _, s := range r.Steps {
		p("- %d tenants: writes %s; reads %s\n", s.Tenants, s.Writes, orNone(s.Writes.ReadsString()))
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
