package tenant

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// scope is what the phases of one reconcile share.
type scope struct {
	tenant *platformv1alpha1.Tenant
	// before is the status as read, to write status only when it changed and
	// to tell drift (a change at an already reconciled generation) from work.
	before *platformv1alpha1.TenantStatus
	now    time.Time

	// owned are the tenant's namespaces that exist, belong to it and are not
	// terminating, in spec order: the guardrail phases work on these.
	owned []string
	// conflicts are declared namespaces that belong to someone else.
	conflicts []string
	// terminating are declared namespaces still being deleted.
	terminating []string
	// waitingForQuota are owned namespaces that get no RoleBindings yet.
	waitingForQuota []string
	// hostnameConflicts are the exposure hostnames another tenant claimed first.
	hostnameConflicts []string
	// keyVersion is the active data key version.
	keyVersion int32

	// deleted is set once the finalizer is gone: there is no status to write.
	deleted bool
	// completed is set when every phase ran: only then is the generation
	// observed.
	completed bool
	// requeueAfter is the earliest time-based recheck a phase asked for.
	requeueAfter time.Duration
}

func newScope(t *platformv1alpha1.Tenant, now time.Time) *scope {
	return &scope{tenant: t, before: t.Status.DeepCopy(), now: now}
}

// requeue asks for a recheck after d (the earliest request wins).
func (s *scope) requeue(d time.Duration) {
	if d > 0 && (s.requeueAfter == 0 || d < s.requeueAfter) {
		s.requeueAfter = d
	}
}

// reconciled reports whether the tenant's current generation was already fully
// reconciled before this pass: a change found now is drift, not new work.
func (s *scope) reconciled() bool {
	return s.before.ObservedGeneration == s.tenant.Generation
}

func (s *scope) result(err error) ctrl.Result {
	if err != nil {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: s.requeueAfter}
}
