package tenant_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// tenantEvents returns the Events about a Tenant, summarized, oldest first.
func tenantEvents(env *testenv.Env, tn *platformv1alpha1.Tenant) func() ([]testenv.EventSummary, error) {
	return func() ([]testenv.EventSummary, error) {
		events, err := env.EventsAbout(context.Background(), tn)
		return testenv.Summarize(events), err
	}
}

func tenantEvent(eventType, reason, name string) testenv.EventSummary {
	return testenv.EventSummary{Type: eventType, Reason: reason, Kind: "Tenant", Name: name, Count: 1}
}

// pokeTenant forces reconciles of an unchanged Tenant (an annotation change
// passes the controller's predicates) and waits until each has run.
func pokeTenant(t *testing.T, g gomega.Gomega, env *testenv.Env, tn *platformv1alpha1.Tenant, times int) {
	t.Helper()
	for i := range times {
		before := reconcileCount(t)
		patch := client.MergeFrom(tn.DeepCopy())
		tn.Annotations = map[string]string{"test.tenantai.io/poke": strconv.Itoa(i)}
		g.Expect(env.Admin.Patch(context.Background(), tn, patch)).To(gomega.Succeed())
		g.Eventually(func() float64 { return reconcileCount(t) }).Should(gomega.BeNumerically(">", before), "poke %d did not reconcile", i)
	}
}

// TestTenantEventsOnTransitionsOnly: waiting for quota, becoming Ready and a
// namespace conflict each record one Event about the Tenant; reconciles in
// between record none. The conflict's Event is recorded after the pokes, by
// the same recorder, in order: once it is there, any Event the pokes had
// recorded would be there too.
func TestTenantEventsOnTransitionsOnly(t *testing.T) {
	env, g := setup(t)
	tn := MakeTenant("ev").Namespaces("prod").Obj()
	create(t, env, tn)
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("False/" + platformv1alpha1.TenantReasonWaitingForQuota))
	grantQuota(t, env, tn.Name, "ev-prod")
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	g.Eventually(tenantEvents(env, tn)).Should(gomega.Equal([]testenv.EventSummary{
		tenantEvent(corev1.EventTypeWarning, platformv1alpha1.TenantReasonWaitingForQuota, "ev"),
		tenantEvent(corev1.EventTypeNormal, platformv1alpha1.EventReasonReady, "ev"),
	}))

	pokeTenant(t, g, env, tn, 3)

	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ev-clash"}})
	addNamespace(g, env, tn.Name, "clash")
	g.Eventually(tenantEvents(env, tn)).Should(gomega.Equal([]testenv.EventSummary{
		tenantEvent(corev1.EventTypeWarning, platformv1alpha1.TenantReasonWaitingForQuota, "ev"),
		tenantEvent(corev1.EventTypeNormal, platformv1alpha1.EventReasonReady, "ev"),
		tenantEvent(corev1.EventTypeWarning, platformv1alpha1.TenantReasonNamespaceConflict, "ev"),
	}), "Events once the conflict is recorded (a Count above 1 is a repeat)")
}

// TestTenantStallWhileNotReadyRecordsAnEvent: a namespace conflict found
// while the Tenant is already not Ready (waiting for quota) is refused work
// and records its Event, although Ready's status does not change.
func TestTenantStallWhileNotReadyRecordsAnEvent(t *testing.T) {
	env, g := setup(t)
	tn := MakeTenant("evwait").Namespaces("prod").Obj()
	create(t, env, tn)
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("False/" + platformv1alpha1.TenantReasonWaitingForQuota))

	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "evwait-clash"}})
	addNamespace(g, env, tn.Name, "clash")
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("True/" + platformv1alpha1.TenantReasonNamespaceConflict))
	g.Eventually(tenantEvents(env, tn)).Should(gomega.Equal([]testenv.EventSummary{
		tenantEvent(corev1.EventTypeWarning, platformv1alpha1.TenantReasonWaitingForQuota, "evwait"),
		tenantEvent(corev1.EventTypeWarning, platformv1alpha1.TenantReasonNamespaceConflict, "evwait"),
	}))
}

// addNamespace adds a namespace entry to a Tenant, retrying on conflicts.
func addNamespace(g gomega.Gomega, env *testenv.Env, tenant, entry string) {
	g.Eventually(func() error {
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: tenant}, tn); err != nil {
			return err
		}
		tn.Spec.Namespaces = append(tn.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: entry})
		return env.Admin.Update(context.Background(), tn)
	}).Should(gomega.Succeed())
}
