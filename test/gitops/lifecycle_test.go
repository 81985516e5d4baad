package gitops_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	"github.com/tenantai/tenantai/internal/testutil"
)

// objectRef names a tenantai object to read back from the API server.
type objectRef struct {
	kind, namespace, name string
}

func tenantRef(name string) objectRef { return objectRef{kind: "Tenant", name: name} }

func quotaRef(name string) objectRef { return objectRef{kind: "TenantQuota", name: name} }

func modelRef(namespace, name string) objectRef {
	return objectRef{kind: "ModelDeployment", namespace: namespace, name: name}
}

// live reads the object from the API server, as GitOps tools see it.
func live(env *testenv.Env, ref objectRef) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(platformv1alpha1.GroupVersion.WithKind(ref.kind))
	err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ref.namespace, Name: ref.name}, obj)
	return obj, err
}

// expectVerdict waits until the live object gets the named state's verdict
// from kstatus and from the Argo CD health check, and returns it.
func expectVerdict(g gomega.Gomega, env *testenv.Env, ref objectRef, name string) *unstructured.Unstructured {
	var obj *unstructured.Unstructured
	g.Eventually(func() (string, error) {
		var err error
		obj, err = live(env, ref)
		if err != nil {
			return "", err
		}
		return verdictDiff(env.Root, name, obj), nil
	}).Should(gomega.BeEmpty())
	return obj
}

var (
	capturedMu sync.Mutex
	captured   = map[string]bool{}
)

// expectState is expectVerdict for a state that has a fixture: the copy
// without volatile fields must get the same verdict (it is what the fixture
// holds), and with -update it becomes the fixture.
func expectState(t *testing.T, g gomega.Gomega, env *testenv.Env, ref objectRef, name string) {
	t.Helper()
	obj := expectVerdict(g, env, ref, name)
	stable, err := stableCopy(obj)
	if err != nil {
		t.Fatal(err)
	}
	if diff := verdictDiff(env.Root, name, stable); diff != "" {
		t.Fatalf("the fixture copy is judged differently from the live object: %s", diff)
	}
	if !*update {
		return
	}
	capturedMu.Lock()
	defer capturedMu.Unlock()
	if captured[name] {
		t.Fatalf("state %q captured twice in one run: give the second its own state", name)
	}
	captured[name] = true
	if err := writeFixture(env.Root, name, obj); err != nil {
		t.Fatalf("writing the fixture of %q: %v", name, err)
	}
}

func create(t *testing.T, env *testenv.Env, obj client.Object) {
	t.Helper()
	if err := env.Admin.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// change updates an object's spec as a user would, retrying on conflicts.
func change[T client.Object](g gomega.Gomega, env *testenv.Env, obj T, mutate func(T)) {
	g.Eventually(func() error {
		if err := env.Admin.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return env.Admin.Update(context.Background(), obj)
	}).Should(gomega.Succeed())
}

// TestTenantAndQuotaLifecycle applies a Tenant and its TenantQuota together,
// as a GitOps tool does, and follows them: not yet seen by the operator
// (computed with the operator stopped, so it cannot race), converged, spec
// changed but not yet observed, converged again.
func TestTenantAndQuotaLifecycle(t *testing.T) {
	env, g := setup(t)
	tn := testutil.MakeTenant(lifecycleTenant).Namespaces("prod", "dev").Obj()
	tq := testutil.MakeTenantQuota(lifecycleTenant).
		Hard("requests.cpu", "8").Hard("requests.memory", "32Gi").Hard("pods", "20").Obj()
	create(t, env, tn)
	create(t, env, tq)
	expectState(t, g, env, tenantRef(tn.Name), "tenant-created")
	expectState(t, g, env, quotaRef(tq.Name), "tenantquota-created")

	op := startOperator(t, env)
	expectState(t, g, env, tenantRef(tn.Name), "tenant-ready")
	expectState(t, g, env, quotaRef(tq.Name), "tenantquota-ready")

	op.Stop()
	change(g, env, tn, func(tn *platformv1alpha1.Tenant) { tn.Spec.DisplayName = "Acme Corp" })
	change(g, env, tq, func(tq *platformv1alpha1.TenantQuota) { tq.Spec.Hard["pods"] = resource.MustParse("30") })
	expectState(t, g, env, tenantRef(tn.Name), "tenant-spec-changed")
	expectState(t, g, env, quotaRef(tq.Name), "tenantquota-spec-changed")

	startOperator(t, env)
	expectVerdict(g, env, tenantRef(tn.Name), "tenant-ready")
	expectVerdict(g, env, quotaRef(tq.Name), "tenantquota-ready")
}

// TestWaitingIsInProgressNotFailed: what GitOps applies out of order waits
// (InProgress / Progressing), it does not fail: a Tenant whose TenantQuota is
// not there yet, a TenantQuota whose Tenant is not there yet.
func TestWaitingIsInProgressNotFailed(t *testing.T) {
	env, g := setup(t)
	startOperator(t, env)
	create(t, env, testutil.MakeTenant(waitingTenant).Namespaces("prod").Obj())
	create(t, env, testutil.MakeTenantQuota(orphanQuota).Hard("pods", "10").Obj())
	expectState(t, g, env, tenantRef(waitingTenant), "tenant-waiting-for-quota")
	expectState(t, g, env, quotaRef(orphanQuota), "tenantquota-tenant-not-found")
}

// TestStalledIsFailed: a terminal error of each kind (Stalled=True) is
// Failed for kstatus and Degraded for Argo CD, with the operator's message.
func TestStalledIsFailed(t *testing.T) {
	env, g := setup(t)
	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: conflictTenant + "-prod"}})
	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: plainNamespace}})
	startOperator(t, env)

	create(t, env, testutil.MakeTenant(conflictTenant).Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, testutil.MakeTenant(staticTenant).Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	create(t, env, testutil.MakeTenantQuota(staticTenant).Hard("pods", "10").
		Static("prod", corev1.ResourceList{"pods": resource.MustParse("12")}).Obj())
	create(t, env, testutil.MakeModelDeployment(plainNamespace, modelName).Obj())

	expectState(t, g, env, tenantRef(conflictTenant), "tenant-namespace-conflict")
	expectState(t, g, env, quotaRef(staticTenant), "tenantquota-static-split-exceeds-hard")
	expectState(t, g, env, modelRef(plainNamespace, modelName), "modeldeployment-not-tenant-namespace")
}

