package metrics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// TestMain runs the real manager as the operator's service account, and
// kube-controller-manager, whose quota controller fills the use that
// TenantQuota status (and so tenantai_quota_used_ratio) reports. The
// integration tests scrape controller-runtime's registry, where the manager
// serves its metrics.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{ControllerManager: true, Setup: func(env *testenv.Env) (func(), error) {
		_, stop, err := env.StartManager(context.Background(), testenv.TestConfig())
		return stop, err
	}})
}

const (
	timeout  = 45 * time.Second
	interval = 100 * time.Millisecond
)

func setup(t *testing.T) (*testenv.Env, gomega.Gomega) {
	t.Helper()
	env := testenv.Require(t)
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(interval)
	return env, g
}

func create(t *testing.T, env *testenv.Env, obj client.Object) {
	t.Helper()
	if err := env.Admin.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// readyStatus returns "<status>/<reason>" of an object's Ready condition.
func readyStatus(env *testenv.Env, obj interface {
	client.Object
	platformv1alpha1.ObjectWithConditions
}) func() string {
	return func() string {
		if err := env.Admin.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err.Error()
		}
		for _, c := range obj.GetStatus().Conditions {
			if c.Type == platformv1alpha1.ConditionReady {
				return fmt.Sprintf("%s/%s", c.Status, c.Reason)
			}
		}
		return "absent"
	}
}

// restrictedPod is a pod that Pod Security restricted admits; the tenant's
// LimitRange gives it its requests.
func restrictedPod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "app", Image: "example.com/app:1",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// markRolledOut writes a Deployment's status the way the Deployment
// controller (not run here) would once all its replicas are available.
func markRolledOut(g gomega.Gomega, env *testenv.Env, namespace, name string) {
	g.Eventually(func() error {
		d := &appsv1.Deployment{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, d); err != nil {
			return err
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

// scraped gathers controller-runtime's registry (what the manager's metrics
// endpoint serves) and returns the value of each series of a metric, keyed by
// its labels as `name="value",...` in label-name order.
func scraped(t *testing.T, metric string) map[string]float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gathering the metrics registry: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
