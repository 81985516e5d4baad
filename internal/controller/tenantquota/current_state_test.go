package tenantquota_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// quotaWatch follows a tenant's ResourceQuotas on a watch opened before the
// action under test (every event, not a poll that can miss one) and checks,
// at each event, that the sum of spec.hard and of status.hard for resource
// stays within limit. Violations and the last state per namespace are kept.
type quotaWatch struct {
	violations []string
	spec       map[string]int64
	status     map[string]int64
	used       map[string]int64
	done       chan struct{}
}

func watchQuotas(t *testing.T, env *testenv.Env, tenant string, r corev1.ResourceName, limit int64) (*quotaWatch, func() *quotaWatch) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wc, err := client.NewWithWatch(env.AdminConfig, client.Options{Scheme: env.Admin.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &corev1.ResourceQuotaList{}, client.MatchingLabels{platformv1alpha1.TenantLabel: tenant})
	if err != nil {
		t.Fatal(err)
	}
	qw := &quotaWatch{spec: map[string]int64{}, status: map[string]int64{}, used: map[string]int64{}, done: make(chan struct{})}
	go func() {
		defer close(qw.done)
		for e := range w.ResultChan() {
			rq, ok := e.Object.(*corev1.ResourceQuota)
			if !ok || e.Type == watch.Deleted {
				continue
			}
			qw.spec[rq.Namespace] = value(rq.Spec.Hard, r)
			qw.status[rq.Namespace] = value(rq.Status.Hard, r)
			qw.used[rq.Namespace] = value(rq.Status.Used, r)
			var spec, status int64
			for ns := range qw.spec {
				spec += qw.spec[ns]
				status += qw.status[ns]
			}
			if spec > limit || status > limit {
				qw.violations = append(qw.violations, fmt.Sprintf("rv %s: Σ spec.hard %d, Σ status.hard %d > %d (spec %v, status %v)",
					rq.ResourceVersion, spec, status, limit, copyOf(qw.spec), copyOf(qw.status)))
			}
		}
	}()
	return qw, func() *quotaWatch { cancel(); <-qw.done; return qw }
}

func value(list corev1.ResourceList, r corev1.ResourceName) int64 {
	q := list[r]
	return q.Value()
}

func copyOf(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func setStatic(g gomega.Gomega, env *testenv.Env, tenant string, amounts map[string]string) {
	g.Eventually(func() error {
		tq, err := getQuota(env, tenant)
		if err != nil {
			return err
		}
		for entry, n := range amounts {
			tq.Spec.Distribution.Static[entry] = corev1.ResourceList{corev1.ResourcePods: resource.MustParse(n)}
		}
		return env.Admin.Update(context.Background(), tq)
	}).Should(gomega.Succeed())
}

// TestGrowsAreDecidedFromCurrentState: the operator's cache has not seen its
// own grow of namespace a (frozen, as an informer that has not delivered the
// event yet) when the split is moved back from a to b. Growing b on that
// view would make the enforced sum exceed the tenant total; decisions to
// write are taken from the ResourceQuotas as the API server has them, so a
// is shrunk (and enforced) first. Checked on a watch. The negative-control
// build (decisions from the cache) must fail it.
func TestGrowsAreDecidedFromCurrentState(t *testing.T) {
	env, g := setup(t)
	create(t, env, MakeTenant("fresh").Namespaces("a", "b").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, MakeTenantQuota("fresh").Hard(corev1.ResourcePods, "6").
		Static("a", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}).
		Static("b", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("4")}).Obj())
	g.Eventually(enforced(env, "fresh-a", corev1.ResourcePods)).Should(gomega.Equal("2/2"))
	g.Eventually(enforced(env, "fresh-b", corev1.ResourcePods)).Should(gomega.Equal("4/4"))

	// From here on the operator's cache shows fresh-a at 2/2.
	stale.freeze(t, env, "fresh-a")
	setStatic(g, env, "fresh", map[string]string{"a": "4", "b": "2"})
	g.Eventually(enforced(env, "fresh-a", corev1.ResourcePods)).Should(gomega.Equal("4/4"))
	g.Eventually(enforced(env, "fresh-b", corev1.ResourcePods)).Should(gomega.Equal("2/2"))

	_, stop := watchQuotas(t, env, "fresh", corev1.ResourcePods, 6)
	setStatic(g, env, "fresh", map[string]string{"a": "2", "b": "4"})
	g.Eventually(enforced(env, "fresh-b", corev1.ResourcePods), 20*time.Second).Should(gomega.Equal("4/4"))
	time.Sleep(500 * time.Millisecond)
	qw := stop()
	g.Expect(qw.violations).To(gomega.BeEmpty(), "the tenant total was exceeded: a grow was decided from a stale view")
	g.Eventually(enforced(env, "fresh-a", corev1.ResourcePods)).Should(gomega.Equal("2/2"))
}

