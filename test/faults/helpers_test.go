package faults_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/manager"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
)

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

// runningManager is one operator process: the real manager, run as the
// operator's service account, with a fault-injecting client.
type runningManager struct {
	f      *faults
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// managerConfig is the configuration every scenario starts from: a resync
// so long that only watches and restarts can make the operator act.
func managerConfig() manager.Config {
	c := testenv.TestConfig()
	c.MetricsBindAddress = "0"
	c.HealthProbeBindAddress = "0"
	c.SkipNameValidation = true
	return c
}

// startManager starts a manager with cfg and the given faults (a fresh set
// when nil); it is stopped at the end of the test at the latest.
func startManager(t *testing.T, env *testenv.Env, cfg manager.Config, f *faults) *runningManager {
	t.Helper()
	if f == nil {
		f = &faults{}
	}
	return startManagerWith(t, env.OperatorConfig, cfg, f)
}

// run starts mgr in the background with f's cancel wired to it.
func run(t *testing.T, mgr ctrl.Manager, f *faults) *runningManager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.mu.Lock()
	f.cancel = cancel
	f.mu.Unlock()
	m := &runningManager{f: f, cancel: cancel, done: make(chan struct{})}
	go func() {
		m.err = mgr.Start(ctx)
		close(m.done)
	}()
	t.Cleanup(func() { m.stop(t) })
	return m
}

// stop cancels the manager and waits for it to exit; it may be called again.
func (m *runningManager) stop(t *testing.T) {
	t.Helper()
	m.cancel()
	if err := m.wait(30 * time.Second); err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("manager exited: %v", err)
	}
}

// wait waits up to d for the manager to exit and returns what Start returned.
func (m *runningManager) wait(d time.Duration) error {
	select {
	case <-m.done:
		return m.err
	case <-time.After(d):
		return fmt.Errorf("the manager did not exit within %s", d)
	}
}

// reconcileCount reads controller-runtime's reconcile counter for a
// controller (all managers of the process together).
func reconcileCount(t *testing.T, controller string) float64 {
	t.Helper()
	return testenv.ReconcileCount(t, controller)
}

// tenantCondition returns "<status>/<reason>" of a Tenant condition.
func tenantCondition(env *testenv.Env, name, condType string) func() string {
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

// readyTenant waits until a Tenant is Ready for its current generation.
func readyTenant(g gomega.Gomega, env *testenv.Env, name string) {
	g.Eventually(func() string {
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
			return err.Error()
		}
		if tn.Status.ObservedGeneration != tn.Generation {
			return fmt.Sprintf("observedGeneration %d, generation %d", tn.Status.ObservedGeneration, tn.Generation)
		}
		for _, c := range tn.Status.Conditions {
			if c.Type == platformv1alpha1.ConditionReady {
				return fmt.Sprintf("%s/%s", c.Status, c.Reason)
			}
		}
		return "no Ready condition"
	}).Should(gomega.Equal("True/"+platformv1alpha1.ReasonReconciled), "tenant %s", name)
}

// quiesce waits until the manager has written nothing for half a second.
func quiesce(g gomega.Gomega, f *faults) {
	g.Eventually(func() []string {
		f.reset()
		time.Sleep(500 * time.Millisecond)
		return f.Writes()
	}).Should(gomega.BeEmpty(), "the operator never stopped writing")
}

// assertNoWritesOnReconcile is I3: after quiescence, a forced reconcile of
// the Tenant (proved to run by the reconcile counter) writes nothing.
func assertNoWritesOnReconcile(t *testing.T, g gomega.Gomega, env *testenv.Env, f *faults, tenant string) {
	t.Helper()
	quiesce(g, f)
	before := reconcileCount(t, "tenant")
	poke(t, env, tenant)
	g.Eventually(func() float64 { return reconcileCount(t, "tenant") }).Should(gomega.BeNumerically(">", before), "no forced reconcile ran")
	g.Consistently(f.Writes, "1s", "100ms").Should(gomega.BeEmpty(), "I3: a reconcile of a converged Tenant wrote")
}

