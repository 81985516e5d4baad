package tenant

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// defaultRequests apply when a Tenant sets no limitRange: every container gets
// requests, so quota admission never refuses a pod for lacking them. No
// default limits are set unless the Tenant asks: a default limit below a
// container's own request would make the pod invalid.
var defaultRequests = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("100m"),
	corev1.ResourceMemory: resource.MustParse("128Mi"),
}

func desiredLimitRange(t *platformv1alpha1.Tenant, namespace string) *corev1.LimitRange {
	item := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, DefaultRequest: defaultRequests.DeepCopy()}
	if lr := t.Spec.LimitRange; lr != nil {
		if len(lr.DefaultRequest) > 0 {
			item.DefaultRequest = lr.DefaultRequest.DeepCopy()
		}
		if len(lr.Default) > 0 {
			item.Default = lr.Default.DeepCopy()
		}
	}
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: naming.LimitRange, Namespace: namespace, Labels: naming.TenantLabels(t.Name)},
		Spec:       corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}},
	}
}

// reconcileLimitRanges gives every tenant namespace its container defaults.
func (r *Reconciler) reconcileLimitRanges(ctx context.Context, s *scope) error {
	for _, ns := range s.active() {
		if err := r.ensure(ctx, s, desiredLimitRange(s.tenant, ns)); err != nil {
			s.fail(ns, err)
		}
	}
	return nil
}
