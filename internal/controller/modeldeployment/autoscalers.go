package modeldeployment

import (
	"context"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// desiredAutoscaler is an autoscaling/v2 HPA whose target is the
// ModelDeployment itself, through its /scale subresource: the HPA writes
// spec.replicas, reads status.replicas and status.selector, and the operator
// splits the total between the Deployments. Nobody else writes the
// Deployments' replicas, so the HPA and the operator never fight. Returns nil
// without spec.autoscaling.
func desiredAutoscaler(md *platformv1alpha1.ModelDeployment, tenant string) *autoscalingv2.HorizontalPodAutoscaler {
	a := md.Spec.Autoscaling
	if a == nil {
		return nil
	}
	var metrics []autoscalingv2.MetricSpec
	if a.TargetCPUUtilizationPercentage != nil {
		target := *a.TargetCPUUtilizationPercentage
		metrics = append(metrics, autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
			},
		})
	}
	for i := range a.Metrics {
		metrics = append(metrics, *a.Metrics[i].DeepCopy())
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: childMeta(md, tenant, md.Name),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: platformv1alpha1.GroupVersion.String(), Kind: modelDeploymentKind, Name: md.Name,
			},
			MaxReplicas: a.MaxReplicas,
			Metrics:     metrics,
		},
	}
	if a.MinReplicas != nil {
		hpa.Spec.MinReplicas = ptr.To(*a.MinReplicas)
	}
	return hpa
}

// reconcileAutoscaler applies the HPA while spec.autoscaling is set; once it
// is removed, deleteStaleChildren deletes the HPA and spec.replicas (the
// user's count) applies again.
func (r *Reconciler) reconcileAutoscaler(ctx context.Context, s *scope) error {
	if s.desired.autoscaler == nil {
		return nil
	}
	return r.ensure(ctx, s, s.desired.autoscaler)
}
