package tenant_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/onsi/gomega"
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

// subjectsIn maps each RoleBinding of a namespace to its subjects' names.
func subjectsIn(env *testenv.Env, ns string) func() map[string][]string {
	return func() map[string][]string {
		list := &rbacv1.RoleBindingList{}
		if err := env.Admin.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return map[string][]string{"error": {err.Error()}}
		}
		out := map[string][]string{}
		for _, rb := range list.Items {
			names := []string{}
			for _, s := range rb.Subjects {
				names = append(names, s.Name)
			}
			sort.Strings(names)
			out[rb.Name+"->"+rb.RoleRef.Name] = names
		}
		return out
	}
}

// TestRemovedOwnerLosesAccessDespiteASquattedName: an object squats the name
// of a binding the operator manages in one namespace, with another roleRef
// (immutable, so applying over it fails). A removed owner still loses access
// in every namespace, new grants happen everywhere, and the squatter is
// replaced.
func TestRemovedOwnerLosesAccessDespiteASquattedName(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("squat").Namespaces("a", "b", "c").QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectUser, "alice").Obj()
	readyTenant(t, g, env, tn)
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	squatter := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "squat-a", Name: "tenantai-tenant-viewer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "mallory"}},
	}
	g.Expect(admin.Create(ctx, squatter)).To(gomega.Succeed())

	updateTenant(g, env, tn.Name, func(tn *platformv1alpha1.Tenant) {
		tn.Spec.Owners = []platformv1alpha1.Subject{{Kind: platformv1alpha1.SubjectUser, Name: "carol"}}
		tn.Spec.Members = []platformv1alpha1.Member{{Subject: platformv1alpha1.Subject{Kind: platformv1alpha1.SubjectUser, Name: "bob"},
			Role: platformv1alpha1.RoleViewer}}
	})
	want := map[string][]string{
		"tenantai-tenant-admin->tenantai-tenant-admin":   {"carol"},
		"tenantai-tenant-viewer->tenantai-tenant-viewer": {"bob"},
	}
	for _, ns := range []string{"squat-a", "squat-b", "squat-c"} {
		g.Eventually(subjectsIn(env, ns)).Should(gomega.Equal(want), "bindings in %s", ns)
	}
	g.Eventually(eventReasons(env, tn.Name)).Should(gomega.ContainElement(platformv1alpha1.EventReasonReservedNameReplaced))
}

