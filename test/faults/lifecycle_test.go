package faults_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func leaseHolder(env *testenv.Env, id string) func() string {
	return func() string {
		l := &coordinationv1.Lease{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: id}, l); err != nil {
			return ""
		}
		if l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
}

// TestLeaderFailover (scenario 5): two managers with leader election and a
// 2 s lease. Only the leader writes; when it is cancelled the follower takes
// the lease within the lease duration and provisions a new Tenant; both
// tenants end with one key and a quiet reconcile.
func TestLeaderFailover(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	cfg := leaderConfig("faults-leader")
	lease := cfg.LeaseDuration

	first := startManager(t, env, cfg, &faults{only: "leader-"})
	g.Eventually(leaseHolder(env, cfg.LeaderElectionID)).ShouldNot(gomega.BeEmpty())
	holder := leaseHolder(env, cfg.LeaderElectionID)()
	second := startManager(t, env, cfg, &faults{only: "leader-"})

	create(t, env.Admin, tenantFixture("leader-1"))
	readyTenant(g, env, "leader-1")
	g.Expect(first.f.Writes()).NotTo(gomega.BeEmpty(), "the leader wrote nothing")
	g.Consistently(second.f.Writes, "500ms").Should(gomega.BeEmpty(), "the follower wrote while not leading")

	stopped := time.Now()
	first.stop(t)
	g.Eventually(leaseHolder(env, cfg.LeaderElectionID), lease+2*time.Second, 20*time.Millisecond).
		ShouldNot(gomega.Or(gomega.Equal(holder), gomega.BeEmpty()), "the follower did not take over within the lease duration")
	t.Logf("the follower took over %s after the leader stopped", time.Since(stopped).Round(10*time.Millisecond))
	create(t, env.Admin, tenantFixture("leader-2"))
	readyTenant(g, env, "leader-2")
	g.Expect(second.f.Writes()).NotTo(gomega.BeEmpty(), "the new leader wrote nothing")
	assertOneKey(t, env, "leader-1")
	assertOneKey(t, env, "leader-2")
	assertNoWritesOnReconcile(t, g, env, second.f, "leader-1")
	inv.stop(t)
}

// TestLevelTriggeredRestart (scenario 6): with no operator running, the
// Tenant's spec changes several times, one ModelDeployment is deleted and
// another created. A new manager converges to the last state only.
func TestLevelTriggeredRestart(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	ctx := context.Background()
	name := "level"
	m := startManager(t, env, managerConfig(), nil)
	create(t, env.Admin, tenantFixture(name))
	readyTenant(g, env, name)
	old := MakeModelDeployment(name+"-a", "old").Obj()
	create(t, env.Admin, old)
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-a", Name: "old"}, &appsv1.Deployment{})
	}).Should(gomega.Succeed())
	m.stop(t)

	edit := func(fn func(*platformv1alpha1.Tenant)) {
		tn := getTenant(g, env, name)
		patch := client.MergeFrom(tn.DeepCopy())
		fn(tn)
		g.Expect(env.Admin.Patch(ctx, tn, patch)).To(gomega.Succeed())
	}
	edit(func(tn *platformv1alpha1.Tenant) {
		tn.Spec.Namespaces = append(tn.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: "c"})
	})
	edit(func(tn *platformv1alpha1.Tenant) {
		tn.Spec.Namespaces = []platformv1alpha1.TenantNamespace{tn.Spec.Namespaces[0], tn.Spec.Namespaces[2]} // drop b
	})
	edit(func(tn *platformv1alpha1.Tenant) {
		tn.Spec.Namespaces[0].Labels = map[string]platformv1alpha1.LabelValue{"env": "prod"}
	})
	g.Expect(env.Admin.Delete(ctx, old)).To(gomega.Succeed())
	create(t, env.Admin, MakeModelDeployment(name+"-a", "new").Obj())

	startManager(t, env, managerConfig(), nil)
	readyTenant(g, env, name)
	g.Expect(getTenant(g, env, name).Status.Namespaces).To(gomega.Equal([]string{name + "-a", name + "-c"}))
	a := &corev1.Namespace{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Name: name + "-a"}, a)).To(gomega.Succeed())
	g.Expect(a.Labels).To(gomega.HaveKeyWithValue("env", "prod"))
	// The removed namespace is released (Retain): kept, marked orphaned,
	// no tenant RoleBinding left.
	g.Eventually(func() map[string]string {
		b := &corev1.Namespace{}
		_ = env.Admin.Get(ctx, client.ObjectKey{Name: name + "-b"}, b)
		return b.Labels
	}).Should(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-b", Name: naming.TenantRole(platformv1alpha1.RoleAdmin)}, &rbacv1.RoleBinding{})
	}).Should(gomega.Satisfy(apierrors.IsNotFound))
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-a", Name: "new"}, &appsv1.Deployment{})
	}).Should(gomega.Succeed(), "the ModelDeployment created while the operator was down was not rendered")
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-a", Name: "old"}, &appsv1.Deployment{})
	}).Should(gomega.Satisfy(apierrors.IsNotFound), "the deleted ModelDeployment's Deployment was not cleaned up")
	inv.stop(t)
}

