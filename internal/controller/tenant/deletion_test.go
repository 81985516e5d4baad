package tenant_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// envtest runs no namespace controller: these tests assert what the operator
// does (a namespace marked for deletion, labels, bindings revoked), not the
// namespace's eventual disappearance.

func readyTenant(t *testing.T, g gomega.Gomega, env *testenv.Env, tn *platformv1alpha1.Tenant) {
	t.Helper()
	create(t, env, tn)
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
}

func namespace(env *testenv.Env, name string) func() (*corev1.Namespace, error) {
	return func() (*corev1.Namespace, error) {
		ns := &corev1.Namespace{}
		return ns, env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, ns)
	}
}

func tenantGone(env *testenv.Env, name string) func() bool {
	return func() bool {
		_, err := getTenant(env, name)()
		return apierrors.IsNotFound(err)
	}
}

// tenantBinding is a RoleBinding the tenant made itself to a tenant role; Retain
// must revoke it too.
func tenantBinding(ns string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "my-own-binding"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-developer"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "friend"}},
	}
}

func bindingsIn(env *testenv.Env, ns string) func() []string {
	return func() []string {
		list := &rbacv1.RoleBindingList{}
		if err := env.Admin.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			return []string{err.Error()}
		}
		var names []string
		for _, rb := range list.Items {
			names = append(names, rb.Name)
		}
		return names
	}
}

func TestDeleteTenantRetain(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("keep").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectUser, "kim").Obj()
	readyTenant(t, g, env, tn)
	create(t, env, tenantBinding("keep-prod"))
	live, err := getTenant(env, tn.Name)()
	g.Expect(err).NotTo(gomega.HaveOccurred())

	g.Expect(env.Admin.Delete(ctx, tn)).To(gomega.Succeed())
	g.Eventually(tenantGone(env, tn.Name)).Should(gomega.BeTrue(), "the finalizer was not released")

	ns, err := namespace(env, "keep-prod")()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(ns.DeletionTimestamp).To(gomega.BeNil(), "Retain deleted the namespace")
	g.Expect(ns.Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
	g.Expect(bindingsIn(env, "keep-prod")()).To(gomega.BeEmpty(), "bindings to tenant roles survived Retain")
	for _, obj := range []client.Object{
		&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "keep-prod", Name: naming.LimitRange}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "keep-prod", Name: naming.DataKeySecret}},
		// The key is kept for the data, under a name that leaves the canonical
		// one free for a new Tenant of the same name (which never gets it
		// unless it adopts this one).
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.ArchivedKeySecret("keep", string(live.UID))}},
	} {
		g.Expect(env.Admin.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(gomega.Succeed(), "Retain removed %T %s", obj, obj.GetName())
	}
	g.Expect(ns.Annotations).To(gomega.HaveKeyWithValue(platformv1alpha1.TenantUIDAnnotation, string(live.UID)),
		"the retained namespace does not record which Tenant released it")
}

func TestDeleteTenantDelete(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("gone").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).
		DeletionPolicy(platformv1alpha1.DeletionDelete).Obj()
	readyTenant(t, g, env, tn)

	g.Expect(env.Admin.Delete(ctx, tn)).To(gomega.Succeed())
	g.Eventually(tenantGone(env, tn.Name)).Should(gomega.BeTrue(), "the finalizer waited for namespace termination")
	for _, name := range []string{"gone-prod", "gone-dev"} {
		ns, err := namespace(env, name)()
		if err == nil {
			g.Expect(ns.DeletionTimestamp).NotTo(gomega.BeNil(), "namespace %s not deleted", name)
		} else {
			g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue())
		}
	}
	key := &corev1.Secret{}
	err := env.Admin.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret("gone")}, key)
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "Delete kept the tenant's data key: %v", err)
}

func TestRemovedEntryRetainedThenReclaimed(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("shrink").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectUser, "sam").Obj()
	readyTenant(t, g, env, tn)
	create(t, env, tenantBinding("shrink-dev"))

	live, err := getTenant(env, tn.Name)()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	patch := client.MergeFrom(live.DeepCopy())
	live.Spec.Namespaces = live.Spec.Namespaces[:1]
	g.Expect(env.Admin.Patch(ctx, live, patch)).To(gomega.Succeed())

	g.Eventually(func() map[string]string {
		ns, _ := namespace(env, "shrink-dev")()
		return ns.Labels
	}).Should(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
	g.Eventually(bindingsIn(env, "shrink-dev")).Should(gomega.BeEmpty())
	g.Expect(bindingsIn(env, "shrink-prod")()).To(gomega.ConsistOf("tenantai-tenant-admin"))
	g.Eventually(func() []string { tn, _ := getTenant(env, tn.Name)(); return tn.Status.Namespaces }).
		Should(gomega.Equal([]string{"shrink-prod"}))

	// Declared again: the namespace is taken back, un-orphaned and bound again.
	live, err = getTenant(env, tn.Name)()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	patch = client.MergeFrom(live.DeepCopy())
	live.Spec.Namespaces = append(live.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: "dev"})
	g.Expect(env.Admin.Patch(ctx, live, patch)).To(gomega.Succeed())
	g.Eventually(func() map[string]string {
		ns, _ := namespace(env, "shrink-dev")()
		return ns.Labels
	}).ShouldNot(gomega.HaveKey(platformv1alpha1.OrphanedLabel))
	g.Eventually(bindingsIn(env, "shrink-dev")).Should(gomega.ConsistOf("tenantai-tenant-admin"))
}

func TestRemovedEntryDeleted(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("trim").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).
		DeletionPolicy(platformv1alpha1.DeletionDelete).Obj()
	readyTenant(t, g, env, tn)
	live, err := getTenant(env, tn.Name)()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	patch := client.MergeFrom(live.DeepCopy())
	live.Spec.Namespaces = live.Spec.Namespaces[:1]
	g.Expect(env.Admin.Patch(ctx, live, patch)).To(gomega.Succeed())
	g.Eventually(func() *metav1.Time {
		ns, err := namespace(env, "trim-dev")()
		if apierrors.IsNotFound(err) {
			return &metav1.Time{}
		}
		return ns.DeletionTimestamp
	}).ShouldNot(gomega.BeNil(), "the removed entry's namespace was not deleted")
	ns, err := namespace(env, "trim-prod")()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(ns.DeletionTimestamp).To(gomega.BeNil())
}
