package tenant_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestSampleTenantBecomesReady applies config/samples' Tenant and checks every
// object it yields, then that `kubectl wait --for=condition=Ready` succeeds.
func TestSampleTenantBecomesReady(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	samples, err := testenv.ReadObjects(filepath.Join(env.Root, "config", "samples", "platform_v1alpha1_tenant.yaml"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(env.Admin.Create(ctx, samples[0])).To(gomega.Succeed())
	name := samples[0].GetName()

	// quotaPolicy Required: no RoleBinding before the quota exists.
	g.Eventually(condition(env, name, platformv1alpha1.TenantConditionRBACReady)).
		Should(gomega.Equal("False/" + platformv1alpha1.TenantReasonWaitingForQuota))
	g.Expect(condition(env, name, platformv1alpha1.ConditionReady)()).To(gomega.Equal("False/" + platformv1alpha1.TenantReasonWaitingForQuota))
	rbs := &rbacv1.RoleBindingList{}
	g.Expect(env.Admin.List(ctx, rbs, client.MatchingLabels{platformv1alpha1.TenantLabel: name})).To(gomega.Succeed())
	g.Expect(rbs.Items).To(gomega.BeEmpty(), "RoleBindings exist although no ResourceQuota does")

	for _, ns := range []string{"acme-prod", "acme-dev"} {
		grantQuota(t, env, name, ns)
	}
	g.Eventually(condition(env, name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))

	tn, err := getTenant(env, name)()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(tn.Status.Namespaces).To(gomega.Equal([]string{"acme-prod", "acme-dev"}))
	g.Expect(tn.Status.KeyVersion).To(gomega.Equal(int32(1)))
	g.Expect(tn.Status.ObservedGeneration).To(gomega.Equal(tn.Generation))
	for _, c := range tn.Status.Conditions {
		g.Expect(c.ObservedGeneration).To(gomega.Equal(tn.Generation), "condition %s", c.Type)
	}
	g.Expect(conditionTypes(tn)).NotTo(gomega.ContainElements(platformv1alpha1.ConditionReconciling, platformv1alpha1.ConditionStalled))

	for _, ns := range []string{"acme-prod", "acme-dev"} {
		expectNamespaceGuarded(t, g, env, name, ns)
	}
	expectSampleRBAC(g, env, "acme-prod")

	kubectl, err := testenv.Binary(env.Root, "kubectl")
	g.Expect(err).NotTo(gomega.HaveOccurred())
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	g.Expect(testenv.WriteKubeconfig(kubeconfig, env.AdminConfig)).To(gomega.Succeed())
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "wait", "--for=condition=Ready", "--timeout=30s", "tenant/"+name).CombinedOutput()
	g.Expect(err).NotTo(gomega.HaveOccurred(), string(out))
	g.Expect(string(out)).To(gomega.ContainSubstring("tenant.platform.tenantai.io/acme condition met"))
}

func conditionTypes(tn *platformv1alpha1.Tenant) []string {
	var out []string
	for _, c := range tn.Status.Conditions {
		out = append(out, c.Type)
	}
	return out
}

// expectNamespaceGuarded checks a tenant namespace and every guardrail in it.
func expectNamespaceGuarded(t *testing.T, g gomega.Gomega, env *testenv.Env, tenant, ns string) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Namespace{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Name: ns}, n)).To(gomega.Succeed())
	g.Expect(n.Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.TenantLabel, tenant))
	g.Expect(n.Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.ManagedByLabel, "tenantai"))
	g.Expect(n.Labels).To(gomega.HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	g.Expect(n.Labels).To(gomega.HaveKeyWithValue("pod-security.kubernetes.io/enforce-version", "latest"))
	g.Expect(n.OwnerReferences).To(gomega.BeEmpty(), "a tenant namespace must not be owned by the Tenant (GC would delete it under Retain)")

	lr := &corev1.LimitRange{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.LimitRange}, lr)).To(gomega.Succeed())
	g.Expect(lr.Spec.Limits).To(gomega.HaveLen(1))
	g.Expect(lr.Spec.Limits[0].DefaultRequest.Cpu().String()).To(gomega.Equal("250m"))

	nps := &networkingv1.NetworkPolicyList{}
	g.Expect(env.Admin.List(ctx, nps, client.InNamespace(ns))).To(gomega.Succeed())
	var names []string
	for _, np := range nps.Items {
		names = append(names, np.Name)
		g.Expect(np.Labels).To(gomega.Equal(naming.TenantLabels(tenant)))
		g.Expect(np.OwnerReferences).To(gomega.BeEmpty())
	}
	g.Expect(names).To(gomega.ConsistOf(naming.NetworkPolicyDefaultDeny, naming.NetworkPolicyAllowSameTenant,
		naming.NetworkPolicyAllowDNS, naming.NetworkPolicyAllowIngress, naming.NetworkPolicyAllowMonitoring,
		naming.NetworkPolicyAllowEgress))

	key := &corev1.Secret{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.DataKeySecret}, key)).To(gomega.Succeed())
	g.Expect(string(key.Data["active"])).To(gomega.Equal("v1"))
	g.Expect(key.Data["v1"]).To(gomega.HaveLen(32))
	canonical := &corev1.Secret{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret(tenant)}, canonical)).To(gomega.Succeed())
	g.Expect(key.Data).To(gomega.Equal(canonical.Data), "the namespace copy must hold the canonical key")
}

