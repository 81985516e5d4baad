package tenantquota

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

func status(gen int64, conds ...metav1.Condition) *platformv1alpha1.TenantQuotaStatus {
	s := &platformv1alpha1.TenantQuotaStatus{}
	s.ObservedGeneration = gen
	s.Conditions = conds
	return s
}

func cond(t string, st metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: st, Reason: reason}
}

func TestOnlyProgress(t *testing.T) {
	waitingNS := cond(platformv1alpha1.ConditionReady, metav1.ConditionFalse, platformv1alpha1.TenantQuotaReasonWaitingForNamespaces)
	waitingEnf := cond(platformv1alpha1.ConditionReady, metav1.ConditionFalse, platformv1alpha1.TenantQuotaReasonWaitingForEnforcement)
	ready := cond(platformv1alpha1.ConditionReady, metav1.ConditionTrue, platformv1alpha1.ReasonReconciled)
	stalled := cond(platformv1alpha1.ConditionStalled, metav1.ConditionTrue, platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard)
	for _, tc := range []struct {
		name        string
		before, now *platformv1alpha1.TenantQuotaStatus
		err         error
		want        bool
	}{
		{"one wait to the next", status(1, waitingNS), status(1, waitingEnf), nil, true},
		{"becoming Ready is written at once", status(1, waitingEnf), status(1, ready), nil, false},
		{"leaving Ready is written at once", status(1, ready), status(1, waitingEnf), nil, false},
		{"a new generation is written at once", status(1, waitingNS), status(2, waitingNS), nil, false},
		{"a stall is written at once", status(1, waitingNS), status(1, waitingNS, stalled), nil, false},
		{"an error is written at once", status(1, waitingNS), status(1, waitingNS), errors.New("boom"), false},
		{"the first status (no Ready yet) is written at once", status(-1), status(1, waitingNS), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := onlyProgress(tc.before, tc.now, tc.err); got != tc.want {
				t.Errorf("onlyProgress = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestProgressWritesSpacesWritesOfOneQuota(t *testing.T) {
	var p progressWrites
	a, b := types.NamespacedName{Name: "a"}, types.NamespacedName{Name: "b"}
	t0 := time.Unix(1000, 0)
	if w := p.wait(a, t0); w != 0 {
		t.Fatalf("a quota never written must not wait, waits %s", w)
	}
	p.wrote(a, t0)
	if w := p.wait(a, t0.Add(300*time.Millisecond)); w != 700*time.Millisecond {
		t.Errorf("300 ms after a write: wait %s, want 700ms", w)
	}
	if w := p.wait(b, t0.Add(300*time.Millisecond)); w != 0 {
		t.Errorf("another quota waits %s", w)
	}
	if w := p.wait(a, t0.Add(progressInterval)); w != 0 {
		t.Errorf("after the interval: wait %s, want 0", w)
	}
	p.forget(a)
	if w := p.wait(a, t0.Add(time.Millisecond)); w != 0 {
		t.Errorf("a forgotten quota waits %s", w)
	}
}
