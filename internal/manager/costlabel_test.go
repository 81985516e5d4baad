package manager_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestCostTeamLabel runs the manager with --cost-team-label=team: tenant
// namespaces and model pod templates carry team=<tenant> beside the tenant
// label, for OpenCost's team aggregation. (Without the option, the exact
// labels asserted by the tenant and modeldeployment suites have no team.)
func TestCostTeamLabel(t *testing.T) {
	env := testenv.Require(t)
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	ctx := context.Background()
	cfg := testenv.TestConfig()
	cfg.CostTeamLabel = "team"
	_, stop, err := env.StartManager(ctx, cfg)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	t.Cleanup(stop)

	g.Expect(env.Admin.Create(ctx, MakeTenant("costly").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())).To(gomega.Succeed())
	g.Eventually(func() map[string]string {
		ns := &corev1.Namespace{}
		_ = env.Admin.Get(ctx, client.ObjectKey{Name: "costly-prod"}, ns)
		return ns.Labels
	}).Should(gomega.And(
		gomega.HaveKeyWithValue("team", "costly"),
		gomega.HaveKeyWithValue(platformv1alpha1.TenantLabel, "costly")))

	g.Expect(env.Admin.Create(ctx, MakeModelDeployment("costly-prod", "chat").Obj())).To(gomega.Succeed())
	g.Eventually(func() map[string]string {
		d := &appsv1.Deployment{}
		_ = env.Admin.Get(ctx, client.ObjectKey{Namespace: "costly-prod", Name: "chat"}, d)
		return d.Spec.Template.Labels
	}).Should(gomega.Equal(map[string]string{
		"team":                        "costly",
		platformv1alpha1.TenantLabel:  "costly",
		platformv1alpha1.ModelLabel:   "chat",
		platformv1alpha1.VersionLabel: "v1",
		platformv1alpha1.TrackLabel:   platformv1alpha1.TrackStable,
	}))
}
