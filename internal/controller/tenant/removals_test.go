package tenant_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// updateTenant changes a Tenant's spec, retrying on conflicts.
func updateTenant(g gomega.Gomega, env *testenv.Env, name string, mutate func(*platformv1alpha1.Tenant)) {
	g.Eventually(func() error {
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
			return err
		}
		mutate(tn)
		return env.Admin.Update(context.Background(), tn)
	}).Should(gomega.Succeed())
}

func policyData(env *testenv.Env, ns string) func() map[string]string {
	return func() map[string]string {
		cm := &corev1.ConfigMap{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: naming.PolicyConfigMap}, cm); err != nil {
			return map[string]string{"error": err.Error()}
		}
		return cm.Data
	}
}

func namespaceLabels(env *testenv.Env, ns string) func() map[string]string {
	return func() map[string]string {
		n := &corev1.Namespace{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: ns}, n); err != nil {
			return map[string]string{"error": err.Error()}
		}
		return n.Labels
	}
}

// TestRemovalsReachChildren removes entries from a Tenant's spec (a node
// selector entry and a toleration of its scheduling policy, a label of a
// namespace entry) and expects them gone from what the operator published:
// the admission policies read the ConfigMap, so a stale entry keeps a node
// pool that was taken away. A key added to the ConfigMap by hand goes too.
func TestRemovalsReachChildren(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("removals").QuotaPolicy(platformv1alpha1.QuotaOptional).
		NamespaceLabels("prod", map[string]platformv1alpha1.LabelValue{"env": "prod", "team": "search"}).Obj()
	tn.Spec.Scheduling = &platformv1alpha1.TenantScheduling{
		NodeSelector: map[string]platformv1alpha1.LabelValue{"pool.example.com/tenant": "removals", "zone.example.com/name": "z1"},
		Tolerations: []corev1.Toleration{
			{Key: "pool.example.com/tenant", Operator: corev1.TolerationOpEqual, Value: "removals", Effect: corev1.TaintEffectNoSchedule},
			{Key: "pool.example.com/shared", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		},
	}
	create(t, env, tn)
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	const ns = "removals-prod"
	g.Eventually(policyData(env, ns)).Should(gomega.And(
		gomega.HaveKeyWithValue("nodeSelector.1.key", "zone.example.com/name"),
		gomega.HaveKeyWithValue("toleration.1.key", "pool.example.com/shared")))
	g.Eventually(namespaceLabels(env, ns)).Should(gomega.HaveKeyWithValue("team", "search"))

	updateTenant(g, env, tn.Name, func(tn *platformv1alpha1.Tenant) {
		delete(tn.Spec.Scheduling.NodeSelector, "zone.example.com/name")
		tn.Spec.Scheduling.Tolerations = tn.Spec.Scheduling.Tolerations[:1]
		delete(tn.Spec.Namespaces[0].Labels, "team")
	})
	g.Eventually(policyData(env, ns)).ShouldNot(gomega.Or(
		gomega.HaveKey("nodeSelector.1.key"), gomega.HaveKey("nodeSelector.1.value"),
		gomega.HaveKey("toleration.1.key"), gomega.HaveKey("toleration.1.operator"),
		gomega.HaveKey("toleration.1.value"), gomega.HaveKey("toleration.1.effect")),
		"the published policy still grants the node pool entries that were removed")
	g.Eventually(namespaceLabels(env, ns)).ShouldNot(gomega.HaveKey("team"), "a label removed from the entry stays on the namespace")
	g.Expect(namespaceLabels(env, ns)()).To(gomega.HaveKeyWithValue("env", "prod"))

	// A key added by hand (break-glass) to the published policy is removed:
	// the policies would read it as a grant.
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	cm := &corev1.ConfigMap{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.PolicyConfigMap}, cm)).To(gomega.Succeed())
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data["toleration.9.key"] = "pool.example.com/other-team"
	g.Expect(admin.Patch(ctx, cm, patch)).To(gomega.Succeed())
	g.Eventually(policyData(env, ns)).ShouldNot(gomega.HaveKey("toleration.9.key"), "a key added by hand to the published policy stays")
}
