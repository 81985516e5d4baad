// Command bench measures tenantai against the limit of the API server it
// runs on, in the same run: provisioning time against a raw client creating
// the identical objects (B0, B1), writes over a full resync (B2), memory per
// tenant (B3), drift repair (B4) and quota rebalancing (B5). It prints a
// table and writes docs/benchmarks.md. See `make bench`.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

type options struct {
	tenants        int
	reps           int
	concurrency    []int
	driftTrials    int
	rebalanceTrial int
	memorySizes    []int
	scaleSizes     []int
	unrelated      int
	idle           time.Duration
	manager        string
	out            string
	notes          string
	seed           uint64
	operatorFlags  []string
	keepLogs       bool
	heapProfile    string
}

// repetition is one fresh API server with B0, B1, B2, B4 and B5 on it.
type repetition struct {
	Baseline    map[int]time.Duration // by concurrency
	BaselineCPU map[int]controlPlaneCPU
	Provision   provisionResult
	Steady      steadyResult
	Drift       []time.Duration
	Rebalance   rebalanceResult
	IdealWrites int
	Template    string
}

// launcher is how to start the operator.
type launcher struct {
	path  string
	flags []string
}

func (o options) launcher() launcher { return launcher{path: o.manager, flags: o.operatorFlags} }

func (r repetition) bestBaseline() (time.Duration, int) {
	var best time.Duration
	conc := 0
	for c, d := range r.Baseline {
		if best == 0 || d < best {
			best, conc = d, c
		}
	}
	return best, conc
}

// bestBaselineCPU is the control plane's CPU during the fastest baseline.
func (r repetition) bestBaselineCPU() controlPlaneCPU {
	_, conc := r.bestBaseline()
	return r.BaselineCPU[conc]
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a list of positive integers", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	var o options
	var conc, sizes, scale string
	flag.IntVar(&o.tenants, "tenants", 500, "Tenants provisioned in B0, B1, B2, B4 and B5.")
	flag.IntVar(&o.reps, "reps", 3, "Repetitions of B0, B1, B2, B4 and B5, each on a fresh API server.")
	flag.StringVar(&conc, "baseline-concurrency", "1,4,16,64", "Concurrencies of the raw-client baseline; the best counts.")
	flag.IntVar(&o.driftTrials, "drift-trials", 100, "Guardrail deletions per repetition (B4).")
	flag.IntVar(&o.rebalanceTrial, "rebalance-trials", 40, "Namespaces filled per repetition (B5).")
	flag.StringVar(&sizes, "memory-tenants", "100,500,1000", "Tenant counts at which B3 samples memory; empty skips B3.")
	flag.IntVar(&o.unrelated, "unrelated", 10000, "Unrelated objects added at the end of B3.")
	flag.StringVar(&scale, "scale-tenants", "", "Run only B6: grow one cluster to these tenant counts (e.g. 1000,2500,5000), restart the operator at the largest, and write the report to -out.")
	flag.DurationVar(&o.idle, "idle", 20*time.Second, "Idle window after the restart in B2.")
	flag.StringVar(&o.manager, "manager", "bin/manager", "The operator binary (make bench builds it).")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "Where to write the report; empty prints only.")
	flag.StringVar(&o.notes, "notes", "test/bench/notes.md", "Hand-written analysis appended to the report.")
	flag.Uint64Var(&o.seed, "seed", 1, "Seed for the random choices of B4 and B5.")
	flag.BoolVar(&o.keepLogs, "keep-logs", false, "Keep each API server's audit log and the operator's logs (their directory is printed).")
	flag.StringVar(&o.heapProfile, "heap-profile", "", "Write the operator's heap profile at the largest B3 size to this file.")
	opFlags := flag.String("operator-flags", "", "Extra flags for the operator, space-separated (e.g. --max-concurrent-reconciles=8).")
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	o.operatorFlags = strings.Fields(*opFlags)
	var err error
	if o.concurrency, err = ints(conc); err != nil {
		fail(err)
	}
	if sizes != "" {
		if o.memorySizes, err = ints(sizes); err != nil {
			fail(err)
		}
	}
	stopOnInterrupt()
	started := time.Now()
	ctx := context.Background()
	if scale != "" {
		if o.scaleSizes, err = ints(scale); err != nil {
			fail(err)
		}
		res, err := scaleRun(ctx, o)
		if err != nil {
			fail(fmt.Errorf("B6: %w", err))
		}
		out := res.markdown(os.Args[1:])
		fmt.Println(out)
		if o.out != "" {
			if err := os.WriteFile(o.out, []byte(out), 0o644); err != nil {
				fail(err)
			}
			logf("wrote %s", o.out)
		}
		return
	}
	var reps []repetition
	for r := 1; r <= o.reps; r++ {
		rep, err := runRepetition(ctx, o, r)
		if err != nil {
			fail(fmt.Errorf("repetition %d: %w", r, err))
		}
		reps = append(reps, rep)
	}
	var mem *memoryResult
	if len(o.memorySizes) > 0 {
		m, err := runMemory(ctx, o)
		if err != nil {
			fail(fmt.Errorf("B3: %w", err))
		}
		mem = &m
	}
	rep := report{opts: o, reps: reps, memory: mem, started: started, took: time.Since(started), args: os.Args[1:]}
	fmt.Println(rep.table())
	if o.out != "" {
		if err := rep.write(o.out); err != nil {
			fail(err)
		}
		logf("wrote %s", o.out)
	}
}

