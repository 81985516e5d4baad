package tenant

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
)

// readyMessage is Ready's message when everything is in place.
func readyMessage(s *scope) string {
	return fmt.Sprintf("tenant %s is ready in %d namespaces", s.tenant.Name, len(s.owned))
}

// summarize derives Ready, Reconciling and Stalled from the phase conditions
// and the outcome of the reconcile.
func summarize(s *scope, reconcileErr error) {
	t := s.tenant
	if s.completed {
		t.Status.ObservedGeneration = t.Generation
	}
	conditions.Summary(t, readyMessage(s),
		platformv1alpha1.TenantConditionNamespacesReady,
		platformv1alpha1.TenantConditionNetworkIsolationReady,
		platformv1alpha1.TenantConditionEncryptionReady,
		platformv1alpha1.TenantConditionRBACReady)
	stall := stallOf(s)
	switch {
	case reconcileErr != nil:
		conditions.False(t, platformv1alpha1.ConditionReady, platformv1alpha1.ReasonError, reconcileErr.Error())
		conditions.MarkReconciling(t, platformv1alpha1.ReasonError, "retrying after an error: "+reconcileErr.Error())
	case stall != nil:
		conditions.False(t, platformv1alpha1.ConditionReady, stall.reason, stall.message)
		conditions.MarkStalled(t, stall.reason, stall.message)
	case len(s.deleting) > 0:
		conditions.MarkReconciling(t, platformv1alpha1.TenantReasonDeletingNamespaces, deletingMessage(s))
		s.requeue(terminatingRecheck)
	case conditions.IsTrue(t, platformv1alpha1.ConditionReady):
		conditions.MarkSettled(t)
	default:
		ready := conditions.Get(t, platformv1alpha1.ConditionReady)
		conditions.MarkReconciling(t, ready.Reason, ready.Message)
	}
}

// stallOf is the first reason the tenant cannot progress until its spec, an
// admin or the cluster acts: a namespace someone else holds, one an earlier
// Tenant retained, a subject that is never bound, a data key that cannot be
// trusted, a hostname another tenant claims.
func stallOf(s *scope) *stall {
	t := s.tenant
	switch {
	case len(s.conflicts) > 0 || len(s.adoptionRequired) > 0:
		ns := conditions.Get(t, platformv1alpha1.TenantConditionNamespacesReady)
		return &stall{ns.Reason, ns.Message}
	case len(s.forbiddenSubjects) > 0:
		return &stall{platformv1alpha1.TenantReasonForbiddenSubject, fmt.Sprintf(
			"%s is never bound: system: users and groups stand for everyone, anyone, all service accounts, the nodes or cluster admins; "+
				"remove it from owners/members (the other principals are bound)", strings.Join(s.forbiddenSubjects, ", "))}
	case s.keyStall != nil:
		return s.keyStall
	case len(s.hostnameConflicts) > 0:
		return &stall{platformv1alpha1.TenantReasonHostnameConflict,
			"exposure.hostnames overlap another tenant's, so none are granted: " + strings.Join(s.hostnameConflicts, "; ")}
	}
	return nil
}

// patchStatus writes the status once per reconcile, and only if it changed;
// it records an Event when Ready changes.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope, reconcileErr error) error {
	if s.deleted {
		return nil
	}
	t := s.tenant
	if !t.DeletionTimestamp.IsZero() && reconcileErr == nil {
		return nil
	}
	summarize(s, reconcileErr)
	if equality.Semantic.DeepEqual(*s.before, t.Status) {
		return nil
	}
	r.recordReadyTransition(s, r.written.Before(t, s.before.Conditions))
	r.written.Remember(t, t.Status.Conditions)
	original := t.DeepCopy()
	original.Status = *s.before
	if err := r.Client.Status().Patch(ctx, t, client.MergeFrom(original), client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// recordReadyTransition records an Event when Ready changes status, and when
// a stall (NamespaceConflict, HostnameConflict) begins or changes reason while
// Ready stays False: refused work is news even if the tenant was not Ready.
// Only transitions from was, the conditions last written, are recorded, never
// one Event per reconcile.
func (r *Reconciler) recordReadyTransition(s *scope, was []metav1.Condition) {
	if r.Recorder == nil {
		return
	}
	now := conditions.Get(s.tenant, platformv1alpha1.ConditionReady)
	if now == nil {
		return
	}
	statusChanged := now.Status != conditions.StatusIn(was, platformv1alpha1.ConditionReady)
	stall := conditions.StalledReason(s.tenant.Status.Conditions)
	stallChanged := stall != "" && stall != conditions.StalledReason(was)
	switch {
	case now.Status == metav1.ConditionTrue && statusChanged:
		r.Recorder.Eventf(s.tenant, nil, corev1.EventTypeNormal, platformv1alpha1.EventReasonReady,
			platformv1alpha1.EventActionReconcile, "%s", now.Message)
	case now.Status != metav1.ConditionTrue && (statusChanged || stallChanged):
		r.Recorder.Eventf(s.tenant, nil, corev1.EventTypeWarning, now.Reason,
			platformv1alpha1.EventActionReconcile, "%s", now.Message)
	}
}
