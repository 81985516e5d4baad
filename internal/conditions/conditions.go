// Package conditions implements the status contract shared by every tenantai
// kind: Ready always present, Reconciling and Stalled only while True, an
// observedGeneration on every condition, and timestamps that change only when
// a condition's status does.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Set sets a condition, stamped with the object's generation. The transition
// time is kept unless the status changes, so an unchanged object produces an
// identical status and no write.
func Set(obj platformv1alpha1.ObjectWithConditions, condType string, status metav1.ConditionStatus, reason, message string) {
	s := obj.GetStatus()
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
}

// True sets a condition to True.
func True(obj platformv1alpha1.ObjectWithConditions, condType, reason, message string) {
	Set(obj, condType, metav1.ConditionTrue, reason, message)
}

// False sets a condition to False.
func False(obj platformv1alpha1.ObjectWithConditions, condType, reason, message string) {
	Set(obj, condType, metav1.ConditionFalse, reason, message)
}

// Remove removes a condition.
func Remove(obj platformv1alpha1.ObjectWithConditions, condType string) {
	meta.RemoveStatusCondition(&obj.GetStatus().Conditions, condType)
}

// Get returns a condition, or nil.
func Get(obj platformv1alpha1.ObjectWithConditions, condType string) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetStatus().Conditions, condType)
}

// IsTrue reports whether a condition is present and True.
func IsTrue(obj platformv1alpha1.ObjectWithConditions, condType string) bool {
	return meta.IsStatusConditionTrue(obj.GetStatus().Conditions, condType)
}

// MarkStalled sets Stalled=True and removes Reconciling: the operator cannot
// progress until the spec or the cluster changes.
func MarkStalled(obj platformv1alpha1.ObjectWithConditions, reason, message string) {
	True(obj, platformv1alpha1.ConditionStalled, reason, message)
	Remove(obj, platformv1alpha1.ConditionReconciling)
}

// MarkReconciling sets Reconciling=True (and removes Stalled).
func MarkReconciling(obj platformv1alpha1.ObjectWithConditions, reason, message string) {
	True(obj, platformv1alpha1.ConditionReconciling, reason, message)
	Remove(obj, platformv1alpha1.ConditionStalled)
}

// MarkSettled removes Reconciling and Stalled: nothing is in progress and
// nothing is blocked.
func MarkSettled(obj platformv1alpha1.ObjectWithConditions) {
	Remove(obj, platformv1alpha1.ConditionReconciling)
	Remove(obj, platformv1alpha1.ConditionStalled)
}

// Summary derives Ready from the given condition types, in priority order: Ready
// is True when all are True; otherwise it takes the reason and message of the
// first that is not, so a user sees in Ready why the object is not ready.
func Summary(obj platformv1alpha1.ObjectWithConditions, readyMessage string, types ...string) {
	for _, t := range types {
		c := Get(obj, t)
		if c == nil {
			False(obj, platformv1alpha1.ConditionReady, platformv1alpha1.ReasonProgressing, t+" has not been observed yet")
			return
		}
		if c.Status != metav1.ConditionTrue {
			False(obj, platformv1alpha1.ConditionReady, c.Reason, c.Message)
			return
		}
	}
	True(obj, platformv1alpha1.ConditionReady, platformv1alpha1.ReasonReconciled, readyMessage)
}

// StalledReason returns the reason of Stalled in a list when it is True, or
// "": for telling a new or changed stall from one already reported.
func StalledReason(list []metav1.Condition) string {
	if c := meta.FindStatusCondition(list, platformv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return ""
}

// StatusIn returns the status of a condition in a list, or "" when absent:
// for comparing a status read at the start of a reconcile with the new one.
func StatusIn(list []metav1.Condition, condType string) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(list, condType); c != nil {
		return c.Status
	}
	return ""
}
