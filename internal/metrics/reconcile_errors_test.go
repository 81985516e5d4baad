package metrics_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/metrics"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestReconcileErrorsStartAtZero: every known (kind, reason) pair is
// exported at 0 before anything fails, so that rate() and increase() see the
// first error.
func TestReconcileErrorsStartAtZero(t *testing.T) {
	want := `
# HELP tenantai_reconcile_errors_total Reconciles of a tenantai kind that ended in an error or a refusal, by kind and reason: a Stalled reason, QuotaExceeded, or the class of the error returned (APIError, Conflict, ReconcileError).
# TYPE tenantai_reconcile_errors_total counter
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="APIError"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="ChildConflict"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="Conflict"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="InvalidSpec"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="NotTenantNamespace"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="PlacementConflict"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="PodsRefused"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="QuotaExceeded"} 0
tenantai_reconcile_errors_total{kind="ModelDeployment",reason="ReconcileError"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="APIError"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="AdoptionRequired"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="Conflict"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="ForbiddenSubject"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="HostnameConflict"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="KeyConflict"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="KeyMissing"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="NamespaceConflict"} 0
tenantai_reconcile_errors_total{kind="Tenant",reason="ReconcileError"} 0
tenantai_reconcile_errors_total{kind="TenantQuota",reason="APIError"} 0
tenantai_reconcile_errors_total{kind="TenantQuota",reason="Conflict"} 0
tenantai_reconcile_errors_total{kind="TenantQuota",reason="InvalidSpec"} 0
tenantai_reconcile_errors_total{kind="TenantQuota",reason="ReconcileError"} 0
tenantai_reconcile_errors_total{kind="TenantQuota",reason="StaticSplitExceedsHard"} 0
tenantai_reconcile_errors_total{kind="TenantQuota",reason="UnknownNamespaceEntry"} 0
`
	if err := testutil.CollectAndCompare(metrics.NewReconcileErrors().Collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// conditioned returns a Tenant with the given conditions (type, status,
// reason triples).
func conditioned(triples ...string) *platformv1alpha1.Tenant {
	tn := MakeTenant("acme").Obj()
	for i := 0; i < len(triples); i += 3 {
		tn.Status.Conditions = append(tn.Status.Conditions, metav1.Condition{
			Type: triples[i], Status: metav1.ConditionStatus(triples[i+1]), Reason: triples[i+2],
		})
	}
	return tn
}

func TestReconcileErrorsReasons(t *testing.T) {
	gr := schema.GroupResource{Group: "platform.tenantai.io", Resource: "tenants"}
	deleting := conditioned(platformv1alpha1.ConditionStalled, "True", platformv1alpha1.TenantReasonNamespaceConflict)
	deleting.DeletionTimestamp = &metav1.Time{}
	cases := map[string]struct {
		kind string
		obj  platformv1alpha1.ObjectWithConditions
		err  error
		want map[string]float64 // non-zero series, "kind/reason"
	}{
		"a stall counts with its reason, not the error it returned": {
			kind: metrics.KindModelDeployment,
			obj:  conditioned(platformv1alpha1.ConditionStalled, "True", platformv1alpha1.ModelReasonChildConflict),
			err:  errors.New("terminal error: Service chat already exists"),
			want: map[string]float64{"ModelDeployment/ChildConflict": 1},
		},
		"a quota refusal counts without a stall": {
			kind: metrics.KindModelDeployment,
			obj:  conditioned(platformv1alpha1.ConditionReady, "False", platformv1alpha1.ModelReasonQuotaExceeded),
			want: map[string]float64{"ModelDeployment/QuotaExceeded": 1},
		},
		"a conflict is told from other API errors": {
			kind: metrics.KindTenant, obj: conditioned(),
			err:  fmt.Errorf("applying namespace acme-prod: %w", apierrors.NewConflict(gr, "acme", errors.New("modified"))),
			want: map[string]float64{"Tenant/Conflict": 1},
		},
		"an API error, even wrapped, is APIError": {
			kind: metrics.KindTenantQuota, obj: conditioned(),
			err:  fmt.Errorf("reading tenant: %w", apierrors.NewForbidden(gr, "acme", errors.New("denied"))),
			want: map[string]float64{"TenantQuota/APIError": 1},
		},
		"any other error is ReconcileError": {
			kind: metrics.KindTenant, obj: conditioned(),
			err:  errors.New("data key is malformed"),
			want: map[string]float64{"Tenant/ReconcileError": 1},
		},
		"waiting is not an error": {
			kind: metrics.KindTenant,
			obj:  conditioned(platformv1alpha1.ConditionReady, "False", platformv1alpha1.TenantReasonWaitingForQuota),
			want: map[string]float64{},
		},
		"a stale stall on an object being deleted is not counted": {
			kind: metrics.KindTenant, obj: deleting,
			want: map[string]float64{},
		},
		"a reason outside the known set is Other, keeping the label set bounded": {
			kind: metrics.KindTenantQuota,
			obj:  conditioned(platformv1alpha1.ConditionStalled, "True", "SomethingNew"),
			want: map[string]float64{"TenantQuota/Other": 1},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			counter := metrics.NewReconcileErrors()
			counter.Observe(tc.kind, tc.obj, tc.err)
			if diff := cmp.Diff(tc.want, nonZero(t, counter.Collector())); diff != "" {
				t.Errorf("counted series (-want +got):\n%s", diff)
			}
		})
	}
}

// nonZero gathers a counter vector's series that are not 0, by
// "kind/reason".
func nonZero(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				out[labels["kind"]+"/"+labels["reason"]] = v
			}
		}
	}
	return out
}
