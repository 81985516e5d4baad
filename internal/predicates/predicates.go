// Package predicates holds the event filters the controllers share.
package predicates

import (
	"maps"

	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// DeletionStarted passes creations, deletions and the update that marks an
// object for deletion, whether or not the API server bumped its generation
// for it.
type DeletionStarted struct{ predicate.Funcs }

// Update passes an update that carries a deletion timestamp.
func (DeletionStarted) Update(e event.UpdateEvent) bool {
	return !e.ObjectNew.GetDeletionTimestamp().IsZero()
}

// LabelsChanged passes creations, deletions and updates that change labels:
// with a label-restricted cache, an object entering or leaving it arrives as
// a creation or deletion, and a label change can change what it maps to.
// Status updates (a ResourceQuota's use, which changes with every pod) are
// filtered out.
type LabelsChanged struct{ predicate.Funcs }

// Update passes an update whose labels differ.
func (LabelsChanged) Update(e event.UpdateEvent) bool {
	return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
}

// DeletionOnly passes deletions only: a watcher that waits for objects to be
// gone needs nothing else.
type DeletionOnly struct{ predicate.Funcs }

// Create passes nothing.
func (DeletionOnly) Create(event.CreateEvent) bool { return false }

// Update passes nothing.
func (DeletionOnly) Update(event.UpdateEvent) bool { return false }

// Generic passes nothing.
func (DeletionOnly) Generic(event.GenericEvent) bool { return false }
