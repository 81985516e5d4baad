package modeldeployment

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// desiredServiceAccount is the model's own identity: no API permissions are
// bound to it and no token is mounted, so a compromised model server holds no
// credential for the API server.
func desiredServiceAccount(md *platformv1alpha1.ModelDeployment, tenant string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta:                   childMeta(md, tenant, naming.ModelServiceAccount(md.Name)),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// reconcileServiceAccount applies the ServiceAccount first: the pods name it.
func (r *Reconciler) reconcileServiceAccount(ctx context.Context, s *scope) error {
	return r.ensure(ctx, s, s.desired.serviceAccount)
}
