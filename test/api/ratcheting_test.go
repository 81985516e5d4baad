package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// withoutRule runs fn while the CRD lacks the validation rule whose message
// contains msg (as a cluster of the previous release did), then restores it.
func withoutRule(t *testing.T, env *testenv.Env, crd, msg string, fn func()) {
	t.Helper()
	ctx := context.Background()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: crd}, u); err != nil {
		t.Fatal(err)
	}
	original := u.DeepCopy()
	if !removeRule(u.Object, msg) {
		t.Fatalf("no rule saying %q in %s", msg, crd)
	}
	if err := env.Admin.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the API server reloads the schema
	fn()
	restored := original.DeepCopy()
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: crd}, u); err != nil {
		t.Fatal(err)
	}
	restored.SetResourceVersion(u.GetResourceVersion())
	if err := env.Admin.Update(ctx, restored); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
}

// removeRule drops, anywhere in a schema, the x-kubernetes-validations entry
// whose message contains msg.
func removeRule(node any, msg string) bool {
	switch n := node.(type) {
	case map[string]any:
		removed := false
		if rules, ok := n["x-kubernetes-validations"].([]any); ok {
			kept := []any{}
			for _, r := range rules {
				if m, _ := r.(map[string]any)["message"].(string); strings.Contains(m, msg) {
					removed = true
					continue
				}
				kept = append(kept, r)
			}
			n["x-kubernetes-validations"] = kept
		}
		for _, v := range n {
			removed = removeRule(v, msg) || removed
		}
		return removed
	case []any:
		removed := false
		for _, v := range n {
			removed = removeRule(v, msg) || removed
		}
		return removed
	}
	return false
}

// TestNewRulesDoNotBlockOldObjects: objects the previous release accepted and
// a rule of this release refuses stay usable: a Tenant with a service-account
// principal elsewhere can still be labelled, given a finalizer's removal, and
// edited elsewhere (only its principals and namespaces must be fixed), and a
// ModelDeployment tolerating the GPU taint without a GPU can still be scaled
// through /scale (the HPA's write).
func TestNewRulesDoNotBlockOldObjects(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	tn := MakeTenant("oldrules").Namespaces("prod").
		Member(platformv1alpha1.SubjectServiceAccount, "ci", "ci-system", platformv1alpha1.RoleDeveloper).Obj()
	md := MakeModelDeployment("default", "oldrules").Obj()
	md.Spec.Placement = &platformv1alpha1.Placement{Tolerations: []corev1.Toleration{
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}
	withoutRule(t, env, "tenants.platform.tenantai.io", "a ServiceAccount named as an owner or member must live", func() {
		if err := env.Admin.Create(ctx, tn); err != nil {
			t.Fatalf("creating the old Tenant: %v", err)
		}
	})
	withoutRule(t, env, "modeldeployments.platform.tenantai.io", "placement.tolerations may tolerate an accelerator taint", func() {
		if err := env.Admin.Create(ctx, md); err != nil {
			t.Fatalf("creating the old ModelDeployment: %v", err)
		}
	})

	live := &platformv1alpha1.Tenant{}
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(tn), live); err != nil {
		t.Fatal(err)
	}
	live.Labels = map[string]string{"team": "ml"}
	live.Finalizers = []string{"example.com/hold"}
	if err := env.Admin.Update(ctx, live); err != nil {
		t.Fatalf("a metadata update of an old Tenant was refused: %v", err)
	}
	live.Finalizers = nil
	live.Spec.DisplayName = "still editable"
	if err := env.Admin.Update(ctx, live); err != nil {
		t.Fatalf("removing a finalizer and editing the display name of an old Tenant was refused: %v", err)
	}
	live.Spec.Namespaces = append(live.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: "dev"})
	expectInvalid(t, env.Admin.Update(ctx, live), "spec", "a ServiceAccount named as an owner or member must live")

	scale := &autoscalingv1.Scale{}
	if err := env.Admin.SubResource("scale").Get(ctx, md, scale); err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 3
	if err := env.Admin.SubResource("scale").Update(ctx, md, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("/scale of an old ModelDeployment was refused (the HPA could not scale it): %v", err)
	}
	got := &platformv1alpha1.ModelDeployment{}
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(md), got); err != nil {
		t.Fatal(err)
	}
	got.Spec.Runtime.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	expectInvalid(t, env.Admin.Update(ctx, got), "spec.placement.tolerations", "placement.tolerations may tolerate an accelerator taint")
	_ = env.Admin.Delete(ctx, got)
	_ = env.Admin.Delete(ctx, live)
}
