package security_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// selfReviews are what every authenticated user may create about itself.
var selfReviews = []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"}

type apiResource struct {
	gv    schema.GroupVersion
	name  string
	verbs []string
}

func discover(t *testing.T, namespaced bool) []apiResource {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(env.AdminConfig)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	var out []apiResource
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, r := range l.APIResources {
			if r.Namespaced == namespaced {
				out = append(out, apiResource{gv: gv, name: r.Name, verbs: r.Verbs})
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("discovery found only %d resources", len(out))
	}
	return out
}

// allowed asks the API server, as c's user, whether a verb is allowed.
func allowed(t *testing.T, c client.Client, namespace, group, resource, verb string) bool {
	t.Helper()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: namespace, Group: group, Resource: resource, Verb: verb},
	}}
	if err := c.Create(context.Background(), review); err != nil {
		t.Fatalf("SelfSubjectAccessReview: %v", err)
	}
	return review.Status.Allowed
}

func TestA_RBAC(t *testing.T) {
	ctx := context.Background()

	t.Run("A1 cluster-scoped lockout", func(t *testing.T) {
		checked := 0
		for _, r := range discover(t, false) {
			for _, verb := range allVerbs {
				if !slices.Contains(r.verbs, verb) || (verb == "create" && slices.Contains(selfReviews, r.name)) {
					continue
				}
				checked++
				if allowed(t, owner, "", r.gv.Group, r.name, verb) {
					t.Errorf("the tenant owner may %s cluster-scoped %s.%s", verb, r.name, r.gv.Group)
				}
			}
		}
		t.Logf("%d cluster-scoped resource/verb pairs denied", checked)
	})

	t.Run("A2 cross-namespace lockout", func(t *testing.T) {
		resources := discover(t, true)
		for _, ns := range []string{"red-prod", "kube-system", "default", platformv1alpha1.OperatorNamespace} {
			for _, r := range resources {
				for _, verb := range allVerbs {
					if slices.Contains(r.verbs, verb) && allowed(t, owner, ns, r.gv.Group, r.name, verb) {
						t.Errorf("the blue owner may %s %s.%s in %s", verb, r.name, r.gv.Group, ns)
					}
				}
			}
		}
		err := owner.Get(ctx, client.ObjectKey{Namespace: "red-prod", Name: "tenantai-data-key"}, &corev1.Secret{})
		refused(t, err, byRBAC())
		if !strings.Contains(err.Error(), `cannot get resource "secrets" in API group "" in the namespace "red-prod"`) {
			t.Errorf("unexpected RBAC message: %v", err)
		}
	})

	t.Run("A3 owner cannot change its own namespace", func(t *testing.T) {
		ns := &corev1.Namespace{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "blue-prod"}, ns); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(ns.DeepCopy())
		ns.Labels["x"] = "y"
		refused(t, owner.Patch(ctx, ns.DeepCopy(), patch), byRBAC())
		refused(t, owner.Update(ctx, ns.DeepCopy()), byRBAC())
		refused(t, owner.Delete(ctx, ns.DeepCopy()), byRBAC())
	})

	t.Run("A4 a Role with rules the owner does not hold", func(t *testing.T) {
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "escalate"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"resourcequotas"}, Verbs: []string{"update", "delete"}}},
		}
		refused(t, owner.Create(ctx, role), byEscalationCheck())
		// Within what it holds, it may.
		role.Name, role.Rules = "fine", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}
		if err := owner.Create(ctx, role); err != nil {
			t.Fatalf("a Role within the owner's own permissions was refused: %v", err)
		}
	})

	t.Run("A5 binding cluster-admin, the operator's role or a system role", func(t *testing.T) {
		for _, roleName := range []string{"cluster-admin", "tenantai-manager-role", "system:controller:namespace-controller", "admin", "edit"} {
			rb := &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "grab-" + strings.ReplaceAll(roleName, ":", "-")},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
				Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: blueOwner}},
			}
			err := owner.Create(ctx, rb)
			if refusedByRBAC := byEscalationCheck().match(err) || byRBAC().match(err); !refusedByRBAC {
				t.Errorf("binding %s: %v", roleName, err)
			}
		}
		ok := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "friend-viewer"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-viewer"},
			Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "friend"}},
		}
		if err := owner.Create(ctx, ok); err != nil {
			t.Fatalf("binding a tenant role in its own namespace was refused: %v", err)
		}
		ok.Namespace, ok.ResourceVersion = "red-prod", ""
		refused(t, owner.Create(ctx, ok), byRBAC())
	})

	t.Run("A6 editing an operator-managed RoleBinding", func(t *testing.T) {
		for who, c := range map[string]client.Client{"owner": owner, "cluster admin": admin} {
			rb := &rbacv1.RoleBinding{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: "blue-prod", Name: "tenantai-tenant-admin"}, rb); err != nil {
				t.Fatal(err)
			}
			patch := client.MergeFrom(rb.DeepCopy())
			rb.Subjects = append(rb.Subjects, rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "system:authenticated"})
			err := c.Patch(ctx, rb, patch)
			if err == nil || !byPolicy(policyOwned).match(err) {
				t.Errorf("%s: %v", who, err)
			}
		}
	})

	t.Run("A7 impersonation and minting tokens", func(t *testing.T) {
		cfg := rest.CopyConfig(ownerConfig(t))
		cfg.Impersonate = rest.ImpersonationConfig{UserName: redOwner}
		impersonating, err := client.New(cfg, client.Options{Scheme: env.Admin.Scheme(), Mapper: env.Admin.RESTMapper()})
		if err != nil {
			t.Fatal(err)
		}
		err = impersonating.Get(ctx, client.ObjectKey{Namespace: "red-prod", Name: "tenantai-data-key"}, &corev1.Secret{})
		refused(t, err, byRBAC())
		if !strings.Contains(err.Error(), "cannot impersonate") {
			t.Errorf("not refused by the impersonation check: %v", err)
		}
		for _, ns := range []string{"blue-prod", "red-prod", "kube-system"} {
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
			tr := &authenticationv1.TokenRequest{}
			refused(t, owner.SubResource("token").Create(ctx, sa, tr), byRBAC())
		}
	})

	t.Run("A8 owner cannot edit its Tenant, TenantQuota or ModelDeployment status", func(t *testing.T) {
		for _, obj := range []client.Object{&platformv1alpha1.Tenant{}, &platformv1alpha1.TenantQuota{}} {
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: "blue"}, obj); err != nil {
				t.Fatal(err)
			}
			obj.SetAnnotations(map[string]string{"x": "y"})
			refused(t, owner.Update(ctx, obj), byRBAC())
			refused(t, owner.Delete(ctx, obj), byRBAC())
		}
		for _, r := range []string{"modeldeployments/status"} {
			parts := strings.Split(r, "/")
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "blue-prod", Group: platformv1alpha1.GroupVersion.Group,
					Resource: parts[0], Subresource: parts[1], Verb: "update"},
			}}
			if err := owner.Create(ctx, review); err != nil {
				t.Fatal(err)
			}
			if review.Status.Allowed {
				t.Errorf("the owner may update %s", r)
			}
		}
	})
}

// ownerConfig is blue's owner's REST config.
func ownerConfig(t *testing.T) *rest.Config {
	t.Helper()
	cfg, err := env.UserConfig(blueOwner)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
