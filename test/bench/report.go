package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// percentile is the nearest-rank percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// spread is min / median / max of one figure over the repetitions.
type spread struct{ min, med, max float64 }

func spreadOf(xs []float64) spread {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{s[0], med, s[len(s)-1]}
}

func (s spread) format(f string) string {
	return fmt.Sprintf(f+" / "+f+" / "+f, s.min, s.med, s.max)
}

type report struct {
	opts    options
	reps    []repetition
	memory  *memoryResult
	started time.Time
	took    time.Duration
	args    []string
}

type row struct{ id, figure, value, target, verdict string }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func (r report) per(fn func(repetition) float64) spread {
	xs := make([]float64, 0, len(r.reps))
	for _, rep := range r.reps {
		xs = append(xs, fn(rep))
	}
	return spreadOf(xs)
}

func (r report) rows() []row {
	if len(r.reps) == 0 {
		return r.memoryRows()
	}
	n := float64(r.opts.tenants)
	best := func(rep repetition) float64 { d, _ := rep.bestBaseline(); return d.Seconds() }
	ratio := r.per(func(rep repetition) float64 { return rep.Provision.Duration.Seconds() / best(rep) })
	b2 := r.per(func(rep repetition) float64 { return float64(rep.Steady.Writes.Total) })
	b2client := r.per(func(rep repetition) float64 { return rep.Steady.ClientWrites })
	conflicts := r.per(func(rep repetition) float64 { return float64(rep.Provision.Writes.Conflicts) })
	perTenant := func(c controlPlaneCPU) float64 { return float64(c.total().Milliseconds()) / n }
	p99drift := r.per(func(rep repetition) float64 { return percentile(rep.Drift, 99).Seconds() * 1000 })
	p99load := r.per(func(rep repetition) float64 { return percentile(rep.Provision.DriftUnderLoad, 99).Seconds() * 1000 })
	rows := []row{}
	for _, c := range r.opts.concurrency {
		rows = append(rows, row{"B0", fmt.Sprintf("raw client, %d in flight (s)", c),
			r.per(func(rep repetition) float64 { return rep.Baseline[c].Seconds() }).format("%.1f"), "", ""})
	}
	rows = append(rows,
		row{"B0", "baseline: best of the concurrencies (s)", r.per(best).format("%.1f"), "", ""},
		row{"B1", fmt.Sprintf("%d tenants to Ready (s)", r.opts.tenants), r.per(func(rep repetition) float64 { return rep.Provision.Duration.Seconds() }).format("%.1f"), "", ""},
		row{"B1", "B1 / B0", ratio.format("%.2f"), "≤ 1.25", verdict(ratio.med <= 1.25)},
		row{"B0", "API server + etcd CPU per tenant, best concurrency (ms)", r.per(func(rep repetition) float64 { return perTenant(rep.bestBaselineCPU()) }).format("%.1f"), "", ""},
		row{"B1", "API server + etcd CPU per tenant (ms)", r.per(func(rep repetition) float64 { return perTenant(rep.Provision.CPU) }).format("%.1f"), "", ""},
		row{"B1", "B1 / B0 API server + etcd CPU", r.per(func(rep repetition) float64 {
			return rep.Provision.CPU.total().Seconds() / rep.bestBaselineCPU().total().Seconds()
		}).format("%.2f"), "", ""},
		row{"B1", fmt.Sprintf("writes per tenant (ideal %d)", r.reps[0].IdealWrites), r.per(func(rep repetition) float64 { return float64(rep.Provision.Writes.Total) / n }).format("%.2f"), "", ""},
		row{"B1", "reads per tenant (operator's client)", r.per(func(rep repetition) float64 { return rep.Provision.ClientReads / n }).format("%.2f"), "", ""},
		row{"B1", "conflicts (409)", conflicts.format("%.0f"), "0", verdict(conflicts.max == 0)},
		row{"B1", "reconciles per tenant: Tenant", r.per(func(rep repetition) float64 { return rep.Provision.TenantReconciles }).format("%.2f"), "", ""},
		row{"B1", "reconciles per tenant: TenantQuota", r.per(func(rep repetition) float64 { return rep.Provision.QuotaReconciles }).format("%.2f"), "", ""},
		row{"B2", "writes over a restart + idle (audit log)", b2.format("%.0f"), "0", verdict(b2.max == 0)},
		row{"B2", "writes over a restart + idle (operator's client)", b2client.format("%.0f"), "0", verdict(b2client.max == 0)},
		row{"B4", "guardrail restored, p50 (ms)", r.per(func(rep repetition) float64 { return percentile(rep.Drift, 50).Seconds() * 1000 }).format("%.0f"), "", ""},
		row{"B4", "guardrail restored, p99 (ms)", p99drift.format("%.0f"), "< 1000", verdict(p99drift.max < 1000)},
		row{"B4", "during B1: trials", r.per(func(rep repetition) float64 { return float64(len(rep.Provision.DriftUnderLoad)) }).format("%.0f"), "", ""},
		row{"B4", "during B1: guardrail restored, p50 (ms)", r.per(func(rep repetition) float64 { return percentile(rep.Provision.DriftUnderLoad, 50).Seconds() * 1000 }).format("%.0f"), "", ""},
		row{"B4", "during B1: guardrail restored, p99 (ms)", p99load.format("%.0f"), "< 1000", verdict(p99load.max < 1000)},
		row{"B5", "rebalance, quota written, p50 / p99 (ms, medians)", fmt.Sprintf("%.0f / %.0f",
			r.per(func(rep repetition) float64 { return percentile(rep.Rebalance.Spec, 50).Seconds() * 1000 }).med,
			r.per(func(rep repetition) float64 { return percentile(rep.Rebalance.Spec, 99).Seconds() * 1000 }).med), "", ""},
		row{"B5", "rebalance, quota enforced, p50 (ms)", r.per(func(rep repetition) float64 { return percentile(rep.Rebalance.Enforced, 50).Seconds() * 1000 }).format("%.0f"), "", ""},
		row{"B5", "rebalance, quota enforced, p99 (ms)", r.per(func(rep repetition) float64 { return percentile(rep.Rebalance.Enforced, 99).Seconds() * 1000 }).format("%.0f"), "", ""},
	)
	return append(rows, r.memoryRows()...)
}

