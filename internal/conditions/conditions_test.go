package conditions

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

func tenant(gen int64) *platformv1alpha1.Tenant {
	t := &platformv1alpha1.Tenant{}
	t.Generation = gen
	return t
}

func TestSetKeepsTransitionTimeWhileStatusIsUnchanged(t *testing.T) {
	obj := tenant(1)
	True(obj, "A", "R1", "first")
	first := Get(obj, "A").LastTransitionTime
	time.Sleep(1100 * time.Millisecond) // metav1.Time has second precision
	obj.Generation = 2
	True(obj, "A", "R2", "second")
	c := Get(obj, "A")
	if !c.LastTransitionTime.Equal(&first) {
		t.Errorf("transition time moved from %v to %v without a status change", first, c.LastTransitionTime)
	}
	if c.Reason != "R2" || c.Message != "second" || c.ObservedGeneration != 2 {
		t.Errorf("condition not updated: %+v", c)
	}
	False(obj, "A", "R3", "third")
	if Get(obj, "A").LastTransitionTime.Equal(&first) {
		t.Error("transition time kept across a status change")
	}
}

func TestStalledAndReconcilingArePresentOnlyWhileTrue(t *testing.T) {
	obj := tenant(1)
	MarkReconciling(obj, "Progressing", "working")
	MarkStalled(obj, "NamespaceConflict", "acme-prod belongs to someone else")
	if Get(obj, platformv1alpha1.ConditionReconciling) != nil {
		t.Error("Reconciling left present after MarkStalled")
	}
	MarkSettled(obj)
	if len(obj.Status.Conditions) != 0 {
		t.Errorf("conditions after MarkSettled: %+v", obj.Status.Conditions)
	}
}

func TestSummary(t *testing.T) {
	cases := map[string]struct {
		set        map[string]metav1.ConditionStatus
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		"all true": {
			set:        map[string]metav1.ConditionStatus{"A": metav1.ConditionTrue, "B": metav1.ConditionTrue},
			wantStatus: metav1.ConditionTrue, wantReason: platformv1alpha1.ReasonReconciled,
		},
		"second false takes its reason": {
			set:        map[string]metav1.ConditionStatus{"A": metav1.ConditionTrue, "B": metav1.ConditionFalse},
			wantStatus: metav1.ConditionFalse, wantReason: "reason-B",
		},
		"first false wins over a later one": {
			set:        map[string]metav1.ConditionStatus{"A": metav1.ConditionFalse, "B": metav1.ConditionFalse},
			wantStatus: metav1.ConditionFalse, wantReason: "reason-A",
		},
		"missing condition": {
			set:        map[string]metav1.ConditionStatus{"A": metav1.ConditionTrue},
			wantStatus: metav1.ConditionFalse, wantReason: platformv1alpha1.ReasonProgressing,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := tenant(3)
			for ty, st := range tc.set {
				Set(obj, ty, st, "reason-"+ty, "message-"+ty)
			}
			Summary(obj, "ready", "A", "B")
			ready := Get(obj, platformv1alpha1.ConditionReady)
			if ready.Status != tc.wantStatus || ready.Reason != tc.wantReason || ready.ObservedGeneration != 3 {
				t.Errorf("Ready = %s/%s (gen %d), want %s/%s (gen 3)", ready.Status, ready.Reason, ready.ObservedGeneration, tc.wantStatus, tc.wantReason)
			}
		})
	}
}
