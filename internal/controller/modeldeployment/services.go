package modeldeployment

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// desiredService is the model's one in-cluster endpoint, in front of both
// tracks: traffic splits between stable and canary by their replica ratio.
// ClusterIP only: no NodePort, no LoadBalancer, no externalIPs.
func desiredService(md *platformv1alpha1.ModelDeployment, tenant string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: childMeta(md, tenant, md.Name),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: modelSelector(tenant, md.Name),
			Ports: []corev1.ServicePort{{
				Name: portName, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromString(portName),
			}},
		},
	}
}

func (r *Reconciler) reconcileService(ctx context.Context, s *scope) error {
	return r.ensure(ctx, s, s.desired.service)
}
