package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
)

// The kind label of tenantai_reconcile_errors_total.
const (
	KindTenant          = "Tenant"
	KindTenantQuota     = "TenantQuota"
	KindModelDeployment = "ModelDeployment"
)

// Reasons of tenantai_reconcile_errors_total beside the condition reasons:
// the error a reconcile returned, classified without its text.
const (
	// ReasonAPIError: the API server answered a request with an error status
	// (forbidden, invalid, not found, too many requests, ...).
	ReasonAPIError = "APIError"
	// ReasonConflict: an optimistic-concurrency conflict; normal under
	// concurrent writers, retried at once, so alerts usually leave it out.
	ReasonConflict = "Conflict"
	// ReasonOther is a reason outside the kind's known set. It should never
	// appear; it keeps the label set bounded if a new reason is added
	// without updating reasonsByKind.
	ReasonOther = "Other"
)

// reasonsByKind is the closed set of reasons each kind reports: its stall and
// refusal reasons (api/v1alpha1 constants), then the error classes. Every
// pair is exported from the start at 0, so rate() and increase() work before
// the first error.
var reasonsByKind = map[string][]string{
	KindTenant: {
		platformv1alpha1.TenantReasonNamespaceConflict,
		platformv1alpha1.TenantReasonHostnameConflict,
		platformv1alpha1.TenantReasonAdoptionRequired,
		platformv1alpha1.TenantReasonForbiddenSubject,
		platformv1alpha1.TenantReasonKeyMissing,
		platformv1alpha1.TenantReasonKeyConflict,
	},
	KindTenantQuota: {
		platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard,
		platformv1alpha1.TenantQuotaReasonUnknownNamespaceEntry,
		platformv1alpha1.ReasonInvalidSpec,
	},
	KindModelDeployment: {
		platformv1alpha1.ModelReasonNotTenantNamespace,
		platformv1alpha1.ModelReasonChildConflict,
		platformv1alpha1.ModelReasonPlacementConflict,
		platformv1alpha1.ReasonInvalidSpec,
		platformv1alpha1.ModelReasonQuotaExceeded,
		platformv1alpha1.ModelReasonPodsRefused,
	},
}

// errorReasons are the classes of a returned error, common to every kind.
var errorReasons = []string{ReasonAPIError, ReasonConflict, platformv1alpha1.ReasonError}

// refusals are Ready=False reasons that are refused work without a stall: the
// cluster, not the operator, refused it (quota admission, an admission policy).
var refusals = map[string]bool{platformv1alpha1.ModelReasonQuotaExceeded: true, platformv1alpha1.ModelReasonPodsRefused: true}

// ReconcileErrors counts reconciles that ended in an error or a refusal.
type ReconcileErrors struct {
	vec *prometheus.CounterVec
}

// NewReconcileErrors returns the counter with every known (kind, reason)
// pair at 0.
func NewReconcileErrors() *ReconcileErrors {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tenantai_reconcile_errors_total",
		Help: "Reconciles of a tenantai kind that ended in an error or a refusal, by kind and reason: " +
			"a Stalled reason, QuotaExceeded, or the class of the error returned (APIError, Conflict, ReconcileError).",
	}, []string{"kind", "reason"})
	for kind, reasons := range reasonsByKind {
		for _, reason := range append(append([]string(nil), reasons...), errorReasons...) {
			vec.WithLabelValues(kind, reason)
		}
	}
	return &ReconcileErrors{vec: vec}
}

// Collector returns the counter, for registering it.
func (r *ReconcileErrors) Collector() prometheus.Collector { return r.vec }

// Observe counts one finished reconcile of obj if it ended Stalled, refused,
// or with an error; err is what the reconcile returned. A Stalled condition
// names the cause better than the error it produced (a terminal stall is
// returned as an error too), so it wins.
func (r *ReconcileErrors) Observe(kind string, obj platformv1alpha1.ObjectWithConditions, err error) {
	reason, failed := classify(obj, err)
	if !failed {
		return
	}
	if !known(kind, reason) {
		reason = ReasonOther
	}
	r.vec.WithLabelValues(kind, reason).Inc()
}

func classify(obj platformv1alpha1.ObjectWithConditions, err error) (string, bool) {
	if deleting(obj) && err == nil {
		return "", false // the status of an object being deleted is no longer kept up to date
	}
	if stalled := conditions.Get(obj, platformv1alpha1.ConditionStalled); stalled != nil && stalled.Status == metav1.ConditionTrue {
		return stalled.Reason, true
	}
	if ready := conditions.Get(obj, platformv1alpha1.ConditionReady); ready != nil &&
		ready.Status == metav1.ConditionFalse && refusals[ready.Reason] {
		return ready.Reason, true
	}
	if err == nil {
		return "", false
	}
	var status apierrors.APIStatus
	switch {
	case apierrors.IsConflict(err):
		return ReasonConflict, true
	case errors.As(err, &status):
		return ReasonAPIError, true
	default:
		return platformv1alpha1.ReasonError, true
	}
}

func deleting(obj platformv1alpha1.ObjectWithConditions) bool {
	o, ok := obj.(interface{ GetDeletionTimestamp() *metav1.Time })
	return ok && o.GetDeletionTimestamp() != nil
}

func known(kind, reason string) bool {
	for _, r := range reasonsByKind[kind] {
		if r == reason {
			return true
		}
	}
	for _, r := range errorReasons {
		if r == reason {
			return true
		}
	}
	return false
}

// reconcileErrors is the process' counter, on controller-runtime's registry
// (served on the manager's metrics endpoint), as controller-runtime's own
// reconcile metrics are.
var reconcileErrors = NewReconcileErrors()

func init() {
	ctrlmetrics.Registry.MustRegister(reconcileErrors.Collector())
}

// ObserveReconcile counts a finished reconcile on the process' counter; the
// controllers call it once per reconcile with what Reconcile returns.
func ObserveReconcile(kind string, obj platformv1alpha1.ObjectWithConditions, err error) {
	reconcileErrors.Observe(kind, obj, err)
}
