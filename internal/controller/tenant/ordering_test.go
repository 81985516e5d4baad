package tenant_test

import (
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// guardrails a namespace must hold before any tenant RoleBinding exists in it.
var guardrails = []string{
	"LimitRange/" + naming.LimitRange,
	"NetworkPolicy/" + naming.NetworkPolicyDefaultDeny,
	"NetworkPolicy/" + naming.NetworkPolicyAllowSameTenant,
	"NetworkPolicy/" + naming.NetworkPolicyAllowDNS,
	"Secret/" + naming.DataKeySecret,
	"ResourceQuota/" + naming.ResourceQuota,
}

// TestOrderingInvariant checks, on watches opened before the Tenant is
// created (every event, not a poll that can miss a millisecond), that no
// tenant RoleBinding ever exists in a namespace lacking its guardrails. The
// negative control `make test-negative-controls` builds the operator with
// RBAC reordered first and expects this test to fail.
func TestOrderingInvariant(t *testing.T) {
	env, g := setup(t)
	timeline, err := env.WatchTimeline(testenv.WatchKinds(map[string]client.ObjectList{
		"RoleBinding": &rbacv1.RoleBindingList{}, "LimitRange": &corev1.LimitRangeList{},
		"NetworkPolicy": &networkingv1.NetworkPolicyList{}, "Secret": &corev1.SecretList{},
		"ResourceQuota": &corev1.ResourceQuotaList{},
	}, client.MatchingLabels{platformv1alpha1.TenantLabel: "order"}))
	g.Expect(err).NotTo(gomega.HaveOccurred())

	tn := MakeTenant("order").Namespaces("prod", "dev", "stage").Owner(platformv1alpha1.SubjectUser, "olivia").Obj()
	create(t, env, tn)
	// The quota arrives later, as it does when GitOps applies the TenantQuota after the Tenant.
	g.Eventually(condition(env, tn.Name, platformv1alpha1.TenantConditionRBACReady)).
		Should(gomega.Equal("False/" + platformv1alpha1.TenantReasonWaitingForQuota))
	for _, ns := range []string{"order-prod", "order-dev", "order-stage"} {
		grantQuota(t, env, tn.Name, ns)
	}
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	time.Sleep(500 * time.Millisecond) // let the last events arrive
	events, err := timeline.Stop()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	bindings := checkTimeline(t, events)
	g.Expect(bindings).To(gomega.Equal(3), "expected one tenant RoleBinding per namespace in the timeline")
}

// checkTimeline replays the events in order and fails on any RoleBinding
// present while a guardrail of its namespace is absent. It returns how many
// RoleBinding creations it saw.
func checkTimeline(t *testing.T, timeline []testenv.Event) int {
	t.Helper()
	present := map[string]map[string]bool{}
	bindings := 0
	for _, e := range timeline {
		if present[e.Namespace] == nil {
			present[e.Namespace] = map[string]bool{}
		}
		present[e.Namespace][e.Kind+"/"+e.Name] = !e.Deleted
		if e.Kind != "RoleBinding" || e.Deleted {
			continue
		}
		bindings++
		for _, gr := range guardrails {
			if !present[e.Namespace][gr] {
				t.Errorf("RoleBinding %s/%s existed (revision %d) while %s was missing", e.Namespace, e.Name, e.Revision, gr)
			}
		}
	}
	return bindings
}