func (r report) memoryRows() []row {
	var rows []row
	if m := r.memory; m != nil {
		for _, s := range m.Samples {
			label := fmt.Sprintf("heap / RSS at %d tenants (MiB)", s.Tenants)
			if s.Unrelated > 0 {
				label = fmt.Sprintf("heap / RSS at %d tenants + %d unrelated objects (MiB)", s.Tenants, s.Unrelated)
			}
			rows = append(rows, row{"B3", label, fmt.Sprintf("%.1f / %.1f", mib(float64(s.Heap)), mib(float64(s.RSS))), "", ""})
		}
		rows = append(rows,
			row{"B3", "heap per tenant, slope (KiB)", fmt.Sprintf("%.1f", m.HeapPerTenant/1024), "≤ 16", verdict(m.HeapPerTenant/1024 <= 16)},
			row{"B3", "RSS per tenant, slope (KiB)", fmt.Sprintf("%.1f", m.RSSPerTenant/1024), "", ""},
			row{"B3", "heap growth from unrelated objects (MiB)", fmt.Sprintf("%.2f", mib(m.UnrelatedHeap)), "≈ 0", verdict(math.Abs(m.UnrelatedHeap) < 2<<20)},
		)
	}
	return rows
}

func mib(b float64) float64 { return b / (1 << 20) }

// table is the plain-text table printed at the end of a run.
func (r report) table() string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\t\tmin / median / max over %d runs\ttarget\t\n", len(r.reps))
	for _, row := range r.rows() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.id, row.figure, row.value, row.target, row.verdict)
	}
	_ = tw.Flush()
	return b.String()
}

func command(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb float64
				_, _ = fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
				mem = fmt.Sprintf(", %.0f GiB RAM", kb/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s)%s, %s/%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH)
}

