package tenantquota_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func reconcileCount(t *testing.T, controller string) float64 {
	t.Helper()
	return testenv.ReconcileCount(t, controller)
}

// TestSecondReconcileWritesNothing: once settled, a forced reconcile of an
// unchanged TenantQuota (proved to run by the reconcile counter) writes nothing.
func TestSecondReconcileWritesNothing(t *testing.T) {
	env, g := setup(t)
	env.Writes.Reset()
	create(t, env, MakeTenant("still").Namespaces("a", "b").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	tq := MakeTenantQuota("still").Hard(corev1.ResourcePods, "10").Hard("requests.cpu", "4").Obj()
	create(t, env, tq)
	g.Eventually(quotaCondition(env, "still", platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	g.Expect(env.Writes.About("still")).NotTo(gomega.BeEmpty(), "the counter saw no write on the first pass")
	g.Eventually(func() []string {
		env.Writes.Reset()
		time.Sleep(time.Second)
		return env.Writes.About("still")
	}).Should(gomega.BeEmpty())

	before := reconcileCount(t, "tenantquota")
	patch := client.MergeFrom(tq.DeepCopy())
	tq.Annotations = map[string]string{"test.tenantai.io/poke": "1"}
	g.Expect(env.Admin.Patch(context.Background(), tq, patch)).To(gomega.Succeed())
	g.Eventually(func() float64 { return reconcileCount(t, "tenantquota") }).Should(gomega.BeNumerically(">", before))
	g.Consistently(func() []string { return env.Writes.About("still") }, "1s", "100ms").Should(gomega.BeEmpty(), "a reconcile of an unchanged TenantQuota wrote")
}
