package tenantquota_test

import (
	"context"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// event is one watch event in a timeline ordered by resourceVersion.
type event struct {
	rv      int64
	kind    string
	ns      string
	name    string
	deleted bool
}

// TestDeletingTheQuotaRevokesAccessFirst: under quotaPolicy Required, the
// creation order (quota, then RoleBindings) is reversed on deletion: on
// watches opened before the TenantQuota is deleted, every tenant RoleBinding
// is gone before any of its ResourceQuotas (data-safety 5).
func TestDeletingTheQuotaRevokesAccessFirst(t *testing.T) {
	env, g := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	create(t, env, MakeTenant("revoke").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectUser, "rita").Obj())
	create(t, env, MakeTenantQuota("revoke").Hard(corev1.ResourcePods, "4").Obj())
	tenantReady(t, g, env, "revoke")

	wc, err := client.NewWithWatch(env.AdminConfig, client.Options{Scheme: env.Admin.Scheme()})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	events := make(chan event, 256)
	for kind, list := range map[string]client.ObjectList{"RoleBinding": &rbacv1.RoleBindingList{}, "ResourceQuota": &corev1.ResourceQuotaList{}} {
		w, err := wc.Watch(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: "revoke"})
		g.Expect(err).NotTo(gomega.HaveOccurred())
		go func(kind string, w watch.Interface) {
			for e := range w.ResultChan() {
				o, ok := e.Object.(client.Object)
				if !ok {
					continue
				}
				rv, _ := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
				events <- event{rv: rv, kind: kind, ns: o.GetNamespace(), name: o.GetName(), deleted: e.Type == watch.Deleted}
			}
		}(kind, w)
	}
	tq, err := getQuota(env, "revoke")
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(env.Admin.Delete(context.Background(), tq)).To(gomega.Succeed())
	g.Eventually(func() bool { _, err := getQuota(env, "revoke"); return apierrors.IsNotFound(err) }).Should(gomega.BeTrue())
	time.Sleep(300 * time.Millisecond)
	cancel()

	var timeline []event
	for done := false; !done; {
		select {
		case e := <-events:
			timeline = append(timeline, e)
		default:
			done = true
		}
	}
	sort.Slice(timeline, func(i, j int) bool { return timeline[i].rv < timeline[j].rv })
	bindings := map[string]bool{}
	quotaGone := 0
	for _, e := range timeline {
		switch {
		case e.kind == "RoleBinding" && e.deleted:
			delete(bindings, e.ns+"/"+e.name)
		case e.kind == "RoleBinding":
			bindings[e.ns+"/"+e.name] = true
		case e.deleted:
			quotaGone++
			if len(bindings) > 0 {
				t.Fatalf("ResourceQuota in %s deleted (revision %d) while tenant RoleBindings still existed: %v", e.ns, e.rv, bindings)
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