// TestRecreatedTenantGetsNothingWithoutAdoption: Tenant "reuse" is deleted
// with Retain; a new Tenant of that name (another team) gets neither its
// retained namespace nor its data key by name alone, and is Stalled with the
// command that adopts them. With the adoption, it takes both, the key's
// versions unchanged.
func TestRecreatedTenantGetsNothingWithoutAdoption(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	old := MakeTenant("reuse").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectUser, "old-team").Obj()
	readyTenant(t, g, env, old)
	oldLive, _ := getTenant(env, "reuse")()
	oldKey := keyCopy(env, "reuse-prod")()
	g.Expect(oldKey).To(gomega.HaveKey("v1"))
	g.Expect(env.Admin.Delete(ctx, oldLive)).To(gomega.Succeed())
	g.Eventually(tenantGone(env, "reuse")).Should(gomega.BeTrue())

	successor := MakeTenant("reuse").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectUser, "new-team").Obj()
	create(t, env, successor)
	g.Eventually(condition(env, "reuse", platformv1alpha1.ConditionStalled)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantReasonAdoptionRequired))
	newLive, _ := getTenant(env, "reuse")()
	g.Expect(conditionMessage(newLive, platformv1alpha1.ConditionStalled)).To(gomega.ContainSubstring(
		"kubectl annotate tenant reuse " + platformv1alpha1.AdoptFromAnnotation + "=" + string(oldLive.UID)))
	g.Consistently(subjectsIn(env, "reuse-prod"), 2*time.Second).Should(gomega.BeEmpty(), "the new team got a binding in the old team's namespace")
	ns, _ := namespace(env, "reuse-prod")()
	g.Expect(ns.Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
	_, err := canonicalKey(env, "reuse")()
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the new Tenant has a data key before it holds any namespace: %v", err)

	// The same team, after all: one annotation adopts namespace and key.
	g.Eventually(func() error {
		live, err := getTenant(env, "reuse")()
		if err != nil {
			return err
		}
		patch := client.MergeFrom(live.DeepCopy())
		live.Annotations = map[string]string{platformv1alpha1.AdoptFromAnnotation: string(oldLive.UID)}
		return env.Admin.Patch(ctx, live, patch)
	}).Should(gomega.Succeed())
	g.Eventually(condition(env, "reuse", platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	g.Eventually(subjectsIn(env, "reuse-prod")).Should(gomega.Equal(map[string][]string{
		"tenantai-tenant-admin->tenantai-tenant-admin": {"new-team"}}))
	ns, _ = namespace(env, "reuse-prod")()
	g.Expect(ns.Labels).NotTo(gomega.HaveKey(platformv1alpha1.OrphanedLabel))
	g.Expect(ns.Annotations).To(gomega.HaveKeyWithValue(platformv1alpha1.TenantUIDAnnotation, string(newLive.UID)))
	key, err := canonicalKey(env, "reuse")()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(key.Data).To(gomega.Equal(oldKey), "the adopted key is not the old team's")
	g.Expect(key.Annotations).To(gomega.HaveKeyWithValue(platformv1alpha1.TenantUIDAnnotation, string(newLive.UID)))
	g.Expect(keyCopy(env, "reuse-prod")()).To(gomega.Equal(oldKey))
}

// TestReleaseLeavesOnlyMarkedBindings removes a namespace entry (Retain)
// and watches the namespace and its RoleBindings: when the namespace is
// labelled orphaned, no binding is left but the one marked to survive
// release (the tenant's planted one included); the removed ones are recorded
// for the admin, token Secrets go, and only the deny-all policy stays.
func TestReleaseLeavesOnlyMarkedBindings(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("rel").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectUser, "owen").EgressCIDRs("0.0.0.0/0").Obj()
	readyTenant(t, g, env, tn)
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	const ns = "rel-dev"
	planted := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "owner-planted"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "owen"}}}
	gitops := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gitops",
		Labels: map[string]string{platformv1alpha1.SurviveReleaseLabel: "true"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "argocd", Namespace: "argocd"}}}
	token := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "owner-token",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}}, Type: corev1.SecretTypeServiceAccountToken}
	for _, obj := range []client.Object{planted, gitops, token} {
		g.Expect(admin.Create(ctx, obj)).To(gomega.Succeed())
	}

	timeline, err := env.WatchTimeline([]testenv.Watch{
		{Kind: "RoleBinding", List: &rbacv1.RoleBindingList{}, Opts: []client.ListOption{client.InNamespace(ns)}},
		{Kind: "Namespace", List: &corev1.NamespaceList{}, Opts: []client.ListOption{client.MatchingFields{"metadata.name": ns}}},
	})
	g.Expect(err).NotTo(gomega.HaveOccurred())

	updateTenant(g, env, tn.Name, func(tn *platformv1alpha1.Tenant) { tn.Spec.Namespaces = tn.Spec.Namespaces[:1] })
	g.Eventually(func() map[string]string { n, _ := namespace(env, ns)(); return n.Labels }, 30*time.Second).
		Should(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
	time.Sleep(200 * time.Millisecond)
	events, err := timeline.Stop()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	present := map[string]bool{}
	orphaned := false
	for _, e := range events {
		switch {
		case e.Kind == "RoleBinding":
			present[e.Name] = !e.Deleted
		case e.Name == ns && e.Object.GetLabels()[platformv1alpha1.OrphanedLabel] == "true":
			orphaned = true
		}
		if orphaned {
			break
		}
	}
	g.Expect(orphaned).To(gomega.BeTrue(), "the watch never saw the namespace labelled orphaned")
	var left []string
	for name, there := range present {
		if there {
			left = append(left, name)
		}
	}
	g.Expect(left).To(gomega.ConsistOf("gitops"), "bindings present when the namespace was labelled orphaned")

	record := &corev1.ConfigMap{}
	g.Expect(env.Admin.Get(context.Background(), client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace,
		Name: naming.ReleasedBindingsConfigMap(ns)}, record)).To(gomega.Succeed())
	g.Expect(record.Data).To(gomega.HaveKey("owner-planted.yaml"))
	g.Expect(record.Data).To(gomega.HaveKey("tenantai-tenant-admin.yaml"))
	g.Expect(record.Data).NotTo(gomega.HaveKey("gitops.yaml"))
	err = env.Admin.Get(context.Background(), client.ObjectKeyFromObject(token), &corev1.Secret{})
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "the token Secret survived release: %v", err)
	policies := &networkingv1.NetworkPolicyList{}
	g.Expect(env.Admin.List(context.Background(), policies, client.InNamespace(ns))).To(gomega.Succeed())
	var names []string
	for _, p := range policies.Items {
		names = append(names, p.Name)
	}
	g.Expect(names).To(gomega.ConsistOf(naming.NetworkPolicyDefaultDeny), "network paths left in a released namespace")
	g.Expect(eventReasons(env, tn.Name)()).To(gomega.ContainElement(platformv1alpha1.EventReasonNamespaceReleased))
}

