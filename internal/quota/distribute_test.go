package quota

import (
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const gpu corev1.ResourceName = "requests.nvidia.com/gpu"

func list(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// render turns a split into "ns=resource:value ..." strings for comparison.
func render(out map[string]corev1.ResourceList, names []string, r corev1.ResourceName) string {
	s := ""
	for _, n := range names {
		q := out[n][r]
		s += fmt.Sprintf("%s=%s ", n, q.String())
	}
	return s
}

func TestDynamic(t *testing.T) {
	cases := map[string]struct {
		hard corev1.ResourceList
		ns   []Namespace
		res  corev1.ResourceName
		want string
	}{
		"new tenant, even split in whole GPUs": {
			hard: list(string(gpu), "8"),
			ns:   []Namespace{{Name: "a"}, {Name: "b"}, {Name: "c"}},
			res:  gpu, want: "a=3 b=3 c=2 ",
		},
		"cpu splits in millicores": {
			hard: list("requests.cpu", "1"),
			ns:   []Namespace{{Name: "a"}, {Name: "b"}, {Name: "c"}},
			res:  "requests.cpu", want: "a=334m b=333m c=333m ",
		},
		"memory with mixed units": {
			hard: list("requests.memory", "1Gi"),
			ns:   []Namespace{{Name: "a", Used: list("requests.memory", "512Mi")}, {Name: "b"}},
			res:  "requests.memory", want: "a=768Mi b=256Mi ",
		},
		"demand pulls headroom: a pod larger than an even share fits": {
			hard: list(string(gpu), "8"),
			ns: []Namespace{
				{Name: "a", Current: list(string(gpu), "4"), Used: list(string(gpu), "4"), Wanted: list(string(gpu), "4")},
				{Name: "b", Current: list(string(gpu), "4")},
			},
			res: gpu, want: "a=8 b=0 ",
		},
		"demand beyond headroom is served in proportion": {
			hard: list("pods", "10"),
			ns: []Namespace{
				{Name: "a", Wanted: list("pods", "9")},
				{Name: "b", Wanted: list("pods", "3")},
			},
			res: "pods", want: "a=8 b=2 ",
		},
		"over quota: capped at use, never below": {
			hard: list(string(gpu), "4"),
			ns: []Namespace{
				{Name: "a", Current: list(string(gpu), "4"), Used: list(string(gpu), "4")},
				{Name: "b", Current: list(string(gpu), "4"), Used: list(string(gpu), "2")},
			},
			res: gpu, want: "a=4 b=2 ",
		},
		"frozen (orphaned) namespace keeps its quota and counts": {
			hard: list("pods", "10"),
			ns: []Namespace{
				{Name: "a", Current: list("pods", "6"), Used: list("pods", "6"), Frozen: true},
				{Name: "b"}, {Name: "c"},
			},
			res: "pods", want: "a=6 b=2 c=2 ",
		},
		"settled split is kept when nobody is short": {
			hard: list("pods", "10"),
			ns: []Namespace{
				{Name: "a", Current: list("pods", "7"), Used: list("pods", "1")},
				{Name: "b", Current: list("pods", "3"), Used: list("pods", "1")},
			},
			res: "pods", want: "a=7 b=3 ",
		},
		"a full namespace triggers a rebalance": {
			hard: list("pods", "10"),
			ns: []Namespace{
				{Name: "a", Current: list("pods", "5"), Used: list("pods", "5")},
				{Name: "b", Current: list("pods", "5"), Used: list("pods", "1")},
			},
			res: "pods", want: "a=7 b=3 ",
		},
		"zero total": {
			hard: list("services.nodeports", "0"),
			ns:   []Namespace{{Name: "a"}, {Name: "b"}},
			res:  "services.nodeports", want: "a=0 b=0 ",
		},
		"raised total is handed out": {
			hard: list("pods", "20"),
			ns: []Namespace{
				{Name: "a", Current: list("pods", "5"), Used: list("pods", "1")},
				{Name: "b", Current: list("pods", "5"), Used: list("pods", "1")},
			},
			res: "pods", want: "a=10 b=10 ",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out := Dynamic(tc.hard, tc.ns)
			var names []string
			for _, ns := range tc.ns {
				names = append(names, ns.Name)
			}
			if got := render(out, names, tc.res); got != tc.want {
				t.Errorf("split = %q, want %q", got, tc.want)
			}
			checkInvariant(t, tc.hard, tc.ns, out)
		})
	}
}

func TestStatic(t *testing.T) {
	hard := list(string(gpu), "8", "pods", "100")
	ns := []Namespace{{Name: "acme-prod"}, {Name: "acme-dev"}, {Name: "acme-old", Current: list(string(gpu), "1", "pods", "3"), Frozen: true}}
	out := Static(hard, ns, map[string]corev1.ResourceList{"acme-prod": list(string(gpu), "6", "pods", "80")})
	names := []string{"acme-prod", "acme-dev", "acme-old"}
	if got, want := render(out, names, gpu), "acme-prod=6 acme-dev=0 acme-old=1 "; got != want {
		t.Errorf("gpu = %q, want %q (omitted namespace gets 0, frozen keeps its own)", got, want)
	}
	if got, want := render(out, names, "pods"), "acme-prod=80 acme-dev=0 acme-old=3 "; got != want {
		t.Errorf("pods = %q, want %q", got, want)
	}
}

// checkInvariant asserts, for every resource: Σ hard ≤ max(total, Σ used),
// no active namespace below its use, frozen namespaces unchanged.
func checkInvariant(t *testing.T, hard corev1.ResourceList, namespaces []Namespace, out map[string]corev1.ResourceList) {
	t.Helper()
	for name, q := range hard {
		total := units(name, q)
		var sum, used int64
		for _, ns := range namespaces {
			h := amount(name, out[ns.Name])
			u := amount(name, ns.Used)
			sum += h
			if ns.Frozen {
				used += amount(name, ns.Current)
				if h != amount(name, ns.Current) {
					t.Errorf("%s: frozen namespace %s changed from %d to %d", name, ns.Name, amount(name, ns.Current), h)
				}
				continue
			}
			used += u
			// Never lowered below its use; use above a quota that was not
			// lowered (an overshoot) is not met by raising the quota.
			floor := u
			if ns.Current != nil {
				floor = min(u, amount(name, ns.Current))
			}
			if h < floor {
				t.Errorf("%s: namespace %s hard %d lowered below its use %d", name, ns.Name, h, u)
			}
			if ns.Current != nil && u > amount(name, ns.Current) && h > amount(name, ns.Current) && sum > total {
				t.Errorf("%s: namespace %s raised from %d to %d to meet an overshoot (use %d)", name, ns.Name, amount(name, ns.Current), h, u)
			}
		}
		if sum > max(total, used) {
			t.Errorf("%s: Σ hard %d exceeds max(total %d, Σ used %d)", name, sum, total, used)
		}
	}
}

// TestOvershootIsNeverMetByRaisingTheQuota: use above a namespace's quota
// (kube-controller-manager's recount admitted one pod too many) leaves the
// quota where it was: a single namespace keeps exactly the total, and in a
// tenant over its total each namespace is capped at min(quota, use).
func TestOvershootIsNeverMetByRaisingTheQuota(t *testing.T) {
	q := func(v int64) corev1.ResourceList {
		return corev1.ResourceList{gpu: *resource.NewQuantity(v, resource.DecimalSI)}
	}
	cases := map[string]struct {
		total int64
		ns    []Namespace
		want  map[string]int64
	}{
		"single namespace, one pod too many": {
			total: 3, ns: []Namespace{{Name: "a", Current: q(3), Used: q(4)}},
			want: map[string]int64{"a": 3},
		},
		"two namespaces, the overshoot in one": {
			total: 4, ns: []Namespace{{Name: "a", Current: q(2), Used: q(3)}, {Name: "b", Current: q(2), Used: q(1)}},
			want: map[string]int64{"a": 2, "b": 1},
		},
		"total lowered below use: capped at use": {
			total: 2, ns: []Namespace{{Name: "a", Current: q(3), Used: q(3)}, {Name: "b", Current: q(3), Used: q(0)}},
			want: map[string]int64{"a": 3, "b": 0},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out := Dynamic(q(tc.total), tc.ns)
			for ns, want := range tc.want {
				if got := amount(gpu, out[ns]); got != want {
					t.Errorf("%s: hard %d, want %d", ns, got, want)
				}
			}
			checkInvariant(t, q(tc.total), tc.ns, out)
		})
	}
}

