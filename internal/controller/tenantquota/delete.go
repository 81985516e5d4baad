package tenantquota

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// reconcileDelete removes the tenant's ResourceQuotas (a tenant without a
// TenantQuota has none from tenantai; with quotaPolicy Required the Tenant
// controller then withdraws its RoleBindings) and releases the finalizer.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) error {
	if controllerutil.ContainsFinalizer(s.tq, Finalizer) {
		list := &corev1.ResourceQuotaList{}
		if err := r.Client.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: s.tq.Spec.TenantRef.Name}); err != nil {
			return err
		}
		for i := range list.Items {
			rq := &list.Items[i]
			if rq.Name != naming.ResourceQuota {
				continue
			}
			if err := client.IgnoreNotFound(r.Client.Delete(ctx, rq)); err != nil {
				return fmt.Errorf("deleting ResourceQuota %s/%s: %w", rq.Namespace, rq.Name, err)
			}
		}
		patch := client.MergeFrom(s.tq.DeepCopy())
		controllerutil.RemoveFinalizer(s.tq, Finalizer)
		if err := client.IgnoreNotFound(r.Client.Patch(ctx, s.tq, patch)); err != nil {
			return err
		}
	}
	s.deleted = true
	return nil
}
