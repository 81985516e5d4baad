package modeldeployment

import (
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// splitReplicas divides the ModelDeployment's total (spec.replicas: the
// user's count, or the HPA's through /scale) between the stable and the
// canary Deployment, as Argo Rollouts does: canary = max(1, round(total ×
// weight / 100)), stable = max(1, total − canary). A running canary therefore
// always has a pod and so does the stable version, even when that makes one
// pod more than total (total 1 with a canary runs 1 + 1). Total 0 scales
// both to zero. Without a canary the stable Deployment gets the total.
func splitReplicas(total int32, canary *platformv1alpha1.Canary) (stableReplicas, canaryReplicas int32) {
	if total <= 0 {
		return 0, 0
	}
	if canary == nil {
		return total, 0
	}
	// Round half up, in integers: (total × weight + 50) / 100.
	c := max(1, (total*canary.Weight+50)/100)
	return max(1, total-c), c
}

// totalReplicas is spec.replicas; the schema defaults it to 1.
func totalReplicas(md *platformv1alpha1.ModelDeployment) int32 {
	return ptr.Deref(md.Spec.Replicas, 1)
}

// maxPods is the most pods the ModelDeployment can run: what the split gives
// for its current total, or for the HPA's maxReplicas when that is more.
func maxPods(md *platformv1alpha1.ModelDeployment) int32 {
	s, c := splitReplicas(totalReplicas(md), md.Spec.Canary)
	n := s + c
	if a := md.Spec.Autoscaling; a != nil {
		s, c = splitReplicas(a.MaxReplicas, md.Spec.Canary)
		n = max(n, s+c)
	}
	return n
}
