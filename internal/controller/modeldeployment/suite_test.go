package modeldeployment_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
)

// TestMain runs the package's tests against one API server with the real
// manager running as the operator's service account. envtest runs no
// Deployment, ReplicaSet, HPA or garbage-collector controller: tests write
// Deployment and HPA status the way those controllers would, and no pod ever
// exists.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Setup: func(env *testenv.Env) (func(), error) {
		_, stop, err := env.StartManager(context.Background(), testenv.TestConfig())
		return stop, err
	}})
}

const (
	timeout  = 20 * time.Second
	interval = 50 * time.Millisecond
)

func setup(t *testing.T) (*testenv.Env, gomega.Gomega) {
	t.Helper()
	env := testenv.Require(t)
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(interval)
	g.SetDefaultConsistentlyDuration(time.Second)
	g.SetDefaultConsistentlyPollingInterval(100 * time.Millisecond)
	return env, g
}

var (
	breakGlassOnce   sync.Once
	breakGlassClient client.Client
	errBreakGlass    error
)

// breakGlass is a cluster admin in the break-glass group: the admission
// policies let only it (and the operator) label tenant namespaces or edit
// managed children.
func breakGlass(t *testing.T, env *testenv.Env) client.Client {
	t.Helper()
	breakGlassOnce.Do(func() { breakGlassClient, errBreakGlass = env.BreakGlass() })
	if errBreakGlass != nil {
		t.Fatalf("break-glass client: %v", errBreakGlass)
	}
	return breakGlassClient
}

// tenantNamespace creates a namespace as the Tenant controller would (tenant
// and managed-by labels, restricted Pod Security), without a Tenant: no
// Tenant in this suite is named like these tenants, so the Tenant controller,
// which also runs in the manager, leaves them alone. Only the operator or
// break-glass may create a namespace with these labels.
func tenantNamespace(t *testing.T, env *testenv.Env, tenant, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		platformv1alpha1.TenantLabel:                 tenant,
		platformv1alpha1.ManagedByLabel:              platformv1alpha1.ManagedByValue,
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if err := breakGlass(t, env).Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	tenantPolicy(t, env, tenant, name)
}

// tenantPolicy creates the tenant's (empty) scheduling and exposure policy as
// the Tenant controller would: the admission policies require it in a tenant
// namespace before they admit Services or pods there.
func tenantPolicy(t *testing.T, env *testenv.Env, tenant, namespace string) {
	t.Helper()
	policy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: naming.PolicyConfigMap, Namespace: namespace, Labels: naming.TenantLabels(tenant),
	}}
	if err := breakGlass(t, env).Create(context.Background(), policy); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating the policy ConfigMap in %s: %v", namespace, err)
	}
}

func create(t *testing.T, env *testenv.Env, obj client.Object) {
	t.Helper()
	if err := env.Admin.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func getMD(env *testenv.Env, key client.ObjectKey) *platformv1alpha1.ModelDeployment {
	md := &platformv1alpha1.ModelDeployment{}
	if err := env.Admin.Get(context.Background(), key, md); err != nil {
		return nil
	}
	return md
}

// updateMD changes a ModelDeployment's spec, retrying on conflicts.
func updateMD(g gomega.Gomega, env *testenv.Env, key client.ObjectKey, mutate func(*platformv1alpha1.ModelDeployment)) {
	g.Eventually(func() error {
		md := &platformv1alpha1.ModelDeployment{}
		if err := env.Admin.Get(context.Background(), key, md); err != nil {
			return err
		}
		mutate(md)
		return env.Admin.Update(context.Background(), md)
	}).Should(gomega.Succeed())
}

// condition returns "<status>/<reason>" of a ModelDeployment condition, or
// "absent", for Eventually.
func condition(env *testenv.Env, key client.ObjectKey, condType string) func() string {
	return func() string {
		c := conditionOf(env, key, condType)
		if c == nil {
			return "absent"
		}
		return fmt.Sprintf("%s/%s", c.Status, c.Reason)
	}
}

func conditionOf(env *testenv.Env, key client.ObjectKey, condType string) *metav1.Condition {
	md := getMD(env, key)
	if md == nil {
		return nil
	}
	for _, c := range md.Status.Conditions {
		if c.Type == condType {
			return &c
		}
	}
	return nil
}

// message returns a ModelDeployment condition's message.
func message(env *testenv.Env, key client.ObjectKey, condType string) func() string {
	return func() string {
		if c := conditionOf(env, key, condType); c != nil {
			return c.Message
		}
		return "absent"
	}
}

// observed reports whether the operator has reconciled the ModelDeployment's
// current generation.
func observed(env *testenv.Env, key client.ObjectKey) func() bool {
	return func() bool {
		md := getMD(env, key)
		return md != nil && md.Status.ObservedGeneration == md.Generation
	}
}

func deployment(env *testenv.Env, namespace, name string) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
		return nil
	}
	return d
}

// replicas returns a Deployment's spec.replicas, or -1 when it does not exist.
func replicas(env *testenv.Env, namespace, name string) func() int32 {
	return func() int32 {
		d := deployment(env, namespace, name)
		if d == nil || d.Spec.Replicas == nil {
			return -1
		}
		return *d.Spec.Replicas
	}
}

// exists reports whether an object exists, for Eventually.
func exists(env *testenv.Env, obj client.Object) func() bool {
	return func() bool {
		err := env.Admin.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return err == nil
	}
}

// markRolledOut writes a Deployment's status the way the Deployment controller
// does once every replica runs the current template and is available.
func markRolledOut(g gomega.Gomega, env *testenv.Env, namespace, name string) {
	g.Eventually(func() error {
		d := deployment(env, namespace, name)
		if d == nil {
			return fmt.Errorf("deployment %s/%s not found", namespace, name)
		}
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
				Message: "Deployment has minimum availability.", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
			}},
		}
		return env.Admin.Status().Update(context.Background(), d)
	}).Should(gomega.Succeed())
}

// reconcileCount reads controller-runtime's reconcile counter for the
// ModelDeployment controller, to prove that a reconcile really ran.
func reconcileCount(t *testing.T) float64 {
	t.Helper()
	return testenv.ReconcileCount(t, "modeldeployment")
}

// eventReasons lists the reasons of Events about a ModelDeployment.
func eventReasons(env *testenv.Env, key client.ObjectKey) func() []string {
	return func() []string {
		list := &eventsv1.EventList{}
		if err := env.Admin.List(context.Background(), list, client.InNamespace(key.Namespace)); err != nil {
			return []string{err.Error()}
		}
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "ModelDeployment" && e.Regarding.Name == key.Name {
				out = append(out, e.Reason)
			}
		}
		return out
	}
}

// settle waits until the manager has written nothing for half a second, so
// that in-flight reconciles do not count against a zero-write check.
func settle(g gomega.Gomega, env *testenv.Env) {
	g.Eventually(func() []string {
		env.Writes.Reset()
		time.Sleep(500 * time.Millisecond)
		return env.Writes.Writes()
	}).Should(gomega.BeEmpty())
}
