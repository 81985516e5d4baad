package manager

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

func appliedClientSide() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:          "acme",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		Annotations: map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"apiVersion":"platform.tenantai.io/v1alpha1","kind":"Tenant"}`,
			"team":                             "a",
		},
	}
}

// TestCacheKeepsNoSecondCopyOfAppliedObjects: objects applied client-side
// (kubectl apply, Argo CD's default) carry a copy of themselves in an
// annotation; the cache drops it, except for the Secrets the operator
// writes back with an Update, whose annotations must survive.
func TestCacheKeepsNoSecondCopyOfAppliedObjects(t *testing.T) {
	opts := CacheOptions(time.Hour)
	tn := &platformv1alpha1.Tenant{ObjectMeta: appliedClientSide()}
	out, err := opts.DefaultTransform(tn)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*platformv1alpha1.Tenant)
	if _, kept := got.Annotations[corev1.LastAppliedConfigAnnotation]; kept || got.ManagedFields != nil {
		t.Errorf("the Tenant kept last-applied-configuration or managedFields: %v", got.ObjectMeta)
	}
	if got.Annotations["team"] != "a" {
		t.Errorf("another annotation was dropped: %v", got.Annotations)
	}

	var secretTransform func(any) (any, error)
	for obj, by := range opts.ByObject {
		if _, ok := obj.(*corev1.Secret); ok {
			secretTransform = by.Transform
		}
	}
	if secretTransform == nil {
		t.Fatal("Secrets have no transform of their own: the default one would drop annotations an Update writes back")
	}
	out, err = secretTransform(&corev1.Secret{ObjectMeta: appliedClientSide()})
	if err != nil {
		t.Fatal(err)
	}
	secret := out.(*corev1.Secret)
	if secret.Annotations[corev1.LastAppliedConfigAnnotation] == "" || secret.ManagedFields != nil {
		t.Errorf("the Secret lost last-applied-configuration or kept managedFields: %v", secret.ObjectMeta)
	}
}

// TestCachedQuotaSharesItsEnforcedHard: an enforced ResourceQuota keeps one
// map for spec.hard and status.hard; one not yet enforced keeps both, so the
// TenantQuota controller still sees that it waits for enforcement.
func TestCachedQuotaSharesItsEnforcedHard(t *testing.T) {
	var transform func(any) (any, error)
	for obj, by := range CacheOptions(time.Hour).ByObject {
		if _, ok := obj.(*corev1.ResourceQuota); ok {
			transform = by.Transform
		}
	}
	if transform == nil {
		t.Fatal("ResourceQuotas have no transform")
	}
	quota := func(spec, status string) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: appliedClientSide(),
			Spec:   corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse(spec)}},
			Status: corev1.ResourceQuotaStatus{Hard: corev1.ResourceList{"pods": resource.MustParse(status)}}}
	}
	out, _ := transform(quota("4", "4"))
	enforced := out.(*corev1.ResourceQuota)
	enforced.Spec.Hard["probe"] = resource.MustParse("1")
	if _, shared := enforced.Status.Hard["probe"]; !shared {
		t.Error("an enforced quota keeps two copies of its hard")
	}
	if enforced.ManagedFields != nil || enforced.Annotations[corev1.LastAppliedConfigAnnotation] != "" {
		t.Error("the quota's metadata was not trimmed")
	}
	out, _ = transform(quota("4", "2"))
	pending := out.(*corev1.ResourceQuota)
	if got := pending.Status.Hard["pods"]; got.String() != "2" {
		t.Errorf("a quota waiting for enforcement shows status.hard pods=%s, want 2", got.String())
	}
}
