package security_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

type guardrail struct {
	obj client.Object
	// ownerMechanism is what refuses blue's owner: RBAC for kinds its role
	// cannot write, the policy for kinds it can (RoleBindings, Secrets).
	ownerMechanism mechanism
}

func guardrails() map[string]guardrail {
	ns := "blue-prod"
	return map[string]guardrail{
		"NetworkPolicy": {&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.NetworkPolicyDefaultDeny}}, byRBAC()},
		"ResourceQuota": {&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.ResourceQuota}}, byRBAC()},
		"LimitRange":    {&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.LimitRange}}, byRBAC()},
		"RoleBinding":   {&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tenantai-tenant-developer"}}, byPolicy(policyOwned)},
		"key Secret":    {&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.DataKeySecret}}, byPolicy(policyOwned)},
	}
}

func TestC_Guardrails(t *testing.T) {
	ctx := context.Background()

	t.Run("C15 delete, update, patch, deletecollection of managed guardrails", func(t *testing.T) {
		for kind, g := range guardrails() {
			t.Run(kind, func(t *testing.T) {
				live := g.obj.DeepCopyObject().(client.Object)
				if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(g.obj), live); err != nil {
					t.Fatal(err)
				}
				for who, c := range map[string]struct {
					c client.Client
					m mechanism
				}{"owner": {owner, g.ownerMechanism}, "cluster admin": {admin, byPolicy(policyOwned)}} {
					refused(t, c.c.Delete(ctx, live.DeepCopyObject().(client.Object)), c.m)
					edited := live.DeepCopyObject().(client.Object)
					edited.SetAnnotations(map[string]string{"tampered": "true"})
					refused(t, c.c.Update(ctx, edited), c.m)
					refused(t, c.c.Patch(ctx, live.DeepCopyObject().(client.Object),
						client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":null}}}`))), c.m)
					_ = who
				}
				refused(t, admin.DeleteAllOf(ctx, live.DeepCopyObject().(client.Object), client.InNamespace("blue-prod"),
					client.MatchingLabels{platformv1alpha1.ManagedByLabel: "tenantai"}), byPolicy(policyOwned))
			})
		}
	})

	t.Run("C16 creating an object with the managed-by label", func(t *testing.T) {
		forged := func() []client.Object {
			labels := map[string]string{platformv1alpha1.ManagedByLabel: "tenantai", platformv1alpha1.TenantLabel: "blue"}
			return []client.Object{
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "forged", Labels: labels}},
				&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "forged", Labels: labels},
					RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-viewer"},
					Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "x"}}},
				&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "forged", Labels: labels},
					Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
			}
		}
		for _, obj := range forged() {
			refused(t, owner.Create(ctx, obj), byPolicy(policyOwned))
		}
		for _, obj := range forged() {
			refused(t, admin.Create(ctx, obj), byPolicy(policyOwned))
		}
	})

	t.Run("C17 a guardrail deleted by a break-glass admin is restored, once", func(t *testing.T) {
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-dev", Name: naming.NetworkPolicyDefaultDeny}}
		if err := breakGlass.Delete(ctx, np); err != nil {
			t.Fatalf("break-glass delete: %v", err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for env.Admin.Get(ctx, client.ObjectKeyFromObject(np), np) != nil {
			if time.Now().After(deadline) {
				t.Fatal("the default-deny policy was not restored")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// No hot loop: once restored, the policy is not rewritten.
		rv := np.ResourceVersion
		time.Sleep(2 * time.Second)
		if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(np), np); err != nil || np.ResourceVersion != rv {
			t.Errorf("the restored policy kept changing (resourceVersion %s -> %s, %v)", rv, np.ResourceVersion, err)
		}
	})
}
