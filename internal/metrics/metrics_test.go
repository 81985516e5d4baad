package metrics_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// The objects every integration test of this package observes: built once,
// since tenantai_tenants counts every Tenant of the API server.
const (
	readyTenant    = "obs"
	conflictTenant = "obs-clash"
	modelNamespace = "obs-prod"
	modelName      = "chat"
)

// buildWorld creates a Ready tenant with a quota, one pod counted against it
// and a ModelDeployment with a canary, all rolled out, and a tenant stalled
// by a namespace conflict; it waits until the operator reports each.
func buildWorld(t *testing.T, env *testenv.Env, g gomega.Gomega) {
	t.Helper()
	tn := MakeTenant(readyTenant).Namespaces("prod").Obj()
	tn.Spec.DisplayName = "Observability Corp"
	tn.Spec.LimitRange = &platformv1alpha1.TenantLimitRange{
		DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}
	create(t, env, tn)
	tq := MakeTenantQuota(readyTenant).Hard(corev1.ResourcePods, "4").Hard(corev1.ResourceRequestsCPU, "2").Obj()
	create(t, env, tq)
	g.Eventually(readyStatus(env, tn)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	g.Eventually(readyStatus(env, tq)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	create(t, env, restrictedPod(modelNamespace, "worker"))

	md := MakeModelDeployment(modelNamespace, modelName).Replicas(2).Canary("v2", 50).Obj()
	create(t, env, md)
	for _, d := range []string{modelName, modelName + "-canary"} {
		markRolledOut(g, env, modelNamespace, d)
	}
	g.Eventually(readyStatus(env, md)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))

	// A namespace taken by someone else stalls the second tenant.
	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: conflictTenant + "-prod"}})
	clash := MakeTenant(conflictTenant).Namespaces("prod").Obj()
	create(t, env, clash)
	g.Eventually(readyStatus(env, clash)).Should(gomega.Equal("False/" + platformv1alpha1.TenantReasonNamespaceConflict))
}

func TestMetricsOfRealObjects(t *testing.T) {
	env, g := setup(t)
	buildWorld(t, env, g)

	t.Run("kube-state-metrics configuration", func(t *testing.T) {
		testKubeStateMetricsConfig(t, env)
	})
	t.Run("operator gauges", func(t *testing.T) {
		testOperatorGauges(t)
	})
	t.Run("quota series follow the TenantQuota", func(t *testing.T) {
		testQuotaSeriesFollowTheObject(t, env)
	})
}

// testOperatorGauges scrapes the manager's registry: the gauges come from its
// cache, the quota use from kube-controller-manager's real accounting (one
// pod of 4, 500m of 2 CPUs), and the stalled tenant has been counted as a
// reconcile refused with its reason.
func testOperatorGauges(t *testing.T) {
	g := gomega.NewWithT(t)
	g.Expect(scraped(t, "tenantai_tenants")).To(gomega.Equal(map[string]float64{
		`ready="true"`: 1, `ready="false"`: 1, `ready="unknown"`: 0,
	}))
	g.Eventually(func() map[string]float64 { return scraped(t, "tenantai_quota_used_ratio") }, timeout, interval).
		Should(gomega.Equal(map[string]float64{
			`resource="pods",tenant="obs"`:                   0.25,
			`resource="requests.cpu",tenant="obs"`:           0.25,
			`resource="services.loadbalancers",tenant="obs"`: 0,
			`resource="services.nodeports",tenant="obs"`:     0,
			// The object-count defaults (docs/tenants.md#workloads).
			`resource="count/jobs.batch",tenant="obs"`:        0,
			`resource="count/cronjobs.batch",tenant="obs"`:    0,
			`resource="count/statefulsets.apps",tenant="obs"`: 0,
		}))
	errors := scraped(t, "tenantai_reconcile_errors_total")
	g.Expect(errors).To(gomega.HaveKeyWithValue(`kind="Tenant",reason="NamespaceConflict"`, gomega.BeNumerically(">=", 1)))
	g.Expect(errors).To(gomega.HaveKeyWithValue(`kind="TenantQuota",reason="StaticSplitExceedsHard"`, float64(0)))
}

// testQuotaSeriesFollowTheObject: a resource dropped from the TenantQuota and
// then the TenantQuota itself disappear from the scrape: no stale series.
func testQuotaSeriesFollowTheObject(t *testing.T, env *testenv.Env) {
	g := gomega.NewWithT(t)
	ctx := context.Background()
	g.Eventually(func() error {
		tq := &platformv1alpha1.TenantQuota{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: readyTenant}, tq); err != nil {
			return err
		}
		delete(tq.Spec.Hard, corev1.ResourceRequestsCPU)
		return env.Admin.Update(ctx, tq)
	}, timeout, interval).Should(gomega.Succeed())
	g.Eventually(func() map[string]float64 { return scraped(t, "tenantai_quota_used_ratio") }, timeout, interval).
		Should(gomega.Equal(map[string]float64{
			`resource="pods",tenant="obs"`:                   0.25,
			`resource="services.loadbalancers",tenant="obs"`: 0,
			`resource="services.nodeports",tenant="obs"`:     0,
			// The object-count defaults (docs/tenants.md#workloads).
			`resource="count/jobs.batch",tenant="obs"`:        0,
			`resource="count/cronjobs.batch",tenant="obs"`:    0,
			`resource="count/statefulsets.apps",tenant="obs"`: 0,
		}))

	g.Expect(env.Admin.Delete(ctx, MakeTenantQuota(readyTenant).Obj())).To(gomega.Succeed())
	g.Eventually(func() map[string]float64 { return scraped(t, "tenantai_quota_used_ratio") }, timeout, interval).
		Should(gomega.BeEmpty())
}
