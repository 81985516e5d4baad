package quota

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// RequestedIn reads what quota admission refused from its message,
// "exceeded quota: tenantai-quota, requested: requests.nvidia.com/gpu=1, used: ..., limited: ...".
// The wording is Kubernetes' own and may change: callers keep a fallback for
// an empty result, and a test against a real API server fails when it stops
// parsing.
func RequestedIn(message string) corev1.ResourceList {
	out := corev1.ResourceList{}
	_, rest, ok := strings.Cut(message, "requested: ")
	if !ok {
		return out
	}
	rest, _, _ = strings.Cut(rest, ", used: ")
	for _, pair := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		if q, err := resource.ParseQuantity(v); err == nil {
			out[corev1.ResourceName(k)] = q
		}
	}
	return out
}
