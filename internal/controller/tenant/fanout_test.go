package tenant_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestOneTenantChangeReconcilesOneTenant: 30 tenants claim hostnames; a
// change to one of them reconciles it (and a tenant whose hostnames overlap
// its own), not every tenant that claims hostnames, which each then listed
// every Tenant: O(N²) at scale (data-safety 9).
func TestOneTenantChangeReconcilesOneTenant(t *testing.T) {
	env, g := setup(t)
	const n = 30
	for i := 0; i < n; i++ {
		tn := MakeTenant(fmt.Sprintf("fan%02d", i)).QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
		tn.Spec.Exposure = &platformv1alpha1.TenantExposure{Hostnames: []string{fmt.Sprintf("*.fan%02d.example", i)}}
		create(t, env, tn)
	}
	// fan00's neighbour: an exact host under its wildcard, claimed later (in a
	// later second: creation timestamps have second granularity, and a tie
	// goes to the name that sorts first).
	time.Sleep(1100 * time.Millisecond)
	near := MakeTenant("fan-near").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	near.Spec.Exposure = &platformv1alpha1.TenantExposure{Hostnames: []string{"chat.fan00.example"}}
	create(t, env, near)
	for i := 0; i < n; i++ {
		g.Eventually(condition(env, fmt.Sprintf("fan%02d", i), platformv1alpha1.ConditionReady)).
			Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	}
	g.Eventually(condition(env, "fan-near", platformv1alpha1.ConditionStalled)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantReasonHostnameConflict))
	time.Sleep(time.Second)

	before := reconcileCount(t)
	updateTenant(g, env, "fan00", func(tn *platformv1alpha1.Tenant) { tn.Spec.DisplayName = "Fan zero" })
	g.Eventually(func() bool {
		tn, err := getTenant(env, "fan00")()
		return err == nil && tn.Status.ObservedGeneration == tn.Generation
	}).Should(gomega.BeTrue())
	time.Sleep(time.Second)
	if delta := reconcileCount(t) - before; delta > 4 {
		t.Errorf("one Tenant change caused %.0f reconciles among %d tenants claiming hostnames; want it and its neighbour only", delta, n+1)
	}
}
