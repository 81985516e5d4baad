package tenant

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// reconcileRemovedNamespaces applies the deletion policy to the tenant's
// namespaces that are no longer declared. It acts only on namespaces it sees
// carrying the tenant's label, so an empty list never deletes anything.
func (r *Reconciler) reconcileRemovedNamespaces(ctx context.Context, s *scope) error {
	declared := map[string]bool{}
	for _, e := range s.tenant.Spec.Namespaces {
		declared[s.tenant.NamespaceName(e.Name)] = true
	}
	namespaces, err := r.tenantNamespaces(ctx, s.tenant.Name)
	if err != nil {
		return err
	}
	for i := range namespaces {
		if !declared[namespaces[i].Name] {
			if err := r.release(ctx, s.tenant, &namespaces[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// reconcileDelete runs when the Tenant is being deleted: every namespace is
// released according to the deletion policy, with Delete the data key is
// destroyed, and the finalizer goes. It never waits for namespaces to finish
// terminating.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) error {
	t := s.tenant
	if !controllerutil.ContainsFinalizer(t, Finalizer) {
		s.deleted = true
		return nil
	}
	namespaces, err := r.tenantNamespaces(ctx, t.Name)
	if err != nil {
		return err
	}
	for i := range namespaces {
		if err := r.release(ctx, t, &namespaces[i]); err != nil {
			return err
		}
	}
	if t.Spec.DeletionPolicy == platformv1alpha1.DeletionDelete {
		key := &corev1.Secret{}
		key.Namespace, key.Name = platformv1alpha1.OperatorNamespace, naming.CanonicalKeySecret(t.Name)
		if err := r.Client.Delete(ctx, key); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("destroying data key %s/%s: %w", key.Namespace, key.Name, err)
		}
	}
	patch := client.MergeFrom(t.DeepCopy())
	controllerutil.RemoveFinalizer(t, Finalizer)
	if err := r.Client.Patch(ctx, t, patch); client.IgnoreNotFound(err) != nil {
		return err
	}
	s.deleted = true
	return nil
}

func (r *Reconciler) tenantNamespaces(ctx context.Context, tenant string) ([]corev1.Namespace, error) {
	list := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: tenant}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// release hands a namespace back according to the deletion policy: Delete
// deletes it (with everything in it); Retain revokes every binding to a tenant
// role, keeps the guardrails and the data, and marks it orphaned.
func (r *Reconciler) release(ctx context.Context, t *platformv1alpha1.Tenant, ns *corev1.Namespace) error {
	if t.Spec.DeletionPolicy == platformv1alpha1.DeletionDelete {
		if !ns.DeletionTimestamp.IsZero() {
			return nil
		}
		if err := r.Client.Delete(ctx, ns, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting namespace %s: %w", ns.Name, err)
		}
		return nil
	}
	if ns.Labels[platformv1alpha1.OrphanedLabel] == "true" {
		return nil
	}
	if err := r.revokeTenantBindings(ctx, ns.Name); err != nil {
		return err
	}
	return r.setOrphaned(ctx, ns, true)
}

// revokeTenantBindings deletes every RoleBinding to a tenant role in a
// namespace, the tenant's own included (read from the API server: the cache
// holds only the operator's).
func (r *Reconciler) revokeTenantBindings(ctx context.Context, namespace string) error {
	list := &rbacv1.RoleBindingList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return err
	}
	for i := range list.Items {
		rb := &list.Items[i]
		if rb.RoleRef.Kind != "ClusterRole" || !naming.IsTenantRole(rb.RoleRef.Name) {
			continue
		}
		if err := r.Client.Delete(ctx, rb); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("revoking RoleBinding %s/%s: %w", namespace, rb.Name, err)
		}
	}
	return nil
}

// setOrphaned adds or removes the orphaned label with an explicit merge patch,
// whoever set it.
func (r *Reconciler) setOrphaned(ctx context.Context, ns *corev1.Namespace, orphaned bool) error {
	value := "null"
	if orphaned {
		value = `"true"`
	}
	patch := client.RawPatch(types.MergePatchType,
		fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s}}}`, platformv1alpha1.OrphanedLabel, value))
	if err := r.Client.Patch(ctx, ns, patch, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return fmt.Errorf("labelling namespace %s orphaned=%t: %w", ns.Name, orphaned, err)
	}
	return nil
}
