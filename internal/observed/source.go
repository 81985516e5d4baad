package observed

import (
	"context"
	"encoding/hex"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Source is a controller source for one observed kind: the handler hears
// of an object created, changed (in what its fingerprint or tenant covers)
// or deleted. The objects it is given carry the kind, namespace, name, the
// tenant label and the fingerprint as resourceVersion, nothing else.
func (s *Store) Source(obj client.Object, h handler.EventHandler, predicates ...predicate.Predicate) source.SyncingSource {
	ks := s.kinds[reflect.TypeOf(obj)]
	if ks == nil {
		panic(fmt.Sprintf("observed: %T is not an observed kind", obj))
	}
	return &kindSource{ks: ks, handler: h, predicates: predicates}
}

type kindSource struct {
	ks         *kindStore
	handler    handler.EventHandler
	predicates []predicate.Predicate
}

func (k *kindSource) String() string { return "observed " + k.ks.kind.Resource }

// Start registers the handler; the store itself is started by the manager.
func (k *kindSource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	k.ks.addHandler(func(old, new *Entry) {
		switch {
		case old == nil:
			e := event.CreateEvent{Object: k.object(new)}
			if k.allow(func(p predicate.Predicate) bool { return p.Create(e) }) {
				k.handler.Create(ctx, e, q)
			}
		case new == nil:
			e := event.DeleteEvent{Object: k.object(old)}
			if k.allow(func(p predicate.Predicate) bool { return p.Delete(e) }) {
				k.handler.Delete(ctx, e, q)
			}
		default:
			e := event.UpdateEvent{ObjectOld: k.object(old), ObjectNew: k.object(new)}
			if k.allow(func(p predicate.Predicate) bool { return p.Update(e) }) {
				k.handler.Update(ctx, e, q)
			}
		}
	})
	return nil
}

func (k *kindSource) allow(pass func(predicate.Predicate) bool) bool {
	for _, p := range k.predicates {
		if !pass(p) {
			return false
		}
	}
	return true
}

// object is what a handler is given for an entry.
func (k *kindSource) object(e *Entry) client.Object {
	// The fingerprint stands in for the resourceVersion: handlers take an
	// update whose versions are equal for a resync and queue it last.
	obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: e.Namespace, Name: e.Name,
		ResourceVersion: hex.EncodeToString(e.Fingerprint[:])}}
	obj.SetGroupVersionKind(k.ks.gvk)
	if e.Tenant != "" {
		obj.Labels = map[string]string{platformv1alpha1.TenantLabel: e.Tenant}
	}
	return obj
}

// WaitForSync returns once the store has listed the kind.
func (k *kindSource) WaitForSync(ctx context.Context) error {
	select {
	case <-k.ks.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("observed %s did not sync: %w", k.ks.kind.Resource, ctx.Err())
	}
}
