package tenantquota_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestDeletingTheQuotaRevokesAccessFirst: under quotaPolicy Required, the
// creation order (quota, then RoleBindings) is reversed on deletion: on
// watches opened before the TenantQuota is deleted, every tenant RoleBinding
// is gone before any of its ResourceQuotas (data-safety 5).
func TestDeletingTheQuotaRevokesAccessFirst(t *testing.T) {
	env, g := setup(t)
	create(t, env, MakeTenant("revoke").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectUser, "rita").Obj())
	create(t, env, MakeTenantQuota("revoke").Hard(corev1.ResourcePods, "4").Obj())
	tenantReady(t, g, env, "revoke")

	timeline, err := env.WatchTimeline(testenv.WatchKinds(map[string]client.ObjectList{
		"RoleBinding": &rbacv1.RoleBindingList{}, "ResourceQuota": &corev1.ResourceQuotaList{},
	}, client.MatchingLabels{platformv1alpha1.TenantLabel: "revoke"}))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	tq, err := getQuota(env, "revoke")
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(env.Admin.Delete(context.Background(), tq)).To(gomega.Succeed())
	g.Eventually(func() bool { _, err := getQuota(env, "revoke"); return apierrors.IsNotFound(err) }).Should(gomega.BeTrue())
	time.Sleep(300 * time.Millisecond)
	events, err := timeline.Stop()
	g.Expect(err).NotTo(gomega.HaveOccurred())

	bindings := map[string]bool{}
	quotaGone := 0
	for _, e := range events {
		switch {
		case e.Kind == "RoleBinding" && e.Deleted:
			delete(bindings, e.Namespace+"/"+e.Name)
		case e.Kind == "RoleBinding":
			bindings[e.Namespace+"/"+e.Name] = true
		case e.Deleted:
			quotaGone++
			if len(bindings) > 0 {
				t.Fatalf("ResourceQuota in %s deleted (revision %d) while tenant RoleBindings still existed: %v", e.Namespace, e.Revision, bindings)
			}
		}
	}
	g.Expect(quotaGone).To(gomega.Equal(2), "both ResourceQuotas were deleted")
	tn := &platformv1alpha1.Tenant{}
	g.Expect(env.Admin.Get(context.Background(), client.ObjectKey{Name: "revoke"}, tn)).To(gomega.Succeed())
	for _, c := range tn.Status.Conditions {
		if c.Type == platformv1alpha1.TenantConditionRBACReady {
			g.Expect(c.Reason).To(gomega.Equal(platformv1alpha1.TenantReasonWaitingForQuota))
		}
	}
}

// TestStaticSplitNamingAnUnknownEntryStalls: admission cannot know the
// Tenant's entries (the TenantQuota may come first), so a Static split that
// names one the Tenant lacks is Stalled with what to fix, writes no quota,
// and is not retried as an error (data-safety 8).
func TestStaticSplitNamingAnUnknownEntryStalls(t *testing.T) {
	env, g := setup(t)
	create(t, env, MakeTenant("typo").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, MakeTenantQuota("typo").Hard(corev1.ResourcePods, "4").
		Static("prod", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}).
		Static("prdo", corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}).Obj())
	g.Eventually(quotaCondition(env, "typo", platformv1alpha1.ConditionStalled)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantQuotaReasonUnknownNamespaceEntry))
	tq, _ := getQuota(env, "typo")
	for _, c := range tq.Status.Conditions {
		if c.Type == platformv1alpha1.ConditionStalled {
			g.Expect(c.Message).To(gomega.Equal("the static split names prdo, which Tenant typo does not declare (its entries: prod): " +
				"fix the entry names or add them to the Tenant"))
		}
	}
	g.Consistently(quotaCondition(env, "typo", platformv1alpha1.ConditionReconciling), 2*time.Second).
		Should(gomega.Equal("absent"), "a spec error must stall, not be retried as an error")
	err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: "typo-prod", Name: naming.ResourceQuota}, &corev1.ResourceQuota{})
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "a quota was written from a split that cannot apply: %v", err)

	// Fixed in the TenantQuota: applied.
	g.Eventually(func() error {
		tq, err := getQuota(env, "typo")
		if err != nil {
			return err
		}
		delete(tq.Spec.Distribution.Static, "prdo")
		return env.Admin.Update(context.Background(), tq)
	}).Should(gomega.Succeed())
	g.Eventually(enforced(env, "typo-prod", corev1.ResourcePods)).Should(gomega.Equal("2/2"))
	g.Eventually(quotaCondition(env, "typo", platformv1alpha1.ConditionStalled)).Should(gomega.Equal("absent"))
}
