package tenantquota

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
)

// revocationRecheck is how often a TenantQuota being deleted looks again
// for the tenant's RoleBindings, should no deletion event arrive.
const revocationRecheck = 2 * time.Second

// reconcileDelete removes the tenant's ResourceQuotas and releases the
// finalizer. Under quotaPolicy Required the order of creation is reversed:
// the Tenant controller withdraws every tenant RoleBinding as soon as the
// TenantQuota is being deleted, and the quotas go only once none is left,
// so no principal is ever bound in a namespace without its quota. Deleting
// the TenantQuota of such a tenant therefore revokes all its access.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) error {
	if !controllerutil.ContainsFinalizer(s.tq, Finalizer) {
		s.deleted = true
		return nil
	}
	bound, err := r.boundNamespaces(ctx, s)
	if err != nil {
		return err
	}
	if len(bound) > 0 {
		msg := fmt.Sprintf("waiting for the Tenant's RoleBindings in %s to be revoked before removing the quotas (quotaPolicy Required)",
			strings.Join(bound, ", "))
		conditions.False(s.tq, platformv1alpha1.ConditionReady, platformv1alpha1.TenantQuotaReasonRevokingAccess, msg)
		conditions.MarkReconciling(s.tq, platformv1alpha1.TenantQuotaReasonRevokingAccess, msg)
		s.deleting = true
		s.requeueAfter = revocationRecheck
		return nil
	}
	list := &corev1.ResourceQuotaList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: s.tq.Spec.TenantRef.Name}); err != nil {
		return err
	}
	for i := range list.Items {
		rq := &list.Items[i]
		if rq.Name != naming.ResourceQuota && rq.Name != naming.BatchResourceQuota {
			continue
		}
		if err := client.IgnoreNotFound(r.Client.Delete(ctx, rq)); err != nil {
			return fmt.Errorf("deleting ResourceQuota %s/%s: %w", rq.Namespace, rq.Name, err)
		}
	}
	patch := client.MergeFromWithOptions(s.tq.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(s.tq, Finalizer)
	if err := client.IgnoreNotFound(r.Client.Patch(ctx, s.tq, patch)); err != nil {
		return err
	}
	s.deleted = true
	return nil
}

// boundNamespaces lists the namespaces where the tenant still has a
// RoleBinding to a tenant role, when its quotaPolicy is Required (with
// Optional, or without a Tenant, the quotas may go at once).
func (r *Reconciler) boundNamespaces(ctx context.Context, s *scope) ([]string, error) {
	tenant := &platformv1alpha1.Tenant{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: s.tq.Spec.TenantRef.Name}, tenant)
	if apierrors.IsNotFound(err) || (err == nil && tenant.Spec.QuotaPolicy == platformv1alpha1.QuotaOptional) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// RoleBindings are observed by fingerprint, not cached (internal/
	// observed): this read, only while a TenantQuota is being deleted, goes
	// to the API server.
	bindings := &rbacv1.RoleBindingList{}
	if err := r.APIReader.List(ctx, bindings, client.MatchingLabels{
		platformv1alpha1.TenantLabel: tenant.Name, platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue}); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, rb := range bindings.Items {
		if rb.RoleRef.Kind == "ClusterRole" && naming.IsTenantRole(rb.RoleRef.Name) && !seen[rb.Namespace] {
			seen[rb.Namespace] = true
			out = append(out, rb.Namespace)
		}
	}
	return out, nil
}
