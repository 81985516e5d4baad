// Package priority puts the reconciles that repair drift ahead of the rest of
// a controller's queue.
//
// While hundreds of tenants are being provisioned (a GitOps sync, a
// migration), a Tenant controller's queue holds hundreds of reconciles of a
// second or so each. A guardrail deleted or edited meanwhile waited behind
// all of them: 23 s at the 99th percentile with 300 tenants provisioning
// (B4 during B1), while the tenant's isolation was open. A repair exposes
// someone until it runs; provisioning only delays someone. With the
// controller's priority queue (controller-runtime's default) RepairFirst
// queues the reconciles caused by updates and deletions of what a
// controller manages above everything else.
package priority

import (
	"context"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Repair is the priority of a reconcile that repairs drift. Requests
// without a priority are at 0; those from an initial list or a resync at
// handler.LowPriority, where RepairFirst leaves them.
const Repair = 100

// RepairFirst wraps h so that the requests it makes for updates and
// deletions (of a managed object: drift, or the operator's own writes,
// which finish a tenant already in progress) are queued at priority Repair.
// Creations keep h's priority: at scale they are the provisioning itself.
func RepairFirst(h handler.EventHandler) handler.EventHandler {
	return handler.Funcs{
		CreateFunc: h.Create,
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, e, at(q, Repair))
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Delete(ctx, e, at(q, Repair))
		},
		GenericFunc: h.Generic,
	}
}

// at returns q with every addition raised to priority p (q unchanged when
// it is not a priority queue).
func at(q workqueue.TypedRateLimitingInterface[reconcile.Request], p int) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request])
	if !ok {
		return q
	}
	return raised{PriorityQueue: pq, priority: p}
}

type raised struct {
	priorityqueue.PriorityQueue[reconcile.Request]
	priority int
}

func (r raised) Add(item reconcile.Request) {
	r.AddWithOpts(priorityqueue.AddOpts{}, item)
}

// AddWithOpts raises the priority, except for a request h lowered on
// purpose (an update that is a resync: the object did not change).
func (r raised) AddWithOpts(o priorityqueue.AddOpts, items ...reconcile.Request) {
	if o.Priority == nil || *o.Priority >= 0 {
		p := max(r.priority, ptrOr(o.Priority))
		o.Priority = &p
	}
	r.PriorityQueue.AddWithOpts(o, items...)
}

func ptrOr(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
