package tenantquota_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestQuotaWaitsForItsTenant: a TenantQuota applied before its Tenant waits
// (Ready False, TenantNotFound, not Stalled); once the Tenant exists every
// namespace gets its ResourceQuota and the Tenant's RBAC follows.
func TestQuotaWaitsForItsTenant(t *testing.T) {
	env, g := setup(t)
	create(t, env, MakeTenantQuota("early").Hard(corev1.ResourcePods, "10").Obj())
	g.Eventually(quotaCondition(env, "early", platformv1alpha1.ConditionReady)).
		Should(gomega.Equal("False/" + platformv1alpha1.TenantQuotaReasonTenantNotFound))
	g.Expect(quotaCondition(env, "early", platformv1alpha1.ConditionStalled)()).To(gomega.Equal("absent"))

	create(t, env, MakeTenant("early").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectUser, "eve").Obj())
	g.Eventually(quotaCondition(env, "early", platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	g.Expect(enforced(env, "early-prod", corev1.ResourcePods)()).To(gomega.Equal("5/5"))
	g.Expect(enforced(env, "early-dev", corev1.ResourcePods)()).To(gomega.Equal("5/5"))
	g.Expect(enforced(env, "early-dev", corev1.ResourceServicesNodePorts)()).To(gomega.Equal("0/0"), "NodePorts must be closed by default")

	tenant := &platformv1alpha1.Tenant{}
	g.Eventually(func() bool {
		_ = env.Admin.Get(context.Background(), client.ObjectKey{Name: "early"}, tenant)
		for _, c := range tenant.Status.Conditions {
			if c.Type == platformv1alpha1.ConditionReady {
				return c.Status == "True"
			}
		}
		return false
	}).Should(gomega.BeTrue(), "the Tenant did not become Ready once its quotas existed")

	rq := &corev1.ResourceQuota{}
	g.Expect(env.Admin.Get(context.Background(), client.ObjectKey{Namespace: "early-prod", Name: naming.ResourceQuota}, rq)).To(gomega.Succeed())
	g.Expect(rq.Labels).To(gomega.Equal(naming.TenantLabels("early")))
	g.Expect(rq.OwnerReferences).To(gomega.BeEmpty())
}

// TestDynamicRebalancesUnderRealAccounting fills a namespace with real pods
// (kube-controller-manager counts them) and expects headroom to move to it,
// while a poller checks the tenant-total invariant on every poll, on the
// enforced status.hard as well as spec.hard. The pod past the total is
// refused with the API server's exact quota message.
func TestDynamicRebalancesUnderRealAccounting(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	create(t, env, MakeTenant("dyn").Namespaces("a", "b").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, MakeTenantQuota("dyn").Hard(corev1.ResourcePods, "4").Obj())
	g.Eventually(enforced(env, "dyn-a", corev1.ResourcePods)).Should(gomega.Equal("2/2"))
	g.Eventually(enforced(env, "dyn-b", corev1.ResourcePods)).Should(gomega.Equal("2/2"))
	tenantReady(t, g, env, "dyn")

	stop := invariantPoller(env, []string{"dyn-a", "dyn-b"}, corev1.ResourcePods, 4)
	for i := 1; i <= 4; i++ {
		pod := restrictedPod("dyn-a", fmt.Sprintf("p%d", i))
		// Each pod beyond the namespace's share fits once the operator has
		// moved headroom from dyn-b; until then quota admission refuses it.
		g.Eventually(func() error { return env.Admin.Create(ctx, pod.DeepCopy()) }).Should(gomega.Succeed(), "pod %d never fit", i)
	}
	g.Eventually(enforced(env, "dyn-a", corev1.ResourcePods)).Should(gomega.Equal("4/4"))
	g.Expect(enforced(env, "dyn-b", corev1.ResourcePods)()).To(gomega.Equal("0/0"))

	err := env.Admin.Create(ctx, restrictedPod("dyn-a", "p5"))
	g.Expect(apierrors.IsForbidden(err)).To(gomega.BeTrue(), "the fifth pod was not refused: %v", err)
	g.Expect(err.Error()).To(gomega.ContainSubstring(
		"exceeded quota: tenantai-quota, requested: pods=1, used: pods=4, limited: pods=4"))
	g.Eventually(quotaCondition(env, "dyn", platformv1alpha1.TenantQuotaConditionExhausted)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantQuotaReasonResourceExhausted))
	g.Expect(quotaCondition(env, "dyn", platformv1alpha1.ConditionReady)()).To(gomega.Equal("True/"+platformv1alpha1.ReasonReconciled),
		"Exhausted must never make Ready False")
	g.Expect(stop()).To(gomega.BeEmpty(), "the tenant-total invariant was violated")

	tq, err := getQuota(env, "dyn")
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(tq.Status.Used.Pods().Value()).To(gomega.Equal(int64(4)))
}

