package priority

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func object(name, resourceVersion string) client.Object {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: resourceVersion}}
}

// TestRepairsGoFirst: with provisioning queued (creations), a deletion or a
// change of a managed object is handed out first; a resync (an update that
// changed nothing) stays last.
func TestRepairsGoFirst(t *testing.T) {
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	byName := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: o.GetName()}}}
	})
	h := RepairFirst(byName)
	ctx := context.Background()
	h.Create(ctx, event.CreateEvent{Object: object("new-1", "1")}, q)
	h.Create(ctx, event.CreateEvent{Object: object("new-2", "1")}, q)
	h.Update(ctx, event.UpdateEvent{ObjectOld: object("resynced", "5"), ObjectNew: object("resynced", "5")}, q)
	h.Delete(ctx, event.DeleteEvent{Object: object("deleted", "3")}, q)
	h.Update(ctx, event.UpdateEvent{ObjectOld: object("edited", "3"), ObjectNew: object("edited", "4")}, q)

	want := []struct {
		name     string
		priority int
	}{{"deleted", Repair}, {"edited", Repair}, {"new-1", 0}, {"new-2", 0}, {"resynced", handler.LowPriority}}
	for _, w := range want {
		item, p, _ := q.GetWithPriority()
		if item.Name != w.name || p != w.priority {
			t.Fatalf("got %s at priority %d, want %s at %d", item.Name, p, w.name, w.priority)
		}
		q.Done(item)
	}
}