func fail(err error) {
	logf("bench: %v", err)
	os.Exit(1)
}

func runRepetition(ctx context.Context, o options, r int) (repetition, error) {
	rep := repetition{Baseline: map[int]time.Duration{}, BaselineCPU: map[int]controlPlaneCPU{}}
	rng := rand.New(rand.NewPCG(o.seed, uint64(r)))
	logf("repetition %d: starting a fresh API server", r)
	c, err := startCluster(o.keepLogs)
	if err != nil {
		return rep, err
	}
	defer c.stop()
	tpl, ideal, err := warmUp(ctx, c, o.launcher())
	if err != nil {
		return rep, fmt.Errorf("warm-up: %w", err)
	}
	rep.IdealWrites, rep.Template = ideal, tpl.String()
	// Highest concurrency first: if anything, the later (slower) runs meet
	// a fuller etcd, which flatters nobody.
	for i := len(o.concurrency) - 1; i >= 0; i-- {
		n := o.concurrency[i]
		d, cpu, err := baseline(ctx, c, tpl, o.tenants, n, fmt.Sprintf("b0c%d", n))
		if err != nil {
			return rep, fmt.Errorf("B0: %w", err)
		}
		rep.Baseline[n], rep.BaselineCPU[n] = d, cpu
		logf("B0: %d tenants' objects (%d each) with %d in flight: %s (API server %s CPU, etcd %s)", o.tenants, len(tpl.objects), n, d.Round(time.Millisecond),
			cpu.APIServer.Round(10*time.Millisecond), cpu.Etcd.Round(10*time.Millisecond))
	}
	op, err := startOperator(c, o.launcher())
	if err != nil {
		return rep, err
	}
	defer func() { op.stop() }()
	if rep.Provision, err = provision(ctx, c, op, o.tenants, "t", rand.New(rand.NewPCG(o.seed, uint64(r)+1000))); err != nil {
		return rep, fmt.Errorf("B1: %w", err)
	}
	best, _ := rep.bestBaseline()
	logf("B1: %d tenants Ready in %s (Tenants %s, TenantQuotas %s; B0 best %s, ratio %.2f); %d writes, %d conflicts; API server %s CPU, etcd %s",
		o.tenants, rep.Provision.Duration.Round(time.Millisecond), rep.Provision.TenantsReady.Round(time.Millisecond), rep.Provision.QuotasReady.Round(time.Millisecond), best.Round(time.Millisecond),
		rep.Provision.Duration.Seconds()/best.Seconds(), rep.Provision.Writes.Total, rep.Provision.Writes.Conflicts,
		rep.Provision.CPU.APIServer.Round(10*time.Millisecond), rep.Provision.CPU.Etcd.Round(10*time.Millisecond))
	logf("B4 during B1: %d trials, p50 %s p99 %s", len(rep.Provision.DriftUnderLoad), percentile(rep.Provision.DriftUnderLoad, 50), percentile(rep.Provision.DriftUnderLoad, 99))
	if op, rep.Steady, err = steadyState(ctx, c, op, o.launcher(), o.tenants+1, o.idle); err != nil {
		return rep, fmt.Errorf("B2: %w", err)
	}
	logf("B2: %d writes after a restart and %s idle (client: %.0f): %s", rep.Steady.Writes.Total, o.idle, rep.Steady.ClientWrites, rep.Steady.Writes)
	if rep.Drift, err = drift(ctx, c, o.tenants, "t", o.driftTrials, rng); err != nil {
		return rep, fmt.Errorf("B4: %w", err)
	}
	logf("B4: p50 %s p99 %s", percentile(rep.Drift, 50), percentile(rep.Drift, 99))
	if rep.Rebalance, err = rebalance(ctx, c, o.tenants, "t", o.rebalanceTrial, rng); err != nil {
		return rep, fmt.Errorf("B5: %w", err)
	}
	logf("B5: enforced p50 %s p99 %s", percentile(rep.Rebalance.Enforced, 50), percentile(rep.Rebalance.Enforced, 99))
	return rep, nil
}

func runMemory(ctx context.Context, o options) (memoryResult, error) {
	logf("B3: starting a fresh API server")
	c, err := startCluster(o.keepLogs)
	if err != nil {
		return memoryResult{}, err
	}
	defer c.stop()
	return memoryRun(ctx, c, o.launcher(), o.memorySizes, o.unrelated, o.heapProfile)
}