// TestLoweringHardBelowUseCapsAtUse: nothing is evicted, every namespace is
// capped at its use and the quota says the tenant is over.
func TestLoweringHardBelowUseCapsAtUse(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	create(t, env, MakeTenant("over").Namespaces("a", "b").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, MakeTenantQuota("over").Hard(corev1.ResourcePods, "6").Obj())
	g.Eventually(enforced(env, "over-a", corev1.ResourcePods)).Should(gomega.Equal("3/3"))
	tenantReady(t, g, env, "over")
	for i := 1; i <= 3; i++ {
		create(t, env, restrictedPod("over-a", fmt.Sprintf("p%d", i)))
	}
	g.Eventually(func() int64 {
		tq, _ := getQuota(env, "over")
		return tq.Status.Used.Pods().Value()
	}).Should(gomega.Equal(int64(3)))

	tq, err := getQuota(env, "over")
	g.Expect(err).NotTo(gomega.HaveOccurred())
	patch := client.MergeFrom(tq.DeepCopy())
	tq.Spec.Hard[corev1.ResourcePods] = resource.MustParse("2")
	g.Expect(env.Admin.Patch(ctx, tq, patch)).To(gomega.Succeed())

	g.Eventually(enforced(env, "over-a", corev1.ResourcePods)).Should(gomega.Equal("3/3"))
	g.Eventually(enforced(env, "over-b", corev1.ResourcePods)).Should(gomega.Equal("0/0"))
	g.Eventually(quotaCondition(env, "over", platformv1alpha1.TenantQuotaConditionExhausted)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantQuotaReasonOverQuota))
	pods := &corev1.PodList{}
	g.Expect(env.Admin.List(ctx, pods, client.InNamespace("over-a"))).To(gomega.Succeed())
	g.Expect(pods.Items).To(gomega.HaveLen(3), "lowering hard must never evict")
}

// TestModelDeploymentCountQuota: count/modeldeployments in hard refuses the
// (n+1)th ModelDeployment with the API server's quota message.
func TestModelDeploymentCountQuota(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	const key = "count/modeldeployments.platform.tenantai.io"
	create(t, env, MakeTenant("count").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, MakeTenantQuota("count").Hard(key, "2").Obj())
	g.Eventually(enforced(env, "count-prod", key)).Should(gomega.Equal("2/2"))
	for _, name := range []string{"m1", "m2"} {
		g.Expect(env.Admin.Create(ctx, MakeModelDeployment("count-prod", name).Obj())).To(gomega.Succeed())
	}
	err := env.Admin.Create(ctx, MakeModelDeployment("count-prod", "m3").Obj())
	g.Expect(apierrors.IsForbidden(err)).To(gomega.BeTrue(), "the third ModelDeployment was not refused: %v", err)
	g.Expect(err.Error()).To(gomega.ContainSubstring(
		"exceeded quota: tenantai-quota, requested: " + key + "=1, used: " + key + "=2, limited: " + key + "=2"))
}

// TestStaticSplitExceedingHardStalls: the sums are in the message, and no
// quota is written.
func TestStaticSplitExceedingHardStalls(t *testing.T) {
	env, g := setup(t)
	create(t, env, MakeTenant("static").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, MakeTenantQuota("static").Hard("requests.nvidia.com/gpu", "8").
		Static("prod", corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("6")}).
		Static("dev", corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("4")}).Obj())
	g.Eventually(quotaCondition(env, "static", platformv1alpha1.ConditionStalled)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard))
	tq, _ := getQuota(env, "static")
	for _, c := range tq.Status.Conditions {
		if c.Type == platformv1alpha1.ConditionStalled {
			g.Expect(c.Message).To(gomega.ContainSubstring("requests.nvidia.com/gpu: 10 > 8"))
		}
	}
	rqs := &corev1.ResourceQuotaList{}
	g.Expect(env.Admin.List(context.Background(), rqs, client.MatchingLabels{platformv1alpha1.TenantLabel: "static"})).To(gomega.Succeed())
	g.Expect(rqs.Items).To(gomega.BeEmpty())

	// Fixed: exactly the static amounts.
	patch := client.MergeFrom(tq.DeepCopy())
	tq.Spec.Distribution.Static["dev"] = corev1.ResourceList{"requests.nvidia.com/gpu": resource.MustParse("2")}
	g.Expect(env.Admin.Patch(context.Background(), tq, patch)).To(gomega.Succeed())
	g.Eventually(enforced(env, "static-prod", "requests.nvidia.com/gpu")).Should(gomega.Equal("6/6"))
	g.Eventually(enforced(env, "static-dev", "requests.nvidia.com/gpu")).Should(gomega.Equal("2/2"))
	g.Eventually(quotaCondition(env, "static", platformv1alpha1.ConditionStalled)).Should(gomega.Equal("absent"))
}

// TestDynamicReservesMissingNamespaces: a declared namespace the Tenant
// cannot create (its name is taken) keeps its share in reserve, so the
// namespace that exists gets half the total, not all of it, and never has
// to shrink when the other one appears; the quota says which namespace it
// waits for.
func TestDynamicReservesMissingNamespaces(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "resv-b"}})
	create(t, env, MakeTenantQuota("resv").Hard(corev1.ResourcePods, "6").Obj())
	create(t, env, MakeTenant("resv").Namespaces("a", "b").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	g.Eventually(enforced(env, "resv-a", corev1.ResourcePods)).Should(gomega.Equal("3/3"))
	g.Eventually(quotaCondition(env, "resv", platformv1alpha1.TenantQuotaConditionQuotaApplied)).
		Should(gomega.Equal("False/" + platformv1alpha1.TenantQuotaReasonWaitingForNamespaces))
	g.Consistently(enforced(env, "resv-a", corev1.ResourcePods), "1s").Should(gomega.Equal("3/3"))
	err := env.Admin.Get(ctx, client.ObjectKey{Namespace: "resv-b", Name: naming.ResourceQuota}, &corev1.ResourceQuota{})
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "a quota was written into a namespace the tenant does not own: %v", err)
}