// write renders docs/benchmarks.md: the run's context, the table, the raw
// figures of every repetition, then the hand-written notes.
func (r report) write(path string) error {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Benchmarks\n\n")
	p("Generated by `make bench` (`go run ./test/bench %s`); every figure below comes from that run, and the baseline was measured in the same run, on the same API server build. Do not edit by hand: rerun it.\n\n", strings.Join(r.args, " "))
	p("| | |\n|---|---|\n")
	p("| date | %s |\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("| machine | %s |\n", machine())
	p("| Go | %s |\n", runtime.Version())
	p("| API server | %s (envtest: kube-apiserver + etcd built from modules, kube-controller-manager with quota, namespace, garbage-collector and service-account controllers) |\n", command("bin/k8s/v1.37.2/kube-apiserver", "--version"))
	p("| tenantai | %s |\n", command("git", "describe", "--always", "--dirty"))
	p("| run time | %s |\n", r.took.Round(time.Second))
	p("| sizes | %d tenants (2 namespaces and a TenantQuota each), %d repetitions, B4 %d trials, B5 %d trials per repetition |\n\n",
		r.opts.tenants, len(r.reps), r.opts.driftTrials, r.opts.rebalanceTrial)
	p("The operator runs as its own process (`bin/manager`) authenticated as its service account, so API Priority and Fairness treats it as in production. Each repetition uses a fresh API server; kube-controller-manager runs with `%s`.", strings.Join(controllerManagerFlags, " "))
	if len(r.reps) > 0 {
		p(" One tenant's children: %s.", r.reps[0].Template)
	}
	p("\n\n")
	p("| | figure | min / median / max over %d runs | target | |\n|---|---|---|---|---|\n", len(r.reps))
	for _, row := range r.rows() {
		p("| %s | %s | %s | %s | %s |\n", row.id, row.figure, row.value, row.target, row.verdict)
	}
	p("\n## Raw figures per repetition\n\n")
	for i, rep := range r.reps {
		best, conc := rep.bestBaseline()
		p("- run %d: B0 best %s at %d in flight (API server %s CPU, etcd %s); B1 %s (API server %s CPU, etcd %s), %d writes (%s), %d conflicts, %d failed, reads (%s); B2 %d writes (%s), reads (%s), reconciles %v; B4 during B1 p50 %s p99 %s (%d trials); B4 p50 %s p99 %s max %s; B5 written p50 %s p99 %s, enforced p50 %s p99 %s\n",
			i+1, best.Round(time.Millisecond), conc, rep.BaselineCPU[conc].APIServer.Round(10*time.Millisecond), rep.BaselineCPU[conc].Etcd.Round(10*time.Millisecond),
			rep.Provision.Duration.Round(time.Millisecond), rep.Provision.CPU.APIServer.Round(10*time.Millisecond), rep.Provision.CPU.Etcd.Round(10*time.Millisecond),
			rep.Provision.Writes.Total,
			rep.Provision.Writes, rep.Provision.Writes.Conflicts, rep.Provision.Writes.Failed, rep.Provision.Writes.ReadsString(),
			rep.Steady.Writes.Total, rep.Steady.Writes, rep.Steady.Writes.ReadsString(), rep.Steady.Reconciles,
			percentile(rep.Provision.DriftUnderLoad, 50).Round(time.Millisecond), percentile(rep.Provision.DriftUnderLoad, 99).Round(time.Millisecond), len(rep.Provision.DriftUnderLoad),
			percentile(rep.Drift, 50).Round(time.Millisecond), percentile(rep.Drift, 99).Round(time.Millisecond),
			percentile(rep.Drift, 100).Round(time.Millisecond),
			percentile(rep.Rebalance.Spec, 50).Round(time.Millisecond), percentile(rep.Rebalance.Spec, 99).Round(time.Millisecond),
			percentile(rep.Rebalance.Enforced, 50).Round(time.Millisecond), percentile(rep.Rebalance.Enforced, 99).Round(time.Millisecond))
	}
	if notes, err := os.ReadFile(r.opts.notes); err == nil {
		p("\n%s", notes)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