// TestRetainedNamespacesAreNeverDeletedLater: a namespace retained when its
// entry was removed stays when deletionPolicy later becomes Delete, and when
// the Tenant is then deleted; only the namespaces it held at that time go.
// Deleting an entry's namespace under Delete is announced.
func TestRetainedNamespacesAreNeverDeletedLater(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("kept").Namespaces("a", "b", "c").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	readyTenant(t, g, env, tn)
	updateTenant(g, env, tn.Name, func(tn *platformv1alpha1.Tenant) { tn.Spec.Namespaces = tn.Spec.Namespaces[:2] })
	g.Eventually(func() map[string]string { ns, _ := namespace(env, "kept-c")(); return ns.Labels }).
		Should(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))

	updateTenant(g, env, tn.Name, func(tn *platformv1alpha1.Tenant) {
		tn.Spec.DeletionPolicy = platformv1alpha1.DeletionDelete
		tn.Spec.Namespaces = tn.Spec.Namespaces[:1] // drop b, now under Delete
	})
	g.Eventually(func() bool { ns, err := namespace(env, "kept-b")(); return err != nil || ns.DeletionTimestamp != nil }).
		Should(gomega.BeTrue(), "the entry removed under Delete was not deleted")
	g.Eventually(eventReasons(env, tn.Name)).Should(gomega.ContainElement(platformv1alpha1.EventReasonNamespaceDeleted))
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReconciling)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantReasonDeletingNamespaces))
	g.Consistently(func() *metav1.Time { ns, _ := namespace(env, "kept-c")(); return ns.DeletionTimestamp }, 2*time.Second).
		Should(gomega.BeNil(), "a namespace retained earlier was deleted when deletionPolicy became Delete")

	live, _ := getTenant(env, tn.Name)()
	g.Expect(env.Admin.Delete(ctx, live)).To(gomega.Succeed())
	g.Eventually(tenantGone(env, tn.Name)).Should(gomega.BeTrue())
	a, _ := namespace(env, "kept-a")()
	g.Expect(a.DeletionTimestamp).NotTo(gomega.BeNil(), "the namespace the Tenant held was not deleted (Delete)")
	c, _ := namespace(env, "kept-c")()
	g.Expect(c.DeletionTimestamp).To(gomega.BeNil(), "a namespace retained earlier was deleted with the Tenant")
}

// TestAbandonedNamespacesAreReleased: namespaces whose Tenant is gone without
// releasing them (its finalizer removed by hand), and namespaces an earlier
// release retained while leaving planted bindings behind, are released by
// this release's rules: no binding but the marked ones, deny-all only.
func TestAbandonedNamespacesAreReleased(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	for name, orphaned := range map[string]bool{"departed-held": false, "departed-retained": true} {
		labels := naming.TenantLabels("departed")
		if orphaned {
			labels[platformv1alpha1.OrphanedLabel] = "true"
		}
		g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})).To(gomega.Succeed())
		planted := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "planted"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-admin"},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "old-owner"}}}
		allow := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: naming.NetworkPolicyAllowEgress,
			Labels: naming.TenantLabels("departed")}, Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}}}}
		g.Expect(admin.Create(ctx, planted)).To(gomega.Succeed())
		g.Expect(admin.Create(ctx, allow)).To(gomega.Succeed())
	}
	for _, name := range []string{"departed-held", "departed-retained"} {
		g.Eventually(subjectsIn(env, name)).Should(gomega.BeEmpty(), "bindings left in %s", name)
		g.Eventually(func() []string {
			list := &networkingv1.NetworkPolicyList{}
			_ = env.Admin.List(ctx, list, client.InNamespace(name))
			var names []string
			for _, p := range list.Items {
				names = append(names, p.Name)
			}
			return names
		}).Should(gomega.ConsistOf(naming.NetworkPolicyDefaultDeny), "network paths left in %s", name)
		// The release strips access first and marks the namespace last: the
		// mark may trail the checks above.
		g.Eventually(func() map[string]string {
			ns, _ := namespace(env, name)()
			return ns.Labels
		}).Should(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
		ns, _ := namespace(env, name)()
		g.Expect(ns.DeletionTimestamp).To(gomega.BeNil(), "an abandoned namespace was deleted")
	}
}