// TestModelDeploymentLifecycle follows a ModelDeployment in a tenant
// namespace: created with the operator stopped, rolling out, ready, scaled
// to zero by its user (spec changed, then ready again: there is no
// Suspended state). envtest runs no Deployment controller: the test writes
// the Deployment's status the way that controller does.
func TestModelDeploymentLifecycle(t *testing.T) {
	env, g := setup(t)
	op := startOperator(t, env)
	create(t, env, testutil.MakeTenant(modelsTenant).Namespaces("serve").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	g.Eventually(readyCondition(env, tenantRef(modelsTenant))).Should(gomega.Equal("True"))
	op.Stop()

	md := testutil.MakeModelDeployment(modelsNamespace, modelName).Replicas(1).Obj()
	create(t, env, md)
	ref := modelRef(md.Namespace, md.Name)
	expectState(t, g, env, ref, "modeldeployment-created")

	op = startOperator(t, env)
	expectState(t, g, env, ref, "modeldeployment-rolling-out")
	rollOut(g, env, md.Namespace, md.Name, 1)
	expectState(t, g, env, ref, "modeldeployment-ready")

	op.Stop()
	change(g, env, md, func(md *platformv1alpha1.ModelDeployment) { md.Spec.Replicas = ptr.To[int32](0) })
	expectState(t, g, env, ref, "modeldeployment-spec-changed")

	startOperator(t, env)
	rollOut(g, env, md.Namespace, md.Name, 0)
	expectState(t, g, env, ref, "modeldeployment-scaled-to-zero")
}

// readyCondition returns the status of an object's Ready condition.
func readyCondition(env *testenv.Env, ref objectRef) func() (string, error) {
	return func() (string, error) {
		obj, err := live(env, ref)
		if err != nil {
			return "", err
		}
		conds, _, err := unstructured.NestedSlice(obj.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == platformv1alpha1.ConditionReady {
				return fmt.Sprint(m["status"]), err
			}
		}
		return "absent", err
	}
}

// rollOut waits until the operator has set the Deployment to the given
// replicas, then writes its status as the Deployment controller does once
// every replica runs the current template and is available (a Deployment of
// 0 replicas is Available too).
func rollOut(g gomega.Gomega, env *testenv.Env, namespace, name string, replicas int32) {
	ctx := context.Background()
	d := &appsv1.Deployment{}
	g.Eventually(func() (int32, error) {
		err := env.Admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, d)
		return ptr.Deref(d.Spec.Replicas, -1), err
	}).Should(gomega.Equal(replicas))
	g.Eventually(func() error {
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
			return err
		}
		now := metav1.Now()
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas,
			ReadyReplicas: replicas, AvailableReplicas: replicas,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				Message: "Deployment has minimum availability.", LastUpdateTime: now, LastTransitionTime: now,
			}},
		}
		return env.Admin.Status().Update(ctx, d)
	}).Should(gomega.Succeed())
}
