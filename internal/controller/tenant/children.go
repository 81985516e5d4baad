package tenant

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
)

// terminatingRecheck is how often a terminating namespace is looked at again
// when no watch event arrives for it.
const terminatingRecheck = 10 * time.Second

// ensure applies a guardrail unless the cache already holds it, and records an
// Event when what it repaired was drift.
func (r *Reconciler) ensure(ctx context.Context, s *scope, desired client.Object) error {
	_, result, err := r.applier().Ensure(ctx, desired)
	if err != nil {
		return err
	}
	if result != apply.Unchanged {
		kind := fmt.Sprintf("%T", desired)
		r.recordDrift(s, kind[1:], desired.GetNamespace()+"/"+desired.GetName(), result.String())
	}
	return nil
}

// recordDrift emits an Event when an object had to be restored although the
// tenant's generation was already reconciled: someone deleted or edited it.
func (r *Reconciler) recordDrift(s *scope, kind, name, what string) {
	if !s.reconciled() || r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(s.tenant, nil, corev1.EventTypeWarning, platformv1alpha1.EventReasonDriftRepaired, platformv1alpha1.EventActionRepair,
		"restored %s %s (%s) to its declared state", kind, name, what)
}

// deleteStale deletes the tenant's objects of one kind in a namespace whose
// names are not in keep. It lists from the cache, by the tenant label.
func (r *Reconciler) deleteStale(ctx context.Context, namespace, tenant string, list client.ObjectList, keep map[string]bool) error {
	if err := r.Client.List(ctx, list, client.InNamespace(namespace),
		client.MatchingLabels{platformv1alpha1.TenantLabel: tenant}); err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	for _, item := range items {
		obj := item.(client.Object)
		if keep[obj.GetName()] {
			continue
		}
		if err := r.Client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %T %s/%s: %w", obj, namespace, obj.GetName(), err)
		}
	}
	return nil
}
