package tenant_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestDriftIsRepairedFromWatches deletes or edits each managed kind, acting as
// a break-glass admin, and expects the operator to restore it. The resync
// period is a day: only watch events can trigger the repair.
func TestDriftIsRepairedFromWatches(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("drift").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectGroup, "drift-admins").EgressCIDRs("0.0.0.0/0").Obj()
	create(t, env, tn)
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	const ns = "drift-prod"

	cases := map[string]struct {
		obj    client.Object
		tamper func(client.Object) error
		// restored reports whether the live object is back to its state.
		restored func(live client.Object) bool
	}{
		"namespace Pod Security label removed": {
			obj: &corev1.Namespace{},
			tamper: func(o client.Object) error {
				n := o.(*corev1.Namespace)
				p := client.MergeFrom(n.DeepCopy())
				delete(n.Labels, "pod-security.kubernetes.io/enforce")
				return admin.Patch(ctx, n, p)
			},
			restored: func(o client.Object) bool {
				return o.GetLabels()["pod-security.kubernetes.io/enforce"] == "restricted"
			},
		},
		"limit range deleted": {
			obj:      &corev1.LimitRange{},
			tamper:   func(o client.Object) error { return admin.Delete(ctx, o) },
			restored: func(o client.Object) bool { return len(o.(*corev1.LimitRange).Spec.Limits) == 1 },
		},
		"limit range loses its managed-by label (leaves the cache)": {
			obj: &corev1.LimitRange{},
			tamper: func(o client.Object) error {
				p := client.MergeFrom(o.DeepCopyObject().(client.Object))
				labels := o.GetLabels()
				delete(labels, platformv1alpha1.ManagedByLabel)
				o.SetLabels(labels)
				return admin.Patch(ctx, o, p)
			},
			restored: func(o client.Object) bool { return o.GetLabels()[platformv1alpha1.ManagedByLabel] == "tenantai" },
		},
		"default-deny podSelector narrowed": {
			obj: &networkingv1.NetworkPolicy{},
			tamper: func(o client.Object) error {
				np := o.(*networkingv1.NetworkPolicy)
				p := client.MergeFrom(np.DeepCopy())
				np.Spec.PodSelector.MatchLabels = map[string]string{"escape": "true"}
				return admin.Patch(ctx, np, p)
			},
			restored: func(o client.Object) bool {
				return len(o.(*networkingv1.NetworkPolicy).Spec.PodSelector.MatchLabels) == 0
			},
		},
		"egress policy deleted": {
			obj:      &networkingv1.NetworkPolicy{},
			tamper:   func(o client.Object) error { return admin.Delete(ctx, o) },
			restored: func(o client.Object) bool { return len(o.(*networkingv1.NetworkPolicy).Spec.Egress) == 1 },
		},
		"key copy deleted": {
			obj:    &corev1.Secret{},
			tamper: func(o client.Object) error { return admin.Delete(ctx, o) },
			restored: func(o client.Object) bool {
				canonical := &corev1.Secret{}
				err := env.Admin.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret("drift")}, canonical)
				return err == nil && equality.Semantic.DeepEqual(canonical.Data, o.(*corev1.Secret).Data)
			},
		},
		"role binding gains a subject": {
			obj: &rbacv1.RoleBinding{},
			tamper: func(o client.Object) error {
				rb := o.(*rbacv1.RoleBinding)
				p := client.MergeFrom(rb.DeepCopy())
				rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "system:authenticated"})
				return admin.Patch(ctx, rb, p)
			},
			restored: func(o client.Object) bool { return len(o.(*rbacv1.RoleBinding).Subjects) == 1 },
		},
		// Every tamper here leaves the applied hash alone (it is the
		// operator's word about its last write); this one adds rather than
		// narrows.
		"limit range gains an item": {
			obj: &corev1.LimitRange{},
			tamper: func(o client.Object) error {
				lr := o.(*corev1.LimitRange)
				p := client.MergeFrom(lr.DeepCopy())
				lr.Spec.Limits = append(lr.Spec.Limits, corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim,
					Max: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Ti")}})
				return admin.Patch(ctx, lr, p)
			},
			restored: func(o client.Object) bool { return len(o.(*corev1.LimitRange).Spec.Limits) == 1 },
		},
		// A key in the operator's key space that the operator did not set
		// (here one that would let the binding survive a release) is removed.
		"role binding gains an owned label": {
			obj: &rbacv1.RoleBinding{},
			tamper: func(o client.Object) error {
				p := client.MergeFrom(o.DeepCopyObject().(client.Object))
				labels := o.GetLabels()
				labels[platformv1alpha1.SurviveReleaseLabel] = "true"
				o.SetLabels(labels)
				return admin.Patch(ctx, o, p)
			},
			restored: func(o client.Object) bool {
				_, planted := o.GetLabels()[platformv1alpha1.SurviveReleaseLabel]
				return !planted
			},
		},
	}
	keys := map[string]client.ObjectKey{
		"namespace Pod Security label removed":                      {Name: ns},
		"limit range deleted":                                       {Namespace: ns, Name: naming.LimitRange},
		"limit range loses its managed-by label (leaves the cache)": {Namespace: ns, Name: naming.LimitRange},
		"default-deny podSelector narrowed":                         {Namespace: ns, Name: naming.NetworkPolicyDefaultDeny},
		"egress policy deleted":                                     {Namespace: ns, Name: naming.NetworkPolicyAllowEgress},
		"key copy deleted":                                          {Namespace: ns, Name: naming.DataKeySecret},
		"role binding gains a subject":                              {Namespace: ns, Name: "tenantai-tenant-admin"},
		"limit range gains an item":                                 {Namespace: ns, Name: naming.LimitRange},
		"role binding gains an owned label":                         {Namespace: ns, Name: "tenantai-tenant-admin"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := gomega.NewWithT(t)
			key := keys[name]
			g.Expect(env.Admin.Get(ctx, key, tc.obj)).To(gomega.Succeed())
			g.Expect(tc.tamper(tc.obj)).To(gomega.Succeed())
			g.Eventually(func() bool {
				live := tc.obj.DeepCopyObject().(client.Object)
				return env.Admin.Get(ctx, key, live) == nil && tc.restored(live)
			}, timeout, interval).Should(gomega.BeTrue(), "not restored")
		})
	}
	g.Eventually(eventReasons(env, tn.Name)).Should(gomega.ContainElement("DriftRepaired"))
}
