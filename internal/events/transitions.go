// Package events helps the reconcilers record an Event once per condition
// transition. A reconcile may read its object from a cache that has not yet
// seen the operator's own last status write (another watch event queued the
// reconcile meanwhile); compared with that stale status, the transition just
// recorded looks new again and would be recorded twice. Written remembers
// the conditions last written per object, a view at least as new as the
// cache's, to compare with instead.
package events

import (
	"sync"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Written is a reconciler's memory of the conditions it last wrote per
// object. The zero value is ready to use and safe for concurrent reconciles.
// It keeps the type, status and reason of each condition (no message, no
// times; the strings interned: they come from a small fixed set), about
// 24 bytes a condition, and drops an object on Forget.
type Written struct {
	mu      sync.Mutex
	objects map[client.ObjectKey]written
}

// written is what was last written to one object; the UID tells a recreated
// object of the same name from the one written.
type written struct {
	uid        types.UID
	conditions []condition
}

// condition is what a transition is decided on.
type condition struct {
	typ, status, reason unique.Handle[string]
}

// Before returns the conditions a new status is compared with to find its
// transitions: those last written to obj by this process when known, else
// read, the conditions obj was read with. After a restart or a leader
// change the memory is empty and the object as read is the truth.
func (w *Written) Before(obj client.Object, read []metav1.Condition) []metav1.Condition {
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.objects[client.ObjectKeyFromObject(obj)]
	if !ok || last.uid != obj.GetUID() {
		return read
	}
	out := make([]metav1.Condition, 0, len(last.conditions))
	for _, c := range last.conditions {
		out = append(out, metav1.Condition{Type: c.typ.Value(), Status: metav1.ConditionStatus(c.status.Value()), Reason: c.reason.Value()})
	}
	return out
}

// Remember records the conditions about to be written to obj. It is called
// before the write: should the write fail, the Events of this pass were
// recorded all the same, and the retry must not record them again.
func (w *Written) Remember(obj client.Object, conditions []metav1.Condition) {
	kept := make([]condition, 0, len(conditions))
	for _, c := range conditions {
		kept = append(kept, condition{unique.Make(c.Type), unique.Make(string(c.Status)), unique.Make(c.Reason)})
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.objects == nil {
		w.objects = map[client.ObjectKey]written{}
	}
	w.objects[client.ObjectKeyFromObject(obj)] = written{uid: obj.GetUID(), conditions: kept}
}

// Forget drops what was remembered about an object that no longer exists.
func (w *Written) Forget(key client.ObjectKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.objects, key)
}
