package tenant_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
)

// TestMain runs the package's tests against one API server with the real
// manager running as the operator's service account. The resync period is a
// day, so only watches can repair drift within a test.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Setup: func(env *testenv.Env) (func(), error) {
		_, stop, err := env.StartManager(context.Background(), testenv.TestConfig())
		return stop, err
	}})
}

const (
	timeout  = 30 * time.Second
	interval = 50 * time.Millisecond
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

func getTenant(env *testenv.Env, name string) func() (*platformv1alpha1.Tenant, error) {
	return func() (*platformv1alpha1.Tenant, error) {
		tn := &platformv1alpha1.Tenant{}
		return tn, env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn)
	}
}

// condition returns "<status>/<reason>" of a tenant condition, for Eventually.
func condition(env *testenv.Env, name, condType string) func() string {
	return func() string {
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
			return err.Error()
		}
		for _, c := range tn.Status.Conditions {
			if c.Type == condType {
				return fmt.Sprintf("%s/%s", c.Status, c.Reason)
			}
		}
		return "absent"
	}
}

// grantQuota creates, as the operator, the ResourceQuota the TenantQuota
// controller would, which quotaPolicy Required waits for.
func grantQuota(t *testing.T, env *testenv.Env, tenant, namespace string) {
	t.Helper()
	rq := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: naming.ResourceQuota, Namespace: namespace, Labels: naming.TenantLabels(tenant)},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}},
	}
	operator, err := env.OperatorClient()
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Create(context.Background(), rq); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating quota in %s: %v", namespace, err)
	}
}

// reconcileCount reads controller-runtime's reconcile counter for the tenant
// controller, to prove that a reconcile really ran.
func reconcileCount(t *testing.T) float64 {
	t.Helper()
	return testenv.ReconcileCount(t, "tenant")
}

// eventReasons lists the reasons of Events about a tenant.
func eventReasons(env *testenv.Env, tenant string) func() []string {
	return func() []string {
		list := &eventsv1.EventList{}
		if err := env.Admin.List(context.Background(), list); err != nil {
			return []string{err.Error()}
		}
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == "Tenant" && e.Regarding.Name == tenant {
				out = append(out, e.Reason)
			}
		}
		return out
	}
}
