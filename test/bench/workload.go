package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/manager"
	"github.com/tenantai/tenantai/internal/testutil"
)

// tenant is the Tenant every benchmark provisions: two namespaces, an owner
// group (so RoleBindings exist) and the default quotaPolicy Required (so
// RBAC waits for the TenantQuota's ResourceQuotas, the full path).
func tenant(name string) *platformv1alpha1.Tenant {
	return testutil.MakeTenant(name).Namespaces("a", "b").
		Owner(platformv1alpha1.SubjectGroup, name+"-admins").Obj()
}

// tenantQuota splits 4 pods, 4 CPUs, 8 GiB and 2 GPUs dynamically.
func tenantQuota(name string) *platformv1alpha1.TenantQuota {
	return testutil.MakeTenantQuota(name).
		Hard(corev1.ResourcePods, "4").
		Hard(corev1.ResourceRequestsCPU, "4").
		Hard(corev1.ResourceRequestsMemory, "8Gi").
		Hard("requests.nvidia.com/gpu", "2").Obj()
}

// parallel runs fn(i) for i in [0, n) on `workers` goroutines and returns the
// first error.
func parallel(n, workers int, fn func(i int) error) error {
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := fn(i); err != nil {
					errs <- err
					for range jobs { // drain, so the producer never blocks
						continue
					}
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return <-errs
}

// createTenants creates Tenants and TenantQuotas named prefix-0000.. as the
// platform admin, 16 at a time.
func createTenants(ctx context.Context, c client.Client, prefix string, from, to int) error {
	return parallel(to-from, 16, func(i int) error {
		name := fmt.Sprintf("%s-%04d", prefix, from+i)
		if err := c.Create(ctx, tenant(name)); err != nil {
			return fmt.Errorf("creating tenant %s: %w", name, err)
		}
		if err := c.Create(ctx, tenantQuota(name)); err != nil {
			return fmt.Errorf("creating tenant quota %s: %w", name, err)
		}
		return nil
	})
}

// observedReady is kstatus' "Current" for tenantai's kinds: the operator has
// seen the latest generation and says Ready.
func observedReady(obj client.Object) bool {
	var st *platformv1alpha1.CommonStatus
	switch o := obj.(type) {
	case *platformv1alpha1.Tenant:
		st = &o.Status.CommonStatus
	case *platformv1alpha1.TenantQuota:
		st = &o.Status.CommonStatus
	case *platformv1alpha1.ModelDeployment:
		// No pods run in envtest, so a model is never Available: count it
		// once its current generation is fully applied.
		return o.Status.ObservedGeneration == o.Generation
	default:
		return false
	}
	return st.ObservedGeneration == obj.GetGeneration() && meta.IsStatusConditionTrue(st.Conditions, platformv1alpha1.ConditionReady)
}

// readyCounter watches one kind and notes the moment the number of objects
// with a name prefix that are observedReady reaches a target.
type readyCounter struct {
	mu      sync.Mutex
	prefix  string
	ready   map[string]bool
	count   int // entries of ready that are true
	targets []target
}

type target struct {
	n    int
	done chan time.Time
}

func (r *readyCounter) observe(obj any) {
	o, ok := obj.(client.Object)
	if !ok || !strings.HasPrefix(o.GetName(), r.prefix) {
		return
	}
	key, ready := o.GetNamespace()+"/"+o.GetName(), observedReady(o)
	r.mu.Lock()
	defer r.mu.Unlock()
	// Counted as it changes: the benchmark shares the CPU with the API
	// server it measures, so no pass over every object per event.
	if was := r.ready[key]; was != ready {
		if ready {
			r.count++
		} else {
			r.count--
		}
	}
	r.ready[key] = ready
	kept := r.targets[:0]
	for _, t := range r.targets {
		if r.count >= t.n {
			t.done <- time.Now()
			continue
		}
		kept = append(kept, t)
	}
	r.targets = kept
}

// await returns a channel that receives the time n objects were ready.
func (r *readyCounter) await(n int) <-chan time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := target{n: n, done: make(chan time.Time, 1)}
	r.targets = append(r.targets, t)
	return t.done
}

// watcher is a cache of the benchmark's own (an admin's view), used to see
// the moment things happen rather than poll for them.
type watcher struct {
	cache  cache.Cache
	cancel context.CancelFunc
}

