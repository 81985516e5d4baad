package tenant

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// deleteStaleNetworkPolicies deletes the tenant's NetworkPolicies in a
// namespace whose names are not in keep.
func (r *Reconciler) deleteStaleNetworkPolicies(ctx context.Context, namespace, tenant string, keep map[string]bool) error {
	names, err := r.guardrailNames(ctx, &networkingv1.NetworkPolicy{}, &networkingv1.NetworkPolicyList{}, namespace, tenant)
	if err != nil {
		return err
	}
	for _, name := range names {
		if keep[name] {
			continue
		}
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
		if err := r.Client.Delete(ctx, np); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting NetworkPolicy %s/%s: %w", namespace, name, err)
		}
	}
	return nil
}