// TestDynamicInvariantUnderRandomUsage replays random sequences of usage and
// demand changes (and total changes), feeding each split back as the current
// one, and checks the invariant after every step.
func TestDynamicInvariantUnderRandomUsage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < 300; run++ {
		n := 1 + rng.IntN(5)
		total := int64(rng.IntN(40))
		hard := corev1.ResourceList{gpu: *resource.NewQuantity(total, resource.DecimalSI)}
		namespaces := make([]Namespace, n)
		for i := range namespaces {
			namespaces[i] = Namespace{Name: fmt.Sprintf("ns%d", i), Frozen: rng.IntN(8) == 0}
			if namespaces[i].Frozen {
				namespaces[i].Current = corev1.ResourceList{gpu: *resource.NewQuantity(int64(rng.IntN(5)), resource.DecimalSI)}
			}
		}
		for step := 0; step < 30; step++ {
			out := Dynamic(hard, namespaces)
			checkInvariant(t, hard, namespaces, out)
			if t.Failed() {
				t.Fatalf("run %d step %d: total %d namespaces %+v", run, step, total, namespaces)
			}
			for i := range namespaces {
				ns := &namespaces[i]
				if ns.Frozen {
					continue
				}
				ns.Current = out[ns.Name]
				// Quota admission lets use grow only up to the hard; use can
				// shrink any time.
				h := amount(gpu, ns.Current)
				u := int64(rng.IntN(int(h) + 2))
				if u > h && rng.IntN(2) == 0 {
					u = h
				}
				if u > h {
					u = h
				}
				ns.Used = corev1.ResourceList{gpu: *resource.NewQuantity(u, resource.DecimalSI)}
				ns.Wanted = corev1.ResourceList{gpu: *resource.NewQuantity(int64(rng.IntN(4)), resource.DecimalSI)}
			}
			if rng.IntN(10) == 0 { // the platform team lowers or raises the total
				total = int64(rng.IntN(40))
				hard = corev1.ResourceList{gpu: *resource.NewQuantity(total, resource.DecimalSI)}
			}
		}
	}
}

func FuzzDynamic(f *testing.F) {
	f.Add(int64(8), int64(3), int64(1), int64(2), int64(0), int64(5))
	f.Fuzz(func(t *testing.T, total, usedA, usedB, wantA, wantB, curA int64) {
		if total < 0 || usedA < 0 || usedB < 0 || wantA < 0 || wantB < 0 || curA < 0 ||
			total > 1<<40 || usedA > 1<<40 || usedB > 1<<40 || wantA > 1<<40 || wantB > 1<<40 || curA > 1<<40 {
			t.Skip()
		}
		q := func(v int64) corev1.ResourceList {
			return corev1.ResourceList{gpu: *resource.NewQuantity(v, resource.DecimalSI)}
		}
		hard := q(total)
		ns := []Namespace{
			{Name: "a", Current: q(curA), Used: q(usedA), Wanted: q(wantA)},
			{Name: "b", Used: q(usedB), Wanted: q(wantB)},
		}
		checkInvariant(t, hard, ns, Dynamic(hard, ns))
	})
}