func newWatcher(cfg *rest.Config, opts cache.Options) (*watcher, error) {
	opts.Scheme = manager.NewScheme()
	c, err := cache.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = c.Start(ctx) }()
	return &watcher{cache: c, cancel: cancel}, nil
}

// newManagedWatcher watches only what the operator manages, as its own
// caches do.
func newManagedWatcher(cfg *rest.Config) (*watcher, error) {
	return newWatcher(cfg, cache.Options{DefaultLabelSelector: manager.ManagedSelector()})
}

func (w *watcher) onEvent(ctx context.Context, obj client.Object, fn func(obj any)) error {
	inf, err := w.cache.GetInformer(ctx, obj)
	if err != nil {
		return err
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    fn,
		UpdateFunc: func(_, obj any) { fn(obj) },
	})
	if err != nil {
		return err
	}
	if !w.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("the benchmark's cache did not sync")
	}
	return nil
}

func (w *watcher) countReady(ctx context.Context, obj client.Object, prefix string) (*readyCounter, error) {
	r := &readyCounter{prefix: prefix, ready: map[string]bool{}}
	return r, w.onEvent(ctx, obj, r.observe)
}

func (w *watcher) stop() { w.cancel() }

// childKinds are the kinds tenantai creates for a Tenant and its
// TenantQuota; the baseline creates the same objects.
var childKinds = []schema.GroupVersionKind{
	corev1.SchemeGroupVersion.WithKind("Namespace"),
	corev1.SchemeGroupVersion.WithKind("LimitRange"),
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
	corev1.SchemeGroupVersion.WithKind("Secret"),
	corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	corev1.SchemeGroupVersion.WithKind("ResourceQuota"),
	rbacv1.SchemeGroupVersion.WithKind("RoleBinding"),
}

// templates are the objects the operator made for one tenant, as a client
// would send them (name, namespace, labels, annotations and content; no
// status, no server-set metadata), with the tenant's name as a placeholder.
type templates struct {
	tenant  string
	objects []string // JSON, namespaces first
	kinds   map[string]int
}

func captureTemplates(ctx context.Context, c client.Client, tenantName string) (*templates, error) {
	t := &templates{tenant: tenantName, kinds: map[string]int{}}
	var namespaces, rest []string
	for _, gvk := range childKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: tenantName}); err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			clean := map[string]any{"apiVersion": item.GetAPIVersion(), "kind": item.GetKind()}
			for k, v := range item.Object {
				if k != "metadata" && k != "status" && k != "apiVersion" && k != "kind" {
					clean[k] = v
				}
			}
			md := map[string]any{"name": item.GetName(), "labels": item.GetLabels()}
			if item.GetNamespace() != "" {
				md["namespace"] = item.GetNamespace()
			}
			if a := item.GetAnnotations(); len(a) > 0 {
				md["annotations"] = a
			}
			clean["metadata"] = md
			if gvk.Kind == "Namespace" {
				delete(clean, "spec") // finalizers are the API server's
			}
			b, err := json.Marshal(clean)
			if err != nil {
				return nil, err
			}
			if gvk.Kind == "Namespace" {
				namespaces = append(namespaces, string(b))
			} else {
				rest = append(rest, string(b))
			}
			t.kinds[gvk.Kind]++
		}
	}
	t.objects = append(t.objects, namespaces...)
	t.objects = append(t.objects, rest...)
	if len(namespaces) == 0 || len(rest) == 0 {
		return nil, fmt.Errorf("tenant %s has no children to copy", tenantName)
	}
	return t, nil
}

// instantiate returns the template objects for another tenant name, with
// extra labels (the baseline's run label and its own managed-by value, so
// the operator's label-filtered caches never see them).
func (t *templates) instantiate(name string, labels map[string]string) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(t.objects))
	for _, s := range t.objects {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(strings.ReplaceAll(s, t.tenant, name)), &u.Object); err != nil {
			return nil, err
		}
		l := u.GetLabels()
		for k, v := range labels {
			l[k] = v
		}
		u.SetLabels(l)
		out = append(out, u)
	}
	return out, nil
}

func (t *templates) String() string {
	parts := []string{}
	for _, gvk := range childKinds {
		if n := t.kinds[gvk.Kind]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, gvk.Kind))
		}
	}
	return strings.Join(parts, ", ")
}
