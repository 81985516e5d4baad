package tenantquota

import (
	"slices"
	"time"

	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/quota"
)

// observe fills used, the per-namespace quotas and Exhausted from what was
// read. Exhausted is informational and never makes Ready False.
func observe(s *scope) {
	used := corev1.ResourceList{}
	var active, retained []platformv1alpha1.NamespaceQuotaStatus
	for _, ns := range s.namespaces {
		rq, ok := s.quotas[ns.Name]
		if !ok {
			continue
		}
		hard := rq.Status.Hard
		if len(hard) == 0 {
			hard = rq.Spec.Hard
		}
		entry := platformv1alpha1.NamespaceQuotaStatus{Name: ns.Name, Hard: hard.DeepCopy(), Used: rq.Status.Used.DeepCopy()}
		if ns.Frozen {
			retained = append(retained, entry)
		} else {
			active = append(active, entry)
		}
		used = quotav1.Add(used, rq.Status.Used)
	}
	s.tq.Status.Namespaces, s.tq.Status.NamespacesOmitted = listNamespaces(active, retained)
	s.tq.Status.Used = used
	var exhausted, over []string
	for _, name := range quota.SortedNames(s.hard) {
		limit, u := s.hard[name], used[name]
		switch {
		case u.Cmp(limit) > 0:
			over = append(over, fmt.Sprintf("%s %s/%s", name, u.String(), limit.String()))
		case u.Cmp(limit) == 0 && limit.Sign() > 0:
			exhausted = append(exhausted, fmt.Sprintf("%s %s/%s", name, u.String(), limit.String()))
		}
	}
	switch {
	case len(over) > 0:
		conditions.True(s.tq, platformv1alpha1.TenantQuotaConditionExhausted, platformv1alpha1.TenantQuotaReasonOverQuota,
			"over the tenant total (hard lowered below use; nothing is evicted, new pods are refused): "+strings.Join(over, ", "))
	case len(exhausted) > 0:
		conditions.True(s.tq, platformv1alpha1.TenantQuotaConditionExhausted, platformv1alpha1.TenantQuotaReasonResourceExhausted,
			"at 100% of the tenant total: "+strings.Join(exhausted, ", "))
	default:
		conditions.False(s.tq, platformv1alpha1.TenantQuotaConditionExhausted, platformv1alpha1.TenantQuotaReasonWithinQuota,
			"every resource is below the tenant total")
	}
}

// maxStatusNamespaces is the most namespaces status lists (the schema's
// maxItems): a tenant's own come first, then the retained ones, which can
// pile up without bound; the rest are counted in namespacesOmitted (their
// use is still in used), so the status can always be written.
const maxStatusNamespaces = 128

func listNamespaces(active, retained []platformv1alpha1.NamespaceQuotaStatus) ([]platformv1alpha1.NamespaceQuotaStatus, int32) {
	all := slices.Concat(active, retained)
	if len(all) <= maxStatusNamespaces {
		return all, 0
	}
	return all[:maxStatusNamespaces], int32(len(all) - maxStatusNamespaces)
}

func summarize(s *scope, reconcileErr error) {
	t := s.tq
	if s.completed && reconcileErr == nil {
		t.Status.ObservedGeneration = t.Generation
	}
	if reconcileErr != nil {
		conditions.False(t, platformv1alpha1.ConditionReady, platformv1alpha1.ReasonError, reconcileErr.Error())
		conditions.MarkReconciling(t, platformv1alpha1.ReasonError, "retrying after an error: "+reconcileErr.Error())
		return
	}
	if s.tenant == nil || s.stalled {
		return // TenantNotFound or a stalled static split set their own conditions
	}
	observe(s)
	conditions.Summary(t, fmt.Sprintf("quota of tenant %s enforced in %d namespaces", s.tenant.Name, len(s.quotas)),
		platformv1alpha1.TenantQuotaConditionQuotaApplied)
	if conditions.IsTrue(t, platformv1alpha1.ConditionReady) {
		conditions.MarkSettled(t)
		return
	}
	ready := conditions.Get(t, platformv1alpha1.ConditionReady)
	conditions.MarkReconciling(t, ready.Reason, ready.Message)
}

