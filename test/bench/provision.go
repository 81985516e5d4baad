package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/manager"
)

const warmupTenant = "warmup"

// warmUp provisions one tenant with the operator (which also warms the API
// server's caches and admission policies) and captures what it created, for
// the baseline to copy.
func warmUp(ctx context.Context, c *cluster, bin launcher) (*templates, int, error) {
	op, err := startOperator(c, bin)
	if err != nil {
		return nil, 0, err
	}
	defer op.stop()
	w, err := newWatcher(c.AdminConfig, cache.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer w.stop()
	tenants, err := w.countReady(ctx, &platformv1alpha1.Tenant{}, warmupTenant)
	if err != nil {
		return nil, 0, err
	}
	done := tenants.await(1)
	if err := c.Admin.Create(ctx, tenant(warmupTenant)); err != nil {
		return nil, 0, err
	}
	if err := c.Admin.Create(ctx, tenantQuota(warmupTenant)); err != nil {
		return nil, 0, err
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		return nil, 0, fmt.Errorf("the warm-up tenant was not Ready within a minute")
	}
	if _, err := op.waitIdle(ctx, nil); err != nil {
		return nil, 0, err
	}
	tpl, err := captureTemplates(ctx, c.Admin, warmupTenant)
	if err != nil {
		return nil, 0, err
	}
	// The ideal number of writes: every child once, one status write per
	// resource, and each finalizer added once.
	tn := &platformv1alpha1.Tenant{}
	tq := &platformv1alpha1.TenantQuota{}
	if err := c.Admin.Get(ctx, client.ObjectKey{Name: warmupTenant}, tn); err != nil {
		return nil, 0, err
	}
	if err := c.Admin.Get(ctx, client.ObjectKey{Name: warmupTenant}, tq); err != nil {
		return nil, 0, err
	}
	ideal := len(tpl.objects) + 2 + len(tn.Finalizers) + len(tq.Finalizers)
	return tpl, ideal, nil
}

// operatorClient is a client with the operator's identity and, like the
// deployed operator (ctrl.GetConfig), no client-side rate limit.
func operatorClient(c *cluster) (client.Client, error) {
	cfg := rest.CopyConfig(c.OperatorConfig)
	cfg.QPS = -1
	return client.New(cfg, client.Options{Scheme: manager.NewScheme()})
}

// baseline (B0) creates exactly the objects tenantai creates for n tenants,
// with the operator's identity and `workers` requests in flight, one tenant
// per worker at a time (namespaces first), and returns the time until a
// watch has seen every one of them.
func baseline(ctx context.Context, c *cluster, tpl *templates, n, workers int, run string) (time.Duration, controlPlaneCPU, error) {
	runLabels := map[string]string{
		"bench.tenantai.io/run": run,
		// Not the operator's value, so that its label-filtered caches never
		// hold the baseline's objects.
		platformv1alpha1.ManagedByLabel: "tenantai-bench-baseline",
	}
	objects := make([][]client.Object, n)
	total := 0
	for i := range objects {
		objs, err := tpl.instantiate(fmt.Sprintf("%s-%04d", run, i), runLabels)
		if err != nil {
			return 0, controlPlaneCPU{}, err
		}
		for _, o := range objs {
			objects[i] = append(objects[i], o)
		}
		total += len(objs)
	}
	w, err := newWatcher(c.AdminConfig, cache.Options{DefaultLabelSelector: labels.SelectorFromSet(labels.Set{"bench.tenantai.io/run": run})})
	if err != nil {
		return 0, controlPlaneCPU{}, err
	}
	defer w.stop()
	var mu sync.Mutex
	seen := map[string]bool{}
	allSeen := make(chan time.Time, 1)
	count := func(obj any) {
		o, ok := obj.(client.Object)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		key := fmt.Sprintf("%T %s/%s", o, o.GetNamespace(), o.GetName())
		if seen[key] {
			return
		}
		seen[key] = true
		if len(seen) == total {
			allSeen <- time.Now()
		}
	}
	for _, kind := range []client.Object{&corev1.Namespace{}, &corev1.LimitRange{}, &networkingv1.NetworkPolicy{},
		&corev1.Secret{}, &corev1.ConfigMap{}, &corev1.ResourceQuota{}, &rbacv1.RoleBinding{}} {
		if err := w.onEvent(ctx, kind, count); err != nil {
			return 0, controlPlaneCPU{}, err
		}
	}
	cl, err := operatorClient(c)
	if err != nil {
		return 0, controlPlaneCPU{}, err
	}
	meter, err := c.processes.start()
	if err != nil {
		return 0, controlPlaneCPU{}, err
	}
	start := time.Now()
	err = parallel(n, workers, func(i int) error {
		for _, o := range objects[i] {
			if err := cl.Create(ctx, o); err != nil {
				return fmt.Errorf("baseline create %s %s/%s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName(), err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, controlPlaneCPU{}, err
	}
	select {
	case end := <-allSeen:
		cpu, err := meter.stop()
		return end.Sub(start), cpu, err
	case <-time.After(5 * time.Minute):
		return 0, controlPlaneCPU{}, fmt.Errorf("the watch saw %d of %d baseline objects", len(seen), total)
	}
}

// provisionResult is B1.
type provisionResult struct {
	Duration         time.Duration
	TenantsReady     time.Duration
	QuotasReady      time.Duration
	Writes           writes
	TenantReconciles float64
	QuotaReconciles  float64
	ClientWrites     float64
	// ClientReads are the operator's GET requests (a list or a single
	// object; watches are not counted).
	ClientReads float64
	// CPU is what kube-apiserver and etcd used from the first create until
	// everything was Ready.
	CPU controlPlaneCPU
	// DriftUnderLoad are B4 trials on the warm-up tenant run one after the
	// other while the tenants are provisioned.
	DriftUnderLoad []time.Duration
}

// provision (B1) creates n Tenants with a TenantQuota each at once (16
// creates in flight, as a GitOps tool would) and returns the time from the
// first create until every Tenant and TenantQuota is Ready for its current
// generation, and the operator's writes for it, from the audit log.
//
// Meanwhile B4 trials delete the warm-up tenant's guardrails one after the
// other (DriftUnderLoad); their repairs are left out of the write count.
func provision(ctx context.Context, c *cluster, op *operator, n int, prefix string, rng *rand.Rand) (provisionResult, error) {
	var res provisionResult
	drifter, err := newDrifter(ctx, c)
	if err != nil {
		return res, err
	}
	defer drifter.stop()
	w, err := newWatcher(c.AdminConfig, cache.Options{})
	if err != nil {
		return res, err
	}
	defer w.stop()
	tenants, err := w.countReady(ctx, &platformv1alpha1.Tenant{}, prefix+"-")
	if err != nil {
		return res, err
	}
	quotas, err := w.countReady(ctx, &platformv1alpha1.TenantQuota{}, prefix+"-")
	if err != nil {
		return res, err
	}
	tenantsDone, quotasDone := tenants.await(n), quotas.await(n)
	before, err := op.scrape()
	if err != nil {
		return res, err
	}
	mark, err := c.audit.mark()
	if err != nil {
		return res, err
	}
	meter, err := c.processes.start()
	if err != nil {
		return res, err
	}
	start := time.Now()
	type trials struct {
		took []time.Duration
		err  error
	}
	busy, drifted := make(chan struct{}), make(chan trials, 1)
	go func() {
		took, err := driftUnderLoad(ctx, drifter, rng, busy)
		drifted <- trials{took, err}
	}()
	defer func() {
		select {
		case <-busy:
		default:
			close(busy)
		}
	}()
	if err := createTenants(ctx, c.Admin, prefix, 0, n); err != nil {
		return res, err
	}
	for _, w := range []struct {
		ch  <-chan time.Time
		out *time.Duration
	}{{tenantsDone, &res.TenantsReady}, {quotasDone, &res.QuotasReady}} {
		select {
		case t := <-w.ch:
			*w.out = t.Sub(start)
		case <-time.After(15 * time.Minute):
			return res, fmt.Errorf("%d tenants were not Ready within 15 minutes", n)
		}
	}
	res.Duration = max(res.TenantsReady, res.QuotasReady)
	close(busy)
	t := <-drifted
	if t.err != nil {
		return res, fmt.Errorf("B4 during B1: %w", t.err)
	}
	res.DriftUnderLoad = t.took
	if res.CPU, err = meter.stop(); err != nil {
		return res, err
	}
	after, err := op.waitIdle(ctx, nil)
	if err != nil {
		return res, err
	}
	if res.Writes, err = c.audit.since(ctx, mark, warmupTenant+"-"); err != nil {
		return res, err
	}
	reconciles := func(m map[string]float64, ctrl string) float64 {
		return sum(m, "controller_runtime_reconcile_total", `controller="`+ctrl+`"`)
	}
	res.TenantReconciles = (reconciles(after, "tenant") - reconciles(before, "tenant")) / float64(n)
	res.QuotaReconciles = (reconciles(after, "tenantquota") - reconciles(before, "tenantquota")) / float64(n)
	res.ClientWrites = mutatingRequests(after) - mutatingRequests(before)
	res.ClientReads = sum(after, "rest_client_requests_total", `method="GET"`) - sum(before, "rest_client_requests_total", `method="GET"`)
	return res, nil
}