// poke changes an annotation of the Tenant, which triggers a reconcile
// without changing its spec.
func poke(t *testing.T, env *testenv.Env, tenant string) {
	t.Helper()
	tn := &platformv1alpha1.Tenant{}
	ctx := context.Background()
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: tenant}, tn); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(tn.DeepCopy())
	if tn.Annotations == nil {
		tn.Annotations = map[string]string{}
	}
	tn.Annotations["test.tenantai.io/poke"] = time.Now().Format(time.RFC3339Nano)
	if err := env.Admin.Patch(ctx, tn, patch); err != nil {
		t.Fatalf("poking tenant %s: %v", tenant, err)
	}
}

func create(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// snapshot describes everything the operator made for a tenant, with the
// tenant's name replaced by "T", so runs for different tenants compare.
func snapshot(t *testing.T, env *testenv.Env, tenant string) []string {
	t.Helper()
	ctx := context.Background()
	sel := client.MatchingLabels{platformv1alpha1.TenantLabel: tenant}
	var out []string
	add := func(kind string, o client.Object, extra string) {
		labels := make([]string, 0, len(o.GetLabels()))
		for k, v := range o.GetLabels() {
			labels = append(labels, k+"="+v)
		}
		sort.Strings(labels)
		owners := len(o.GetOwnerReferences())
		s := fmt.Sprintf("%s %s/%s labels=%s owners=%d %s", kind, o.GetNamespace(), o.GetName(), strings.Join(labels, ","), owners, extra)
		out = append(out, strings.ReplaceAll(s, tenant, "T"))
	}
	nss := &corev1.NamespaceList{}
	lrs := &corev1.LimitRangeList{}
	nps := &networkingv1.NetworkPolicyList{}
	rbs := &rbacv1.RoleBindingList{}
	secrets := &corev1.SecretList{}
	cms := &corev1.ConfigMapList{}
	for _, l := range []client.ObjectList{nss, lrs, nps, rbs, secrets, cms} {
		if err := env.Admin.List(ctx, l, sel); err != nil {
			t.Fatal(err)
		}
	}
	for i := range nss.Items {
		add("Namespace", &nss.Items[i], "")
	}
	for i := range lrs.Items {
		add("LimitRange", &lrs.Items[i], fmt.Sprint(lrs.Items[i].Spec.Limits))
	}
	for i := range nps.Items {
		add("NetworkPolicy", &nps.Items[i], fmt.Sprint(nps.Items[i].Spec.PolicyTypes))
	}
	for i := range rbs.Items {
		add("RoleBinding", &rbs.Items[i], fmt.Sprint(rbs.Items[i].RoleRef.Name, rbs.Items[i].Subjects))
	}
	for i := range secrets.Items {
		keys := make([]string, 0, len(secrets.Items[i].Data))
		for k := range secrets.Items[i].Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		add("Secret", &secrets.Items[i], strings.Join(keys, ","))
	}
	for i := range cms.Items {
		add("ConfigMap", &cms.Items[i], "")
	}
	sort.Strings(out)
	return out
}

// assertOneKey checks that the tenant has exactly one canonical key with one
// version, and that every namespace copy holds the same bytes.
func assertOneKey(t *testing.T, env *testenv.Env, tenant string) {
	t.Helper()
	ctx := context.Background()
	secrets := &corev1.SecretList{}
	if err := env.Admin.List(ctx, secrets, client.InNamespace(platformv1alpha1.OperatorNamespace),
		client.MatchingLabels{platformv1alpha1.TenantLabel: tenant}); err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 1 || secrets.Items[0].Name != naming.CanonicalKeySecret(tenant) {
		names := []string{}
		for _, s := range secrets.Items {
			names = append(names, s.Name)
		}
		t.Fatalf("canonical keys of %s: %v, want exactly [%s]", tenant, names, naming.CanonicalKeySecret(tenant))
	}
	canonical := secrets.Items[0]
	if string(canonical.Data["active"]) != "v1" || len(canonical.Data) != 2 {
		t.Errorf("canonical key of %s has %d entries, active %q; want v1 only", tenant, len(canonical.Data), canonical.Data["active"])
	}
	copies := &corev1.SecretList{}
	if err := env.Admin.List(ctx, copies, client.MatchingLabels{platformv1alpha1.TenantLabel: tenant}); err != nil {
		t.Fatal(err)
	}
	for _, s := range copies.Items {
		if s.Name == naming.DataKeySecret && string(s.Data["v1"]) != string(canonical.Data["v1"]) {
			t.Errorf("the key copy in %s differs from the canonical key: two keys were generated", s.Namespace)
		}
	}
}

// inOperatorNamespace reports the objects a tenant has in the operator's
// namespace: its canonical data key, the key an earlier Tenant of its name
// retained (archived), and the records of RoleBindings removed at release.
func inOperatorNamespace(o client.Object, tenant string) bool {
	switch o.(type) {
	case *corev1.Secret:
		return o.GetName() == naming.CanonicalKeySecret(tenant) || strings.HasPrefix(o.GetName(), naming.CanonicalKeySecret(tenant)+"-")
	case *corev1.ConfigMap:
		return strings.HasPrefix(o.GetName(), naming.ReleasedBindingsConfigMap(""))
	}
	return false
}

// invariants polls I1, I2 and I4 with its own client every few milliseconds
// until stopped, and reports every violation it saw.
type invariants struct {
	env    *testenv.Env
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	seen   map[string]bool
	polls  int
}

func watchInvariants(t *testing.T, env *testenv.Env) *invariants {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inv := &invariants{env: env, cancel: cancel, seen: map[string]bool{}}
	inv.wg.Add(1)
	go func() {
		defer inv.wg.Done()
		for ctx.Err() == nil {
			violations := inv.check(ctx)
			if ctx.Err() != nil {
				return // a check cut short by stop proves nothing
			}
			for _, v := range violations {
				inv.mu.Lock()
				inv.seen[v] = true
				inv.mu.Unlock()
			}
			inv.mu.Lock()
			inv.polls++
			inv.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { inv.stop(t) })
	return inv
}

// stop ends the poller and fails the test on any violation; it may be called again.
func (inv *invariants) stop(t *testing.T) {
	t.Helper()
	inv.cancel()
	inv.wg.Wait()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.polls == 0 {
		t.Error("the invariant poller never completed a poll")
	}
	for v := range inv.seen {
		t.Errorf("invariant violated: %s", v)
	}
	inv.seen = map[string]bool{}
}

func (inv *invariants) check(ctx context.Context) []string {
	c := inv.env.Admin
	var out []string
	nss := &corev1.NamespaceList{}
	if err := c.List(ctx, nss, client.HasLabels{platformv1alpha1.TenantLabel}); err != nil {
		return nil // the API server may be down on purpose
	}
	tenantOf := map[string]string{}
	terminating := map[string]bool{}
	for _, ns := range nss.Items {
		tenantOf[ns.Name] = ns.Labels[platformv1alpha1.TenantLabel]
		terminating[ns.Name] = ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating
	}
	quotas := &platformv1alpha1.TenantQuotaList{}
	if err := c.List(ctx, quotas); err != nil {
		return nil
	}
	hasQuota := map[string]bool{}
	for _, q := range quotas.Items {
		hasQuota[q.Name] = true
	}

	// I1: a tenant RoleBinding only where every guardrail is.
	rbs := &rbacv1.RoleBindingList{}
	if err := c.List(ctx, rbs, client.HasLabels{platformv1alpha1.TenantLabel}); err != nil {
		return nil
	}
	for _, rb := range rbs.Items {
		if !naming.IsTenantRole(rb.RoleRef.Name) || terminating[rb.Namespace] {
			continue
		}
		tenant := rb.Labels[platformv1alpha1.TenantLabel]
		need := []client.Object{
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: naming.NetworkPolicyDefaultDeny}},
			&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: naming.LimitRange}},
		}
		if hasQuota[tenant] {
			need = append(need, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: naming.ResourceQuota}})
		}
		for _, o := range need {
			err := c.Get(ctx, client.ObjectKey{Namespace: rb.Namespace, Name: o.GetName()}, o)
			if apierrors.IsNotFound(err) {
				// Recheck the namespace: a namespace being deleted empties in any order.
				ns := &corev1.Namespace{}
				if e := c.Get(ctx, client.ObjectKey{Name: rb.Namespace}, ns); e == nil && ns.DeletionTimestamp == nil {
					out = append(out, fmt.Sprintf("I1: RoleBinding %s/%s exists without %T %s", rb.Namespace, rb.Name, o, o.GetName()))
				}
			}
		}
	}

	// I2: managed objects only inside their tenant's namespaces (and the
	// operator's namespace for data keys and release records).
	managed := client.MatchingLabels{platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue}
	lists := []client.ObjectList{
		&corev1.SecretList{}, &corev1.ConfigMapList{}, &corev1.LimitRangeList{}, &corev1.ResourceQuotaList{},
		&networkingv1.NetworkPolicyList{}, &rbacv1.RoleBindingList{},
	}
	for _, l := range lists {
		if err := c.List(ctx, l, managed); err != nil {
			return out
		}
		for _, o := range objects(l) {
			tenant := o.GetLabels()[platformv1alpha1.TenantLabel]
			if o.GetNamespace() == platformv1alpha1.OperatorNamespace && inOperatorNamespace(o, tenant) {
				continue
			}
			if tenant == "" || tenantOf[o.GetNamespace()] != tenant {
				// The namespace list may predate the object: recheck.
				ns := &corev1.Namespace{}
				err := c.Get(ctx, client.ObjectKey{Name: o.GetNamespace()}, ns)
				if err != nil && !apierrors.IsNotFound(err) {
					continue // unknown (API server down on purpose): not a finding
				}
				if err == nil && ns.Labels[platformv1alpha1.TenantLabel] == tenant && tenant != "" {
					continue
				}
				out = append(out, fmt.Sprintf("I2: %T %s/%s of tenant %q outside its tenant's namespaces", o, o.GetNamespace(), o.GetName(), tenant))
			}
		}
	}

	// I4: Σ namespace status.hard ≤ max(tenant hard, Σ used), per resource.
	for _, q := range quotas.Items {
		rqs := &corev1.ResourceQuotaList{}
		if err := c.List(ctx, rqs, client.MatchingLabels{platformv1alpha1.TenantLabel: q.Name}); err != nil {
			return out
		}
		for name, total := range q.Spec.Hard {
			var hard, used resource.Quantity
			for _, rq := range rqs.Items {
				if rq.Name != naming.ResourceQuota {
					continue
				}
				if h, ok := rq.Status.Hard[name]; ok {
					hard.Add(h)
				}
				if u, ok := rq.Status.Used[name]; ok {
					used.Add(u)
				}
			}
			limit := total
			if used.Cmp(limit) > 0 {
				limit = used
			}
			if hard.Cmp(limit) > 0 {
				out = append(out, fmt.Sprintf("I4: tenant %s %s: Σ status.hard %s > max(total %s, Σ used %s)", q.Name, name, hard.String(), total.String(), used.String()))
			}
		}
	}
	return out
}

func objects(l client.ObjectList) []client.Object {
	var out []client.Object
	switch l := l.(type) {
	case *corev1.SecretList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.LimitRangeList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ResourceQuotaList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *networkingv1.NetworkPolicyList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *rbacv1.RoleBindingList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}