// patchStatus writes the status once, only if it changed.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope, reconcileErr error) error {
	if s.deleted {
		return nil
	}
	summarize(s, reconcileErr)
	if equality.Semantic.DeepEqual(*s.before, s.tq.Status) {
		return nil
	}
	key := client.ObjectKeyFromObject(s.tq)
	now := time.Now()
	if onlyProgress(s.before, &s.tq.Status, reconcileErr) {
		if wait := r.progress.wait(key, now); wait > 0 {
			if s.requeueAfter == 0 || wait < s.requeueAfter {
				s.requeueAfter = wait
			}
			return nil
		}
	}
	r.progress.wrote(key, now)
	r.recordTransitions(s, r.written.Before(s.tq, s.before.Conditions))
	r.written.Remember(s.tq, s.tq.Status.Conditions)
	original := s.tq.DeepCopy()
	original.Status = *s.before
	return client.IgnoreNotFound(r.Client.Status().Patch(ctx, s.tq, client.MergeFrom(original)))
}

// onlyProgress reports whether a status change is only news about the way
// to Ready: Ready stays not True, no stall begins or ends, no error, the same
// observedGeneration. Such a write may wait for progressInterval.
func onlyProgress(before, now *platformv1alpha1.TenantQuotaStatus, reconcileErr error) bool {
	if reconcileErr != nil || before.ObservedGeneration != now.ObservedGeneration {
		return false
	}
	ready := conditions.StatusIn(now.Conditions, platformv1alpha1.ConditionReady)
	if ready == metav1.ConditionTrue || ready != conditions.StatusIn(before.Conditions, platformv1alpha1.ConditionReady) {
		return false
	}
	return conditions.StalledReason(now.Conditions) == conditions.StalledReason(before.Conditions)
}

// recordTransitions records an Event when Ready or Exhausted changes status,
// and when a stall (StaticSplitExceedsHard) begins while Ready is already
// False: refused work is news even if the quota was not Ready. Only
// transitions from was, the conditions last written, are recorded, never one
// Event per reconcile.
func (r *Reconciler) recordTransitions(s *scope, was []metav1.Condition) {
	if r.Recorder == nil {
		return
	}
	r.recordReady(s, was)
	now := conditions.Get(s.tq, platformv1alpha1.TenantQuotaConditionExhausted)
	if now == nil || conditions.StatusIn(was, now.Type) == now.Status {
		return
	}
	eventType := corev1.EventTypeNormal
	if now.Status == metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(s.tq, nil, eventType, now.Reason, platformv1alpha1.EventActionReconcile, "%s", now.Message)
}

func (r *Reconciler) recordReady(s *scope, was []metav1.Condition) {
	now := conditions.Get(s.tq, platformv1alpha1.ConditionReady)
	if now == nil {
		return
	}
	statusChanged := now.Status != conditions.StatusIn(was, platformv1alpha1.ConditionReady)
	stall := conditions.StalledReason(s.tq.Status.Conditions)
	stallChanged := stall != "" && stall != conditions.StalledReason(was)
	switch {
	case now.Status == metav1.ConditionTrue && statusChanged:
		r.Recorder.Eventf(s.tq, nil, corev1.EventTypeNormal, platformv1alpha1.EventReasonReady,
			platformv1alpha1.EventActionReconcile, "%s", now.Message)
	case now.Status != metav1.ConditionTrue && (statusChanged || stallChanged):
		r.Recorder.Eventf(s.tq, nil, corev1.EventTypeWarning, now.Reason,
			platformv1alpha1.EventActionReconcile, "%s", now.Message)
	}
}
