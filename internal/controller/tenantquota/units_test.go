package tenantquota

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// TestStatusListsAreBounded: a tenant's namespaces come first and retained
// ones fill up to the schema's maxItems; the rest are counted, so the status
// stays writable however many namespaces were retained (data-safety 10).
func TestStatusListsAreBounded(t *testing.T) {
	entries := func(prefix string, n int) []platformv1alpha1.NamespaceQuotaStatus {
		out := make([]platformv1alpha1.NamespaceQuotaStatus, n)
		for i := range out {
			out[i].Name = fmt.Sprintf("%s-%03d", prefix, i)
		}
		return out
	}
	got, omitted := listNamespaces(entries("active", 30), entries("retained", 200))
	if len(got) != maxStatusNamespaces || omitted != 230-maxStatusNamespaces {
		t.Fatalf("listed %d, omitted %d; want %d and %d", len(got), omitted, maxStatusNamespaces, 230-maxStatusNamespaces)
	}
	if got[0].Name != "active-000" || got[29].Name != "active-029" || got[30].Name != "retained-000" {
		t.Errorf("the tenant's own namespaces must come first: %s, %s, %s", got[0].Name, got[29].Name, got[30].Name)
	}
	if got, omitted := listNamespaces(entries("active", 3), nil); len(got) != 3 || omitted != 0 {
		t.Errorf("a small tenant: %d listed, %d omitted", len(got), omitted)
	}
}

// TestRefusedDemandWithoutTheMessage: demand-awareness reads the quantities
// in quota admission's message, Kubernetes' own wording; when it does not
// parse, a refused model still pulls one pod's worth (data-safety 11).
func TestRefusedDemandWithoutTheMessage(t *testing.T) {
	md := &platformv1alpha1.ModelDeployment{Spec: platformv1alpha1.ModelDeploymentSpec{Runtime: platformv1alpha1.Runtime{
		Resources: platformv1alpha1.ModelResources{Requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("2"), corev1.ResourceCPU: resource.MustParse("4")}}}}}
	md.Status.Conditions = []metav1.Condition{{Type: platformv1alpha1.ModelConditionQuotaExceeded, Status: metav1.ConditionTrue,
		Message: "pods were refused: the quota is full (a wording this operator does not know)"}}
	md.Name, md.Namespace = "chat", "acme-prod"
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(md).Build()
	r := &Reconciler{Client: c}
	wanted, err := r.demand(context.Background(), "acme-prod", corev1.ResourceList{
		"requests.nvidia.com/gpu": resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("1")})
	if err != nil {
		t.Fatal(err)
	}
	if q := wanted["requests.nvidia.com/gpu"]; q.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("wanted GPUs = %s, want one pod's worth (2) although the message did not parse", q.String())
	}
}

// TestFinalizerRemovalNeverDropsAnotherControllersFinalizer: the patch that
// removes the operator's finalizer carries the resourceVersion it read, so a
// finalizer another controller added meanwhile makes it conflict (and the
// reconcile retry) instead of being dropped (data-safety 7).
func TestFinalizerRemovalNeverDropsAnotherControllersFinalizer(t *testing.T) {
	ctx := context.Background()
	now := metav1.Now()
	tq := &platformv1alpha1.TenantQuota{ObjectMeta: metav1.ObjectMeta{Name: "acme", Finalizers: []string{Finalizer}, DeletionTimestamp: &now},
		Spec: platformv1alpha1.TenantQuotaSpec{TenantRef: platformv1alpha1.TenantRef{Name: "acme"}}}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(tq).Build()
	read := &platformv1alpha1.TenantQuota{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(tq), read); err != nil {
		t.Fatal(err)
	}
	// Another controller adds its finalizer after the operator read the object.
	other := read.DeepCopy()
	other.Finalizers = append(other.Finalizers, "example.com/backup")
	if err := c.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: c, APIReader: c}
	err := r.reconcileDelete(ctx, newScope(read))
	if !apierrors.IsConflict(err) {
		t.Fatalf("removing the finalizer from a stale read: %v, want a conflict", err)
	}
	live := &platformv1alpha1.TenantQuota{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(tq), live); err != nil {
		t.Fatal(err)
	}
	if len(live.Finalizers) != 2 {
		t.Errorf("finalizers now %v: another controller's was dropped", live.Finalizers)
	}
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := platformv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}
