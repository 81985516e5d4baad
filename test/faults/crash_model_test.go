package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// modelFixture renders every child kind a ModelDeployment can have: a
// service account, a stable and a canary Deployment, a Service, an HPA and a
// PodDisruptionBudget.
func modelFixture(namespace, name string) *platformv1alpha1.ModelDeployment {
	return MakeModelDeployment(namespace, name).Autoscaling(2, 4).Canary("v2", 20).Obj()
}

// TestCrashAtEveryModelWrite is scenario 1 for a ModelDeployment reconcile:
// it counts the K writes of a clean rendering, then for every k in 1..K runs
// a manager that dies right after its k-th write, and lets one fresh manager
// converge all K half-rendered models. Each ends exactly like the clean run
// (same children, specs, labels and owner, no extra object), and a further
// reconcile writes nothing.
func TestCrashAtEveryModelWrite(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	const tenant = "crashmd"
	ns := tenant + "-a"

	setupMgr := startManager(t, env, managerConfig(), nil)
	create(t, env.Admin, tenantFixture(tenant))
	readyTenant(g, env, tenant)
	quiesce(g, setupMgr.f)
	setupMgr.stop(t)

	ref := "mdcrash-00"
	clean := startManager(t, env, managerConfig(), &faults{only: ref})
	create(t, env.Admin, modelFixture(ns, ref))
	g.Eventually(modelObserved(env, ns, ref)).Should(gomega.BeTrue())
	cleanWrites := settle(g, clean.f)
	clean.stop(t)
	k := len(cleanWrites)
	t.Logf("a clean ModelDeployment reconcile makes %d writes: %s", k, strings.Join(cleanWrites, "; "))
	want := modelSnapshot(t, env, ns, ref)
	g.Expect(want).To(gomega.ContainElement(gomega.HavePrefix("PodDisruptionBudget M ")), "the clean run did not render every child kind: %v", want)
	children := 0
	for _, o := range want {
		if !strings.HasPrefix(o, "condition ") {
			children++
		}
	}
	g.Expect(k).To(gomega.BeNumerically(">", children), "too few writes counted: the counter does not see the reconcile")
	childWrites := 0
	for _, w := range cleanWrites {
		if !strings.HasPrefix(w, "patch/status") && !strings.HasPrefix(w, "apply/status") {
			childWrites++
		}
	}

	names := make([]string, 0, k)
	for i := 1; i <= k; i++ {
		name := fmt.Sprintf("mdcrash-%02d", i)
		names = append(names, name)
		m := startManager(t, env, managerConfig(), &faults{crashAfter: i, only: name})
		create(t, env.Admin, modelFixture(ns, name))
		if err := m.wait(10 * time.Second); err != nil {
			// The status may be written in one pass or two, so the last k
			// may never be reached: allowed only past every child write.
			g.Expect(i).To(gomega.BeNumerically(">", childWrites), "k=%d: the manager never made its k-th write: %v", i, m.f.Writes())
			m.stop(t)
			continue
		}
		g.Expect(m.f.Writes()).To(gomega.HaveLen(i), "k=%d: the manager did not stop right after its k-th write", i)
	}

	fresh := startManager(t, env, managerConfig(), nil)
	for i, name := range names {
		g.Eventually(modelObserved(env, ns, name)).Should(gomega.BeTrue(), "k=%d: never converged", i+1)
		g.Eventually(func() []string { return modelSnapshot(t, env, ns, name) }).
			Should(gomega.Equal(want), "k=%d: the end state differs from a clean run", i+1)
	}

	// I3 for all of them at once: touch every model (an annotation the
	// operator ignores) and prove the reconciles ran and wrote nothing.
	quiesce(g, fresh.f)
	before := reconcileCount(t, "modeldeployment")
	for _, name := range names {
		md := &platformv1alpha1.ModelDeployment{}
		g.Expect(env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, md)).To(gomega.Succeed())
		patch := client.MergeFrom(md.DeepCopy())
		md.Annotations = map[string]string{"faults.tenantai.io/poke": time.Now().String()}
		g.Expect(env.Admin.Patch(context.Background(), md, patch)).To(gomega.Succeed())
	}
	g.Eventually(func() float64 { return reconcileCount(t, "modeldeployment") }).
		Should(gomega.BeNumerically(">=", before+float64(len(names))))
	g.Consistently(fresh.f.Writes, "1s", "100ms").Should(gomega.BeEmpty(), "I3: a reconcile of converged models wrote")
	inv.stop(t)
}

// modelObserved reports whether the controller has observed the model's
// current generation.
func modelObserved(env *testenv.Env, ns, name string) func() bool {
	return func() bool {
		md := &platformv1alpha1.ModelDeployment{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, md); err != nil {
			return false
		}
		return md.Status.ObservedGeneration == md.Generation
	}
}

// modelSnapshot describes a model's children and status with its name
// replaced by "M", so models rendered by different managers compare: kind,
// name, labels, controller owner and spec of every object in the namespace
// that carries the model's label, plus the status conditions without their
// timestamps.
func modelSnapshot(t *testing.T, env *testenv.Env, ns, model string) []string {
	t.Helper()
	ctx := context.Background()
	c := env.Admin
	sel := client.MatchingLabels{platformv1alpha1.ModelLabel: model}
	var out []string
	add := func(kind string, o client.Object, spec any) {
		owner := "none"
		for _, ref := range o.GetOwnerReferences() {
			if ref.Controller != nil && *ref.Controller {
				owner = ref.Kind + "/" + ref.Name
			}
		}
		labels := make([]string, 0, len(o.GetLabels()))
		for k, v := range o.GetLabels() {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		specJSON, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%s %s labels=%s owner=%s owners=%d spec=%s", kind, o.GetName(), strings.Join(labels, ","),
			owner, len(o.GetOwnerReferences()), specJSON)
		out = append(out, strings.ReplaceAll(s, model, "M"))
	}
	sas := &corev1.ServiceAccountList{}
	deps := &appsv1.DeploymentList{}
	svcs := &corev1.ServiceList{}
	hpas := &autoscalingv2.HorizontalPodAutoscalerList{}
	pdbs := &policyv1.PodDisruptionBudgetList{}
	for _, l := range []client.ObjectList{sas, deps, svcs, hpas, pdbs} {
		if err := c.List(ctx, l, client.InNamespace(ns), sel); err != nil {
			t.Fatal(err)
		}
	}
	for i := range sas.Items {
		add("ServiceAccount", &sas.Items[i], sas.Items[i].AutomountServiceAccountToken)
	}
	for i := range deps.Items {
		add("Deployment", &deps.Items[i], deps.Items[i].Spec)
	}
	for i := range svcs.Items {
		spec := svcs.Items[i].Spec
		// Allocated by the API server, different for every Service.
		spec.ClusterIP, spec.ClusterIPs = "", nil
		add("Service", &svcs.Items[i], spec)
	}
	for i := range hpas.Items {
		add("HorizontalPodAutoscaler", &hpas.Items[i], hpas.Items[i].Spec)
	}
	for i := range pdbs.Items {
		add("PodDisruptionBudget", &pdbs.Items[i], pdbs.Items[i].Spec)
	}
	md := &platformv1alpha1.ModelDeployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: model}, md); err != nil {
		t.Fatal(err)
	}
	for _, cond := range md.Status.Conditions {
		out = append(out, strings.ReplaceAll(fmt.Sprintf("condition %s=%s/%s: %s", cond.Type, cond.Status, cond.Reason, cond.Message), model, "M"))
	}
	sort.Strings(out)
	return out
}
