// Package observed watches the guardrails the operator writes and keeps, per
// object, only its fingerprint and its tenant: enough to tell whether the
// object still holds what the operator wants (apply.Fingerprint) and whom to
// reconcile when it changes.
//
// # Why not the manager's cache
//
// A tenant has about twenty guardrails (NetworkPolicies, LimitRanges, policy
// ConfigMaps, key copies, RoleBindings). Decoded and cached, each costs 1.5
// to 2 KiB of heap (metadata maps, the payload, the informer's indexes); the
// operator needs none of it but the answer to "does it match?". An entry
// here is about 60 bytes. The price: a reconciler that needs the payload of
// an observed object (rare: narrowing a RoleBinding, recovering a key from
// its copies) reads it from the API server.
//
// Drift is still seen from the object itself: the fingerprint is computed
// from every watch event's live payload, so an edit that leaves the applied
// hash alone changes the fingerprint all the same.
package observed

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
)

// Kind is one observed kind: an empty object of it and how to list and
// watch its objects.
type Kind struct {
	Object client.Object
	// Resource is the kind's plural resource name.
	Resource string
	// RESTClient picks the clientset's client for the kind's group version.
	RESTClient func(kubernetes.Interface) rest.Interface
	// ExceptNamespace, when set, is a namespace whose objects of the kind
	// are not observed (the manager's cache holds them).
	ExceptNamespace string
}

// entry is what the store keeps of one object. Names and tenants are
// interned: every namespace holds the same few guardrail names.
type entry struct {
	name        unique.Handle[string]
	tenant      unique.Handle[string]
	fingerprint apply.Fingerprint
}

// Entry is an observed object as the store reports it.
type Entry struct {
	Namespace, Name string
	// Tenant is the value of the object's tenant label ("" without one).
	Tenant      string
	Fingerprint apply.Fingerprint
}

// Store observes a set of kinds. It is a manager Runnable: Start runs one
// reflector per kind until the manager stops.
type Store struct {
	config *rest.Config
	scheme *runtime.Scheme
	kinds  map[reflect.Type]*kindStore
}

// New returns a store for kinds, talking to the API server as config does.
func New(config *rest.Config, scheme *runtime.Scheme, kinds ...Kind) (*Store, error) {
	s := &Store{config: config, scheme: scheme, kinds: map[reflect.Type]*kindStore{}}
	for _, k := range kinds {
		gvk, err := apiutil.GVKForObject(k.Object, scheme)
		if err != nil {
			return nil, err
		}
		s.kinds[reflect.TypeOf(k.Object)] = &kindStore{kind: k, gvk: gvk, namespaces: map[string][]entry{}, synced: make(chan struct{})}
	}
	return s, nil
}

// Observes reports whether obj's kind, in obj's namespace, is observed.
func (s *Store) Observes(obj client.Object) bool {
	if s == nil {
		return false
	}
	ks, ok := s.kinds[reflect.TypeOf(obj)]
	return ok && (ks.kind.ExceptNamespace == "" || obj.GetNamespace() != ks.kind.ExceptNamespace)
}

// Fingerprint returns the fingerprint of the live object of obj's kind,
// namespace and name; false when the store has none.
func (s *Store) Fingerprint(obj client.Object) (apply.Fingerprint, bool) {
	ks := s.kinds[reflect.TypeOf(obj)]
	if ks == nil {
		return apply.Fingerprint{}, false
	}
	e, ok := ks.get(obj.GetNamespace(), obj.GetName())
	return e.fingerprint, ok
}

// Has reports whether an object of obj's kind, namespace and name exists.
func (s *Store) Has(obj client.Object) bool {
	_, ok := s.Fingerprint(obj)
	return ok
}

// List returns the observed objects of obj's kind in a namespace.
func (s *Store) List(obj client.Object, namespace string) []Entry {
	ks := s.kinds[reflect.TypeOf(obj)]
	if ks == nil {
		return nil
	}
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	entries := ks.namespaces[namespace]
	out := make([]Entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.export(namespace))
	}
	return out
}

// NeedLeaderElection is false: followers keep their store warm, as they do
// their caches, to take over without a full list.
func (s *Store) NeedLeaderElection() bool { return false }

// Start runs a reflector per kind until ctx is done.
func (s *Store) Start(ctx context.Context) error {
	cfg := rest.CopyConfig(s.config)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("observed: %w", err)
	}
	var wg sync.WaitGroup
	for _, ks := range s.kinds {
		lw := toolscache.NewFilteredListWatchFromClient(ks.kind.RESTClient(cs), ks.kind.Resource, metav1.NamespaceAll,
			func(o *metav1.ListOptions) {
				o.LabelSelector = platformv1alpha1.ManagedByLabel + "=" + platformv1alpha1.ManagedByValue
				if ks.kind.ExceptNamespace != "" {
					o.FieldSelector = "metadata.namespace!=" + ks.kind.ExceptNamespace
				}
			})
		r := toolscache.NewReflectorWithOptions(lw, ks.kind.Object, ks, toolscache.ReflectorOptions{
			Name:            "observed " + ks.kind.Resource,
			TypeDescription: ks.gvk.String(),
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.RunWithContext(ctx)
		}()
	}
	logf.FromContext(ctx).V(1).Info("observing guardrails", "kinds", len(s.kinds))
	wg.Wait()
	return nil
}

// kindStore holds one kind's entries by namespace and tells its handlers
// about changes. It is the reflector's store: the reflector calls Add,
// Update, Delete and Replace with decoded objects, which are reduced to
// entries at once and dropped.
type kindStore struct {
	kind Kind
	gvk  schema.GroupVersionKind

	mu         sync.RWMutex
	namespaces map[string][]entry
	handlers   []func(old, new *Entry)
	synced     chan struct{}
	syncOnce   sync.Once
}

