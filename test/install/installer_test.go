package install_test

import (
	"context"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// TestInstallYAMLOnAnEmptyCluster applies dist/install.yaml, as the docs say,
// to an API server that holds nothing of tenantai, and proves that the one
// file brings everything: the CRDs serve, the operator's namespace enforces
// Pod Security, its service account holds its RBAC, and the admission
// policies refuse what they must.
func TestInstallYAMLOnAnEmptyCluster(t *testing.T) {
	env := testenv.Require(t)
	kubectl := kubectlFor(t, env)
	want := readObjects(t, env.Root, installYAML)

	kubectl.run(t, "apply", "--server-side", "-f", installYAML)
	kubectl.run(t, append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, crdRefs()...)...)
	live := liveObjects(t, env, want)

	t.Run("the operator namespace enforces Pod Security restricted", func(t *testing.T) {
		ns := &corev1.Namespace{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: platformv1alpha1.OperatorNamespace}, ns); err != nil {
			t.Fatal(err)
		}
		if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
			t.Errorf("namespace %s: pod-security.kubernetes.io/enforce = %q, want restricted", ns.Name, got)
		}
	})

	t.Run("the manager runs as the installed service account", func(t *testing.T) {
		deploy := live["apps/Deployment "+platformv1alpha1.OperatorNamespace+"/tenantai-controller-manager"]
		if deploy == nil {
			t.Fatal("no manager Deployment tenantai-system/tenantai-controller-manager in install.yaml")
		}
		sa, _, _ := unstructured.NestedString(deploy.Object, "spec", "template", "spec", "serviceAccountName")
		if sa != platformv1alpha1.OperatorServiceAccount {
			t.Errorf("manager Deployment runs as %q, want %q", sa, platformv1alpha1.OperatorServiceAccount)
		}
		if live["/ServiceAccount "+platformv1alpha1.OperatorNamespace+"/"+platformv1alpha1.OperatorServiceAccount] == nil {
			t.Errorf("install.yaml has no ServiceAccount %s/%s", platformv1alpha1.OperatorNamespace, platformv1alpha1.OperatorServiceAccount)
		}
	})

	t.Run("the operator's service account holds its RBAC", func(t *testing.T) {
		expectOperatorRBAC(t, env)
	})

	t.Run("the admission policies are enforced", func(t *testing.T) {
		expectForgedNamespaceRefused(t, env)
	})

	t.Run("a second apply changes nothing", func(t *testing.T) {
		kubectl.run(t, "apply", "--server-side", "-f", installYAML)
		again := liveObjects(t, env, want)
		for key, obj := range live {
			if rv := again[key].GetResourceVersion(); rv != obj.GetResourceVersion() {
				t.Errorf("%s was written again: resourceVersion %s → %s", key, obj.GetResourceVersion(), rv)
			}
		}
	})
}

// crdRefs are tenantai's CRDs as kubectl arguments.
func crdRefs() []string {
	refs := make([]string, 0, len(crdNames))
	for _, name := range crdNames {
		refs = append(refs, "crd/"+name)
	}
	return refs
}

// liveObjects reads every object of a manifest back from the API server,
// keyed by objectKey; a missing object fails the test.
func liveObjects(t *testing.T, env *testenv.Env, manifest []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	live := make(map[string]*unstructured.Unstructured, len(manifest))
	for _, want := range manifest {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(want.GroupVersionKind())
		if err := env.Admin.Get(context.Background(), client.ObjectKeyFromObject(want), obj); err != nil {
			t.Fatalf("%s: %v", objectKey(want), err)
		}
		live[objectKey(want)] = obj
	}
	return live
}

// expectOperatorRBAC asks the API server's authorizer what the installed
// service account may do: a few of the permissions the operator cannot run
// without, and one it must never have.
func expectOperatorRBAC(t *testing.T, env *testenv.Env) {
	t.Helper()
	cases := []struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{authorizationv1.ResourceAttributes{Verb: "create", Resource: "namespaces"}, true},
		{authorizationv1.ResourceAttributes{Verb: "watch", Group: "platform.tenantai.io", Resource: "tenants"}, true},
		{authorizationv1.ResourceAttributes{Verb: "patch", Group: "platform.tenantai.io", Resource: "tenants", Subresource: "status"}, true},
		{authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "tenantai-tenant-admin"}, true},
		{authorizationv1.ResourceAttributes{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: platformv1alpha1.OperatorNamespace}, true},
		{authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "cluster-admin"}, false},
	}
	for _, tc := range cases {
		review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               platformv1alpha1.OperatorUsername,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + platformv1alpha1.OperatorNamespace, "system:authenticated"},
			ResourceAttributes: &tc.attrs,
		}}
		if err := env.Admin.Create(context.Background(), review); err != nil {
			t.Fatal(err)
		}
		if review.Status.Allowed != tc.want {
			t.Errorf("%s may %s %s/%s %q in %q: allowed=%v, want %v (%s)", platformv1alpha1.OperatorUsername,
				tc.attrs.Verb, tc.attrs.Group, tc.attrs.Resource+subresource(tc.attrs.Subresource), tc.attrs.Name, tc.attrs.Namespace,
				review.Status.Allowed, tc.want, review.Status.Reason)
		}
	}
}

func subresource(s string) string {
	if s == "" {
		return ""
	}
	return "/" + s
}

// expectForgedNamespaceRefused proves the installed admission policies are
// live: a cluster admin outside break-glass, whom RBAC allows everything, may
// not mint a tenant namespace by label. A dry run goes through admission
// without creating anything. Policies take effect a moment after they are
// created, so the request is repeated until it is refused.
func expectForgedNamespaceRefused(t *testing.T, env *testenv.Env) {
	t.Helper()
	const want = `namespaces "forged" is forbidden: ValidatingAdmissionPolicy 'tenantai-protect-namespaces' with binding ` +
		`'tenantai-protect-namespaces' denied request: only the tenantai operator creates tenant namespaces: namespace forged ` +
		`may not carry the platform.tenantai.io/tenant or app.kubernetes.io/managed-by=tenantai label`
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "forged", Labels: map[string]string{platformv1alpha1.TenantLabel: "acme"}}}
		if err = env.Admin.Create(context.Background(), ns, client.DryRunAll); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("a cluster admin outside break-glass created a namespace with the tenant label: the installed policies are not enforced")
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("refused, but not by the policy:\n got: %v\nwant: %s", err, want)
	}
}
