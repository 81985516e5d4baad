//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

var _ = Describe("TenantQuota", func() {
	It("is enforced by real quota admission, and the ModelDeployment reports the API server's refusal", func(ctx SpecContext) {
		tenant := uniqueName("e2e-quota")
		newTenant(ctx, tenant, gpuQuota(2), "prod")
		ns := tenant + "-prod"

		By("asking for 3 replicas of one GPU each under a 2-GPU quota")
		Expect(c.client.Create(ctx, gpuModel(ns, "chat", 3))).To(Succeed())

		By("the first two pods are admitted and run; the third is refused with the quota message")
		Eventually(func(g Gomega) {
			md := getModel(ctx, g, ns, "chat")
			qe := condition(md, platformv1alpha1.ModelConditionQuotaExceeded)
			g.Expect(qe).NotTo(BeNil(), "no QuotaExceeded condition yet")
			g.Expect(qe.Status).To(Equal(metav1.ConditionTrue), "QuotaExceeded: %s", qe.Message)
			g.Expect(qe.Reason).To(Equal(platformv1alpha1.ModelReasonQuotaExceeded))
			g.Expect(qe.Message).To(ContainSubstring(quotaMessage(2, 2)))
			g.Expect(runningReady(modelPods(ctx, g, ns, "chat"))).To(Equal(2))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(poll).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(modelPods(ctx, g, ns, "chat")).To(HaveLen(2), "quota admission let a third GPU pod in")
		}).WithContext(ctx).WithTimeout(5 * time.Second).WithPolling(poll).Should(Succeed())

		By("kube-controller-manager accounts the two GPUs in the namespace's ResourceQuota")
		Eventually(func(g Gomega) {
			rq := namespaceQuota(ctx, g, ns)
			g.Expect(rq.Status.Hard[requestsGPU]).To(BeComparableTo(resource.MustParse("2")))
			g.Expect(rq.Status.Used[requestsGPU]).To(BeComparableTo(resource.MustParse("2")))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())

		By("a GPU pod created directly, even by a cluster admin, gets the API server's exact refusal")
		err := c.client.Create(ctx, probePod(ns, "quota-probe"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the over-quota pod was not refused: %v", err)
		Expect(err.Error()).To(Equal(`pods "quota-probe" is forbidden: ` + quotaMessage(2, 2)))
	}, SpecTimeout(4*time.Minute))

	It("moves headroom to the namespace that uses it (Dynamic), with real quota accounting", func(ctx SpecContext) {
		const total = 4
		tenant := uniqueName("e2e-share")
		// The invariant is checked on every ResourceQuota event of the tenant,
		// from a watch opened before the tenant exists: no poll can miss a
		// moment where the namespaces' quotas add up to more than the total.
		inv := watchQuotaInvariant(ctx, tenant, total)
		newTenant(ctx, tenant, gpuQuota(total), "a", "b")
		nsA, nsB := tenant+"-a", tenant+"-b"

		By("with no demand yet, the 4 GPUs are split evenly: 2 and 2, enforced")
		Eventually(func(g Gomega) {
			for _, ns := range []string{nsA, nsB} {
				g.Expect(namespaceQuota(ctx, g, ns).Status.Hard[requestsGPU]).To(BeComparableTo(resource.MustParse("2")), ns)
			}
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())

		By("namespace a asks for 3 GPUs, more than its share")
		Expect(c.client.Create(ctx, gpuModel(nsA, "big", 3))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(runningReady(modelPods(ctx, g, nsA, "big"))).To(Equal(3))
			rq := namespaceQuota(ctx, g, nsA)
			g.Expect(rq.Status.Used[requestsGPU]).To(BeComparableTo(resource.MustParse("3")), "used by kube-controller-manager")
			hard := rq.Status.Hard[requestsGPU]
			g.Expect(hard.Cmp(resource.MustParse("3"))).To(BeNumerically(">=", 0), "a's enforced quota %s", hard.String())
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(poll).Should(Succeed())
		expectReady(ctx, &platformv1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: nsA, Name: "big"}}, time.Minute)

		By("namespace b then gets the GPU left")
		Expect(c.client.Create(ctx, gpuModel(nsB, "small", 1))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(runningReady(modelPods(ctx, g, nsB, "small"))).To(Equal(1))
			g.Expect(namespaceQuota(ctx, g, nsB).Status.Used[requestsGPU]).To(BeComparableTo(resource.MustParse("1")))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(poll).Should(Succeed())

		By("the TenantQuota sums the namespaces' real use and reports the GPUs exhausted")
		Eventually(func(g Gomega) {
			tq := &platformv1alpha1.TenantQuota{}
			g.Expect(c.client.Get(ctx, client.ObjectKey{Name: tenant}, tq)).To(Succeed())
			g.Expect(tq.Status.Used[requestsGPU]).To(BeComparableTo(resource.MustParse("4")))
			ex := condition(tq, platformv1alpha1.TenantQuotaConditionExhausted)
			g.Expect(ex).NotTo(BeNil())
			g.Expect(ex.Status).To(Equal(metav1.ConditionTrue), "Exhausted: %s: %s", ex.Reason, ex.Message)
			g.Expect(ex.Reason).To(Equal(platformv1alpha1.TenantQuotaReasonResourceExhausted))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(poll).Should(Succeed())

		By("no namespace can take a fifth GPU")
		err := c.client.Create(ctx, probePod(nsB, "quota-probe"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a fifth GPU pod was admitted: %v", err)
		Expect(err.Error()).To(ContainSubstring("exceeded quota: " + quotaName))

		Expect(inv.violations()).To(BeEmpty())
		Expect(inv.events()).To(BeNumerically(">", 0), "the watch saw no ResourceQuota event")
	}, SpecTimeout(5*time.Minute))
})

// quotaInvariant checks, on every ResourceQuota event of one tenant, the
// invariant of the aggregate quota: Σ hard ≤ max(total, Σ used), for the
// enforced hard (status.hard) and the declared one (spec.hard), and no
// namespace's declared hard below its use.
type quotaInvariant struct {
	mu     sync.Mutex
	tenant string
	total  int64
	latest map[string]*corev1.ResourceQuota
	seen   int
	broken []string
}

func watchQuotaInvariant(ctx context.Context, tenant string, total int64) *quotaInvariant {
	GinkgoHelper()
	inv := &quotaInvariant{tenant: tenant, total: total, latest: map[string]*corev1.ResourceQuota{}}
	w, err := c.client.Watch(ctx, &corev1.ResourceQuotaList{}, client.MatchingLabels{platformv1alpha1.TenantLabel: tenant})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				rq, isRQ := ev.Object.(*corev1.ResourceQuota)
				if !isRQ {
					continue
				}
				inv.observe(ev.Type, rq)
			}
		}
	}()
	DeferCleanup(func() {
		w.Stop()
		cancel()
		<-done
	})
	return inv
}

func (q *quotaInvariant) observe(typ watch.EventType, rq *corev1.ResourceQuota) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if rq.Labels[platformv1alpha1.TenantLabel] != q.tenant {
		return
	}
	q.seen++
	if typ == watch.Deleted {
		delete(q.latest, rq.Namespace)
		return
	}
	q.latest[rq.Namespace] = rq
	var specHard, statusHard, used int64
	for _, r := range q.latest {
		specHard += r.Spec.Hard.Name(requestsGPU, resource.DecimalSI).Value()
		statusHard += r.Status.Hard.Name(requestsGPU, resource.DecimalSI).Value()
		u := r.Status.Used.Name(requestsGPU, resource.DecimalSI).Value()
		used += u
		if h, ok := r.Spec.Hard[requestsGPU]; ok && h.Value() < u {
			q.broken = append(q.broken, fmt.Sprintf("rv %s: %s hard %d below its use %d", rq.ResourceVersion, r.Namespace, h.Value(), u))
		}
	}
	limit := max(q.total, used)
	if specHard > limit || statusHard > limit {
		var parts []string
		for ns, r := range q.latest {
			parts = append(parts, fmt.Sprintf("%s{spec %s status %s used %s}", ns,
				r.Spec.Hard.Name(requestsGPU, resource.DecimalSI), r.Status.Hard.Name(requestsGPU, resource.DecimalSI),
				r.Status.Used.Name(requestsGPU, resource.DecimalSI)))
		}
		q.broken = append(q.broken, fmt.Sprintf("rv %s: Σ spec.hard %d, Σ status.hard %d > max(total %d, Σ used %d): %s",
			rq.ResourceVersion, specHard, statusHard, q.total, used, strings.Join(parts, ", ")))
	}
}

func (q *quotaInvariant) violations() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.broken...)
}

func (q *quotaInvariant) events() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.seen
}