func (ks *kindStore) get(namespace, name string) (entry, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	n := unique.Make(name)
	for _, e := range ks.namespaces[namespace] {
		if e.name == n {
			return e, true
		}
	}
	return entry{}, false
}

func (e entry) export(namespace string) Entry {
	return Entry{Namespace: namespace, Name: e.name.Value(), Tenant: e.tenant.Value(), Fingerprint: e.fingerprint}
}

// reduce turns a decoded object into its namespace and entry.
func (ks *kindStore) reduce(raw any) (string, entry, error) {
	obj, ok := raw.(client.Object)
	if !ok {
		return "", entry{}, fmt.Errorf("observed %s: unexpected %T", ks.kind.Resource, raw)
	}
	fp, err := apply.FingerprintOf(obj)
	if err != nil {
		return "", entry{}, err
	}
	return unique.Make(obj.GetNamespace()).Value(), entry{
		name:        unique.Make(obj.GetName()),
		tenant:      unique.Make(obj.GetLabels()[platformv1alpha1.TenantLabel]),
		fingerprint: fp,
	}, nil
}

// set stores e and returns the entry it replaced (false: none).
func (ks *kindStore) set(namespace string, e entry) (entry, bool) {
	entries := ks.namespaces[namespace]
	for i := range entries {
		if entries[i].name == e.name {
			old := entries[i]
			entries[i] = e
			return old, true
		}
	}
	ks.namespaces[namespace] = append(entries, e)
	return entry{}, false
}

func (ks *kindStore) remove(namespace string, name unique.Handle[string]) (entry, bool) {
	entries := ks.namespaces[namespace]
	for i := range entries {
		if entries[i].name == name {
			old := entries[i]
			if len(entries) == 1 {
				delete(ks.namespaces, namespace)
			} else {
				ks.namespaces[namespace] = slices.Delete(entries, i, i+1)
			}
			return old, true
		}
	}
	return entry{}, false
}

// change is one transition to tell the handlers about.
type change struct{ old, new *Entry }

func (ks *kindStore) notify(changes []change) {
	ks.mu.RLock()
	handlers := slices.Clone(ks.handlers)
	ks.mu.RUnlock()
	for _, c := range changes {
		for _, h := range handlers {
			h(c.old, c.new)
		}
	}
}

func transition(namespace string, old entry, hadOld bool, new entry, hasNew bool) (change, bool) {
	switch {
	case hadOld && hasNew && old == new:
		return change{}, false // nothing the operator compares changed
	case !hadOld && !hasNew:
		return change{}, false
	}
	var c change
	if hadOld {
		e := old.export(namespace)
		c.old = &e
	}
	if hasNew {
		e := new.export(namespace)
		c.new = &e
	}
	return c, true
}

// Add and Update record an object (the reflector's store interface).
func (ks *kindStore) Add(obj any) error { return ks.Update(obj) }

func (ks *kindStore) Update(obj any) error {
	ns, e, err := ks.reduce(obj)
	if err != nil {
		return err
	}
	ks.mu.Lock()
	old, hadOld := ks.set(ns, e)
	ks.mu.Unlock()
	if c, ok := transition(ns, old, hadOld, e, true); ok {
		ks.notify([]change{c})
	}
	return nil
}

// Delete forgets an object.
func (ks *kindStore) Delete(obj any) error {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(client.Object)
	if !ok {
		return fmt.Errorf("observed %s: unexpected %T", ks.kind.Resource, obj)
	}
	ns := o.GetNamespace()
	ks.mu.Lock()
	old, hadOld := ks.remove(ns, unique.Make(o.GetName()))
	ks.mu.Unlock()
	if c, ok := transition(ns, old, hadOld, entry{}, false); ok {
		ks.notify([]change{c})
	}
	return nil
}

// Replace swaps in a complete list (a list or relist) and tells the
// handlers what it changed, deletions included.
func (ks *kindStore) Replace(list []any, _ string) error {
	next := make(map[string][]entry, len(ks.namespaces))
	for _, obj := range list {
		ns, e, err := ks.reduce(obj)
		if err != nil {
			return err
		}
		next[ns] = append(next[ns], e)
	}
	ks.mu.Lock()
	prev := ks.namespaces
	ks.namespaces = next
	ks.mu.Unlock()
	var changes []change
	for ns, entries := range next {
		for _, e := range entries {
			old, hadOld := find(prev[ns], e.name)
			if c, ok := transition(ns, old, hadOld, e, true); ok {
				changes = append(changes, c)
			}
		}
	}
	for ns, entries := range prev {
		for _, old := range entries {
			if _, still := find(next[ns], old.name); !still {
				c, _ := transition(ns, old, true, entry{}, false)
				changes = append(changes, c)
			}
		}
	}
	ks.notify(changes)
	ks.syncOnce.Do(func() { close(ks.synced) })
	return nil
}

func find(entries []entry, name unique.Handle[string]) (entry, bool) {
	for _, e := range entries {
		if e.name == name {
			return e, true
		}
	}
	return entry{}, false
}

// Resync has nothing to do: handlers hear of changes, not of periods.
func (ks *kindStore) Resync() error { return nil }

// addHandler registers h and replays every object it has as an addition,
// as an informer does for a late handler.
func (ks *kindStore) addHandler(h func(old, new *Entry)) {
	ks.mu.Lock()
	ks.handlers = append(ks.handlers, h)
	var current []Entry
	for ns, entries := range ks.namespaces {
		for _, e := range entries {
			current = append(current, e.export(ns))
		}
	}
	ks.mu.Unlock()
	for i := range current {
		h(nil, &current[i])
	}
}