func expectSampleRBAC(g gomega.Gomega, env *testenv.Env, ns string) {
	ctx := context.Background()
	admin := &rbacv1.RoleBinding{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tenantai-tenant-admin"}, admin)).To(gomega.Succeed())
	g.Expect(admin.RoleRef).To(gomega.Equal(rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-admin"}))
	g.Expect(admin.Subjects).To(gomega.Equal([]rbacv1.Subject{{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "acme-admins"}}))
	dev := &rbacv1.RoleBinding{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tenantai-tenant-developer"}, dev)).To(gomega.Succeed())
	g.Expect(dev.Subjects).To(gomega.ConsistOf(
		rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice@acme.example"},
		rbacv1.Subject{Kind: "ServiceAccount", Name: "deployer", Namespace: "acme-prod"},
	))
}

// TestSecondReconcileWritesNothing counts writes through a wrapper around the
// manager's client: the first pass writes, a forced second pass of the
// unchanged Tenant (proved to have run by the reconcile counter) writes nothing.
func TestSecondReconcileWritesNothing(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	env.Writes.Reset()
	tn := MakeTenant("zero").Namespaces("a", "b").QuotaPolicy(platformv1alpha1.QuotaOptional).EgressCIDRs("0.0.0.0/0").Obj()
	create(t, env, tn)
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	g.Expect(env.Writes.About("zero")).NotTo(gomega.BeEmpty(), "the counter saw no write on the first pass: it counts nothing")

	// Let in-flight reconciles (triggered by the objects just created) settle:
	// wait for a quiet half second.
	g.Eventually(func() []string {
		env.Writes.Reset()
		time.Sleep(500 * time.Millisecond)
		return env.Writes.About("zero")
	}).Should(gomega.BeEmpty())

	before := reconcileCount(t)
	patch := client.MergeFrom(tn.DeepCopy())
	tn.Annotations = map[string]string{"test.tenantai.io/poke": "1"}
	g.Expect(env.Admin.Patch(ctx, tn, patch)).To(gomega.Succeed())
	g.Eventually(func() float64 { return reconcileCount(t) }).Should(gomega.BeNumerically(">", before), "no second reconcile ran")
	g.Consistently(func() []string { return env.Writes.About("zero") }, "1s", "100ms").Should(gomega.BeEmpty(), "a reconcile of an unchanged Tenant wrote")
}

// TestNamespaceConflict: a namespace that exists and is not the tenant's is
// never adopted; the Tenant is Stalled naming it, and nothing lands in it.
func TestNamespaceConflict(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "taken-prod"}})
	tn := MakeTenant("taken").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	create(t, env, tn)

	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("True/" + platformv1alpha1.TenantReasonNamespaceConflict))
	got, _ := getTenant(env, tn.Name)()
	for _, c := range got.Status.Conditions {
		if c.Type == platformv1alpha1.ConditionStalled {
			g.Expect(c.Message).To(gomega.ContainSubstring("namespace taken-prod already exists and does not belong to tenant taken"))
		}
	}
	g.Expect(condition(env, tn.Name, platformv1alpha1.ConditionReady)()).To(gomega.Equal("False/" + platformv1alpha1.TenantReasonNamespaceConflict))
	g.Expect(got.Status.Namespaces).To(gomega.Equal([]string{"taken-dev"}))

	ns := &corev1.Namespace{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Name: "taken-prod"}, ns)).To(gomega.Succeed())
	g.Expect(ns.Labels).NotTo(gomega.HaveKey(platformv1alpha1.TenantLabel), "the conflicting namespace was labelled")
	lrs := &corev1.LimitRangeList{}
	g.Expect(env.Admin.List(ctx, lrs, client.InNamespace("taken-prod"))).To(gomega.Succeed())
	g.Expect(lrs.Items).To(gomega.BeEmpty(), "guardrails were written into someone else's namespace")
	g.Eventually(eventReasons(env, tn.Name)).Should(gomega.ContainElement(platformv1alpha1.TenantReasonNamespaceConflict))
}

// TestAdoptsItsOwnNamespace: a namespace already carrying this tenant's label
// (a crash between create and the next reconcile) is adopted and repaired.
func TestAdoptsItsOwnNamespace(t *testing.T) {
	env, g := setup(t)
	// As the operator, which had created it and crashed before recording it.
	operator, err := env.OperatorClient()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(operator.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "adopt-prod",
		Labels: map[string]string{platformv1alpha1.TenantLabel: "adopt"}}})).To(gomega.Succeed())
	tn := MakeTenant("adopt").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	create(t, env, tn)
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	ns := &corev1.Namespace{}
	g.Expect(env.Admin.Get(context.Background(), client.ObjectKey{Name: "adopt-prod"}, ns)).To(gomega.Succeed())
	g.Expect(ns.Labels).To(gomega.HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	g.Expect(ns.Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.ManagedByLabel, "tenantai"))
}
