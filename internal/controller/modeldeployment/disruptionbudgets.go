package modeldeployment

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// desiredDisruptionBudget lets voluntary disruptions (node drains) take one
// model pod at a time, across both tracks. It exists only when more than one
// pod can run: with a single pod, maxUnavailable 1 protects nothing, and
// minAvailable 1 would block every drain. A pod that is not ready (still
// loading, crash-looping) may always be evicted, so a broken server never
// blocks a drain. Returns nil when at most one pod can exist.
func desiredDisruptionBudget(md *platformv1alpha1.ModelDeployment, tenant string) *policyv1.PodDisruptionBudget {
	if maxPods(md) <= 1 {
		return nil
	}
	maxUnavailable := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: childMeta(md, tenant, md.Name),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             &maxUnavailable,
			Selector:                   &metav1.LabelSelector{MatchLabels: modelSelector(tenant, md.Name)},
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}

// reconcileDisruptionBudget applies the PodDisruptionBudget when one is
// wanted; deleteStaleChildren deletes it otherwise.
func (r *Reconciler) reconcileDisruptionBudget(ctx context.Context, s *scope) error {
	if s.desired.disruptionBudget == nil {
		return nil
	}
	return r.ensure(ctx, s, s.desired.disruptionBudget)
}
