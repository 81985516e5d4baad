package tenant

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
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
	// quota is the tenant's TenantQuota (nil when there is none): it gates
	// RBAC under quotaPolicy Required and grants accelerators and Service
	// types.
	quota *platformv1alpha1.TenantQuota

	// owned are the tenant's namespaces that exist, are held by this Tenant
	// (its UID) and are not terminating, in spec order: the guardrail phases
	// work on these.
	owned []string
	// namespaceUIDs are the UIDs of the owned namespaces.
	namespaceUIDs map[string]types.UID
	// bindings are the RoleBindings each owned namespace gets in this pass
	// (none while it waits for its quota), decided before any is revoked.
	bindings map[string][]*rbacv1.RoleBinding
	// conflicts are declared namespaces that belong to someone else.
	conflicts []string
	// adoptionRequired are declared namespaces retained by an earlier Tenant
	// of the same name, with the UID it recorded.
	adoptionRequired []heldNamespace
	// terminating are declared namespaces still being deleted.
	terminating []string
	// deleting are namespaces of removed entries being deleted (Delete).
	deleting []string
	// waitingForQuota are owned namespaces that get no RoleBindings yet.
	waitingForQuota []string
	// forbiddenSubjects are owners and members that are never bound.
	forbiddenSubjects []string
	// hostnameConflicts are the exposure hostnames another tenant claimed first.
	hostnameConflicts []string
	// keyVersion is the active data key version.
	keyVersion int32
	// keyStall is set when the data key cannot be trusted (KeyMissing,
	// KeyConflict): no key is generated or overwritten, and namespaces
	// without a copy get no RoleBindings.
	keyStall *stall

	// failed are namespaces a phase could not bring to their state in this
	// pass, with why. Later phases skip them (a namespace whose guardrails
	// failed never gets RoleBindings), the others go on: one namespace's
	// failure never stops the rest, revocations included.
	failed map[string]error
	// held are namespaces kept from new grants in this pass without an error
	// (their data key is missing or in conflict): their existing access stays.
	held map[string]bool

	// deleted is set once the finalizer is gone: there is no status to write.
	deleted bool
	// completed is set when every phase ran: only then is the generation
	// observed.
	completed bool
	// requeueAfter is the earliest time-based recheck a phase asked for.
	requeueAfter time.Duration
}

// heldNamespace is a namespace held by another Tenant object (UID).
type heldNamespace struct {
	name string
	uid  string // the UID it records, or AdoptLegacy
}

// stall is a Stalled condition's reason and message.
type stall struct{ reason, message string }

func newScope(t *platformv1alpha1.Tenant, now time.Time) *scope {
	return &scope{tenant: t, before: t.Status.DeepCopy(), now: now, failed: map[string]error{}, held: map[string]bool{},
		namespaceUIDs: map[string]types.UID{}, bindings: map[string][]*rbacv1.RoleBinding{}}
}

// fail records that a namespace could not be reconciled in this pass.
func (s *scope) fail(ns string, err error) {
	if _, ok := s.failed[ns]; !ok {
		s.failed[ns] = err
	}
}

// active are the owned namespaces no phase has failed in this pass.
func (s *scope) active() []string {
	out := make([]string, 0, len(s.owned))
	for _, ns := range s.owned {
		if _, failed := s.failed[ns]; !failed {
			out = append(out, ns)
		}
	}
	return out
}

// hold keeps a namespace from new grants in this pass (see scope.held).
func (s *scope) hold(ns string) { s.held[ns] = true }

// grantable are the active namespaces not held back.
func (s *scope) grantable() []string {
	out := make([]string, 0, len(s.owned))
	for _, ns := range s.active() {
		if !s.held[ns] {
			out = append(out, ns)
		}
	}
	return out
}

// failures joins the per-namespace failures, in name order, into one error.
func (s *scope) failures() error {
	if len(s.failed) == 0 {
		return nil
	}
	names := make([]string, 0, len(s.failed))
	for ns := range s.failed {
		names = append(names, ns)
	}
	slices.Sort(names)
	errs := make([]error, 0, len(names))
	for _, ns := range names {
		errs = append(errs, fmt.Errorf("namespace %s: %w", ns, s.failed[ns]))
	}
	return errors.Join(errs...)
}

// adoptable reports whether the Tenant's adopt-from annotation names uid.
func (s *scope) adoptable(uid string) bool {
	for _, u := range strings.Split(s.tenant.Annotations[platformv1alpha1.AdoptFromAnnotation], ",") {
		if u = strings.TrimSpace(u); u != "" && u == uid {
			return true
		}
	}
	return false
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
