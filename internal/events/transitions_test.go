package events_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/events"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func ready(status metav1.ConditionStatus, reason, message string) []metav1.Condition {
	return []metav1.Condition{{Type: platformv1alpha1.ConditionReady, Status: status, Reason: reason, Message: message}}
}

func tenantWithUID(uid string) *platformv1alpha1.Tenant {
	tn := MakeTenant("acme").Obj()
	tn.UID = types.UID(uid)
	return tn
}

// TestWrittenIsNewerThanAStaleRead: once the operator wrote Ready=False, a
// pass that read the object before that write compares with what was
// written, not with the stale read; a recreated object (new UID) or a
// forgotten one compares with what was read.
func TestWrittenIsNewerThanAStaleRead(t *testing.T) {
	var w events.Written
	first := tenantWithUID("uid-1")
	stale := ready(metav1.ConditionTrue, platformv1alpha1.ReasonReconciled, "ready")
	written := ready(metav1.ConditionFalse, platformv1alpha1.TenantReasonNamespaceConflict, "namespace acme-prod is taken")

	if diff := cmp.Diff(stale, w.Before(first, stale)); diff != "" {
		t.Errorf("nothing written yet: Before (-want +got):\n%s", diff)
	}
	w.Remember(first, written)
	// The message is not kept: transitions are decided on status and reason.
	want := ready(metav1.ConditionFalse, platformv1alpha1.TenantReasonNamespaceConflict, "")
	if diff := cmp.Diff(want, w.Before(first, stale)); diff != "" {
		t.Errorf("after a write: Before (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(stale, w.Before(tenantWithUID("uid-2"), stale)); diff != "" {
		t.Errorf("recreated object: Before (-want +got):\n%s", diff)
	}
	w.Forget(client.ObjectKeyFromObject(first))
	if diff := cmp.Diff(stale, w.Before(first, stale)); diff != "" {
		t.Errorf("after Forget: Before (-want +got):\n%s", diff)
	}
}
