package tenantquota_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
)

// TestMain runs kube-controller-manager beside the API server: its quota
// controller fills status.hard and status.used, so these tests see real quota
// admission and accounting.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{ControllerManager: true, ExtraControllers: "job", Setup: func(env *testenv.Env) (func(), error) {
		cfg := testenv.TestConfig()
		cfg.NewClient = stale.wrap(env.Writes.NewClientFunc())
		_, stop, err := env.StartManager(context.Background(), cfg)
		return stop, err
	}})
}

// stale freezes the operator's cached view of chosen ResourceQuotas, the way
// an informer that has not yet delivered the operator's own last write (or
// kube-controller-manager's) shows an older object. Decisions that rest on
// such a view are what data-safety finding 4 is about.
var stale = &staleQuotas{frozen: map[client.ObjectKey]*corev1.ResourceQuota{}}

type staleQuotas struct {
	mu     sync.Mutex
	frozen map[client.ObjectKey]*corev1.ResourceQuota
}

// freeze makes the manager's client return the ResourceQuota of a namespace
// as the API server has it now, until thaw.
func (s *staleQuotas) freeze(t *testing.T, env *testenv.Env, namespace string) {
	t.Helper()
	rq := &corev1.ResourceQuota{}
	key := client.ObjectKey{Namespace: namespace, Name: naming.ResourceQuota}
	if err := env.Admin.Get(context.Background(), key, rq); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen[key] = rq
	t.Cleanup(func() { s.thaw(namespace) })
}

func (s *staleQuotas) thaw(namespace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.frozen, client.ObjectKey{Namespace: namespace, Name: naming.ResourceQuota})
}

func (s *staleQuotas) get(key client.ObjectKey) *corev1.ResourceQuota {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rq, ok := s.frozen[key]; ok {
		return rq.DeepCopy()
	}
	return nil
}

func (s *staleQuotas) wrap(next client.NewClientFunc) client.NewClientFunc {
	return func(cfg *rest.Config, opts client.Options) (client.Client, error) {
		c, err := next(cfg, opts)
		if err != nil {
			return nil, err
		}
		return &staleClient{Client: c, stale: s}, nil
	}
}

// staleClient serves frozen ResourceQuotas from Get and List.
type staleClient struct {
	client.Client
	stale *staleQuotas
}

func (c *staleClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if rq, ok := obj.(*corev1.ResourceQuota); ok {
		if frozen := c.stale.get(key); frozen != nil {
			frozen.DeepCopyInto(rq)
			return nil
		}
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c *staleClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	if l, ok := list.(*corev1.ResourceQuotaList); ok {
		for i := range l.Items {
			if frozen := c.stale.get(client.ObjectKeyFromObject(&l.Items[i])); frozen != nil {
				frozen.DeepCopyInto(&l.Items[i])
			}
		}
	}
	return nil
}

const (
	timeout  = 45 * time.Second
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

// quotaCondition returns "<status>/<reason>" of a TenantQuota condition.
func quotaCondition(env *testenv.Env, name, condType string) func() string {
	return func() string {
		tq := &platformv1alpha1.TenantQuota{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tq); err != nil {
			return err.Error()
		}
		for _, c := range tq.Status.Conditions {
			if c.Type == condType {
				return fmt.Sprintf("%s/%s", c.Status, c.Reason)
			}
		}
		return "absent"
	}
}

func getQuota(env *testenv.Env, name string) (*platformv1alpha1.TenantQuota, error) {
	tq := &platformv1alpha1.TenantQuota{}
	return tq, env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tq)
}

// enforced returns "spec/status" of a resource in a namespace's quota.
func enforced(env *testenv.Env, ns string, r corev1.ResourceName) func() string {
	return func() string {
		rq := &corev1.ResourceQuota{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: naming.ResourceQuota}, rq); err != nil {
			return err.Error()
		}
		spec, status := rq.Spec.Hard[r], rq.Status.Hard[r]
		return spec.String() + "/" + status.String()
	}
}

// tenantReady waits until a Tenant is Ready: its namespaces then hold the
// published policy that pod admission needs (pods are refused before it).
func tenantReady(t *testing.T, g gomega.Gomega, env *testenv.Env, name string) {
	t.Helper()
	g.Eventually(func() string {
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
			return err.Error()
		}
		for _, c := range tn.Status.Conditions {
			if c.Type == platformv1alpha1.ConditionReady {
				return string(c.Status)
			}
		}
		return "absent"
	}).Should(gomega.Equal("True"), "tenant %s not Ready", name)
}

// restrictedPod is a pod that Pod Security restricted admits.
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

// invariantPoller checks the tenant-total invariant on the enforced and the
// declared hard of every poll until stopped, and returns the violations seen.
func invariantPoller(env *testenv.Env, namespaces []string, r corev1.ResourceName, total int64) (stop func() []string) {
	done := make(chan struct{})
	result := make(chan []string, 1)
	go func() {
		var violations []string
		polls := 0
		for {
			select {
			case <-done:
				if polls == 0 {
					violations = append(violations, "the poller never polled")
				}
				result <- violations
				return
			case <-time.After(20 * time.Millisecond):
			}
			var spec, status, used int64
			for _, ns := range namespaces {
				rq := &corev1.ResourceQuota{}
				if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: naming.ResourceQuota}, rq); err != nil {
					continue
				}
				spec += ptr.To(rq.Spec.Hard[r]).Value()
				status += ptr.To(rq.Status.Hard[r]).Value()
				used += ptr.To(rq.Status.Used[r]).Value()
			}
			polls++
			limit := max(total, used)
			if spec > limit || status > limit {
				violations = append(violations, fmt.Sprintf("Σ spec.hard %d, Σ status.hard %d > max(total %d, Σ used %d)", spec, status, total, used))
			}
		}
	}()
	return func() []string { close(done); return <-result }
}