// TestDeletionEdgeCases (scenario 7): a Tenant deleted while the operator is
// down stays (its finalizer holds it) until the operator starts and releases
// it, even though some of its children are already gone (NotFound counts as
// done); ModelDeployments deleted with Foreground and Orphan propagation
// leave their Deployments to the garbage collector's rules.
func TestDeletionEdgeCases(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	ctx := context.Background()
	name := "gone"
	m := startManager(t, env, managerConfig(), nil)
	create(t, env.Admin, tenantFixture(name))
	readyTenant(g, env, name)

	fg := MakeModelDeployment(name+"-a", "fg").Obj()
	orphan := MakeModelDeployment(name+"-a", "orphan").Obj()
	create(t, env.Admin, fg)
	create(t, env.Admin, orphan)
	for _, md := range []string{"fg", "orphan"} {
		g.Eventually(func() error {
			return env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-a", Name: md}, &appsv1.Deployment{})
		}).Should(gomega.Succeed())
	}
	g.Expect(env.Admin.Delete(ctx, fg, client.PropagationPolicy(metav1.DeletePropagationForeground))).To(gomega.Succeed())
	g.Expect(env.Admin.Delete(ctx, orphan, client.PropagationPolicy(metav1.DeletePropagationOrphan))).To(gomega.Succeed())
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKeyFromObject(fg), &platformv1alpha1.ModelDeployment{})
	}).Should(gomega.Satisfy(apierrors.IsNotFound), "the foreground-deleted ModelDeployment is still there")
	g.Expect(apierrors.IsNotFound(env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-a", Name: "fg"}, &appsv1.Deployment{}))).
		To(gomega.BeTrue(), "a foreground deletion finished before its Deployment was gone")
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKeyFromObject(orphan), &platformv1alpha1.ModelDeployment{})
	}).Should(gomega.Satisfy(apierrors.IsNotFound))
	g.Eventually(func() []metav1.OwnerReference {
		d := &appsv1.Deployment{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-a", Name: "orphan"}, d); err != nil {
			return []metav1.OwnerReference{{Name: err.Error()}}
		}
		return d.OwnerReferences
	}).Should(gomega.BeEmpty(), "the orphaned Deployment should remain, without its owner reference")

	m.stop(t)
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	// Children already gone before the release.
	g.Expect(admin.Delete(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: name + "-a", Name: naming.TenantRole(platformv1alpha1.RoleAdmin)}})).To(gomega.Succeed())
	g.Expect(admin.Delete(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name + "-b", Name: naming.NetworkPolicyAllowDNS}})).To(gomega.Succeed())
	g.Expect(env.Admin.Delete(ctx, &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(gomega.Succeed())
	g.Consistently(func() bool {
		tn := &platformv1alpha1.Tenant{}
		return env.Admin.Get(ctx, client.ObjectKey{Name: name}, tn) == nil && !tn.DeletionTimestamp.IsZero()
	}, "1s", "100ms").Should(gomega.BeTrue(), "the Tenant went away without its finalizer running")

	startManager(t, env, managerConfig(), nil)
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKey{Name: name}, &platformv1alpha1.Tenant{})
	}).Should(gomega.Satisfy(apierrors.IsNotFound), "the Tenant was not released after the operator started")
	for _, ns := range []string{name + "-a", name + "-b"} {
		n := &corev1.Namespace{}
		g.Expect(env.Admin.Get(ctx, client.ObjectKey{Name: ns}, n)).To(gomega.Succeed(), "Retain deleted namespace %s", ns)
		g.Expect(n.Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
		rbs := &rbacv1.RoleBindingList{}
		g.Expect(env.Admin.List(ctx, rbs, client.InNamespace(ns))).To(gomega.Succeed())
		for _, rb := range rbs.Items {
			g.Expect(naming.IsTenantRole(rb.RoleRef.Name)).To(gomega.BeFalse(), "tenant RoleBinding %s/%s survived the release", ns, rb.Name)
		}
		g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.LimitRange}, &corev1.LimitRange{})).To(gomega.Succeed(), "Retain removed a guardrail")
	}
	inv.stop(t)
}
