package modeldeployment

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/conditions"
)

// scope is what the phases of one reconcile share.
type scope struct {
	md *platformv1alpha1.ModelDeployment
	// before is the status as read, to write status only when it changed and
	// to tell drift (a change at an already reconciled generation) from work.
	before *platformv1alpha1.ModelDeploymentStatus

	// tenant owns the ModelDeployment's namespace.
	tenant string
	// scheduling is the tenant's scheduling policy (nil when it has none),
	// merged with spec.placement.
	scheduling *platformv1alpha1.TenantScheduling
	// desired are the rendered children.
	desired *children
	// heldCanary names a canary Deployment kept while its promoted version
	// rolls out in the stable Deployment.
	heldCanary string
	// rollingOut says why a rollout is in progress ("" when none is).
	rollingOut string
	// unsettled says why a Deployment does not yet run the current template
	// on every desired replica, ready ("" when all do): Ready waits for it.
	unsettled string
	// refused is the API server's refusal of the model's pods other than by
	// quota (an admission policy), from a ReplicaFailure condition.
	refused string
	// deployments are the Deployments as this pass left them (the API
	// server's answer to an apply, or the cache when nothing was sent), by
	// name: status is computed from state that includes the operator's own
	// last write, never from a cache that has not seen it yet.
	deployments map[string]*appsv1.Deployment

	// stall is set when the operator cannot progress until the spec or the
	// cluster changes; the remaining phases do not run.
	stall *stall
	// completed is set when the phases ran to the end (or to a stall): only
	// then is the generation observed.
	completed bool
	// requeueAfter is the earliest time-based recheck a phase asked for.
	requeueAfter time.Duration
}

// stall is a Stalled condition's reason and message.
type stall struct {
	reason, message string
	// terminal stalls are returned as reconcile.TerminalError: only a new
	// spec can change the outcome, so there is nothing to retry.
	terminal bool
}

func newScope(md *platformv1alpha1.ModelDeployment) *scope {
	return &scope{md: md, before: md.Status.DeepCopy(), deployments: map[string]*appsv1.Deployment{}}
}

// remember records a Deployment as this pass left it.
func (s *scope) remember(d *appsv1.Deployment) { s.deployments[d.Name] = d }

func (s *scope) stallf(reason, format string, args ...any) {
	s.stall = &stall{reason: reason, message: fmt.Sprintf(format, args...)}
}

func (s *scope) stallTerminal(reason, message string) {
	s.stall = &stall{reason: reason, message: message, terminal: true}
}

// requeue asks for a recheck after d (the earliest request wins).
func (s *scope) requeue(d time.Duration) {
	if d > 0 && (s.requeueAfter == 0 || d < s.requeueAfter) {
		s.requeueAfter = d
	}
}

// reconciled reports whether the current generation was already fully
// reconciled before this pass: a change found now is drift, not new work.
func (s *scope) reconciled() bool {
	return s.before.ObservedGeneration == s.md.Generation
}

// repaired reports whether applying a child repaired drift: the generation
// was already reconciled and the child had been edited, or deleted. A child
// created after a stalled pass is not a repair: the stall (a conflicting
// object, a namespace not yet a tenant's) kept it from being created before.
func (s *scope) repaired(result apply.Result) bool {
	switch result {
	case apply.Updated:
		return s.reconciled()
	case apply.Created:
		return s.reconciled() && conditions.StalledReason(s.before.Conditions) == ""
	default:
		return false
	}
}

func (s *scope) result(err error) ctrl.Result {
	if err != nil {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: s.requeueAfter}
}