// TestQuotaIsNeverRaisedToAnOvershoot reproduces kube-controller-manager's
// recount race deterministically: its count of a single-namespace tenant's
// pods is made low (as a recount that missed just-admitted pods), so quota
// admission lets one pod too many in, and the recount then reports use above
// the tenant total. The operator must not raise the namespace's quota to that
// use, which would make the overshoot permanent: a single-namespace tenant's
// quota stays exactly its total (data-safety 14). Checked on a watch. The
// negative-control build (capped at use) must fail it.
func TestQuotaIsNeverRaisedToAnOvershoot(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	create(t, env, MakeTenant("exact").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, MakeTenantQuota("exact").Hard(corev1.ResourcePods, "3").Obj())
	g.Eventually(enforced(env, "exact-prod", corev1.ResourcePods)).Should(gomega.Equal("3/3"))
	tenantReady(t, g, env, "exact")
	for i := 1; i <= 3; i++ {
		create(t, env, restrictedPod("exact-prod", fmt.Sprintf("p%d", i)))
	}
	g.Eventually(func() int64 {
		rq := &corev1.ResourceQuota{}
		_ = env.Admin.Get(ctx, client.ObjectKey{Namespace: "exact-prod", Name: naming.ResourceQuota}, rq)
		return value(rq.Status.Used, corev1.ResourcePods)
	}).Should(gomega.Equal(int64(3)))

	qw, stop := watchQuotas(t, env, "exact", corev1.ResourcePods, 3)
	// The racing recount: kube-controller-manager writes a count that misses
	// a pod. A status write does not make it recount (only a spec change or a
	// pod event does), so the low count stands until the next pod.
	rq := &corev1.ResourceQuota{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: "exact-prod", Name: naming.ResourceQuota}, rq)).To(gomega.Succeed())
	rq.Status.Used[corev1.ResourcePods] = resource.MustParse("2")
	g.Expect(env.Admin.Status().Update(ctx, rq)).To(gomega.Succeed())
	// A burst of creations: quota admission admits one on the low count.
	admitted := 0
	for i := 4; i <= 8; i++ {
		if env.Admin.Create(ctx, restrictedPod("exact-prod", fmt.Sprintf("p%d", i))) == nil {
			admitted++
		}
	}
	g.Expect(admitted).To(gomega.Equal(1), "the simulated undercount should let exactly one pod too many in")
	// kube-controller-manager recounts on the pod events: use 4 over a total of 3.
	g.Eventually(func() int64 {
		rq := &corev1.ResourceQuota{}
		_ = env.Admin.Get(ctx, client.ObjectKey{Namespace: "exact-prod", Name: naming.ResourceQuota}, rq)
		return value(rq.Status.Used, corev1.ResourcePods)
	}).Should(gomega.Equal(int64(4)))
	g.Eventually(quotaCondition(env, "exact", platformv1alpha1.TenantQuotaConditionExhausted)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantQuotaReasonOverQuota))
	time.Sleep(2 * time.Second) // what the operator would write, it writes now
	stop()
	g.Expect(qw.violations).To(gomega.BeEmpty(), "the quota was raised to the overshoot")
	g.Expect(enforced(env, "exact-prod", corev1.ResourcePods)()).To(gomega.Equal("3/3"))
	// The overshoot is not replaced: a fifth pod is refused while use is 4.
	err := env.Admin.Create(ctx, restrictedPod("exact-prod", "p9"))
	g.Expect(err).To(gomega.HaveOccurred())
	g.Expect(err.Error()).To(gomega.ContainSubstring("exceeded quota: tenantai-quota, requested: pods=1, used: pods=4, limited: pods=3"))
}
