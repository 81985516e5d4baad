package testenv

import (
	"context"
	"fmt"
	"sort"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// EventsAbout lists the Events (events.k8s.io/v1, what the operator records)
// regarding one object, oldest first. The object is matched by UID, so that an
// earlier object of the same name does not count.
func (e *Env) EventsAbout(ctx context.Context, obj client.Object) ([]eventsv1.Event, error) {
	list := &eventsv1.EventList{}
	if err := e.Admin.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing Events: %w", err)
	}
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.UID == obj.GetUID() {
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].EventTime.Before(&out[j].EventTime) })
	return out, nil
}

// EventSummary is what tests assert about an Event: its type and reason, the
// object it is about (kind, namespace, name), the related object's kind if
// any, and how often it was emitted (1 + its series count beyond the first).
type EventSummary struct {
	Type, Reason, Kind, Namespace, Name, Related string
	Count                                        int32
}

// Summarize reduces Events to what tests compare, in the order given.
func Summarize(events []eventsv1.Event) []EventSummary {
	out := make([]EventSummary, 0, len(events))
	for _, ev := range events {
		s := EventSummary{
			Type: ev.Type, Reason: ev.Reason,
			Kind: ev.Regarding.Kind, Namespace: ev.Regarding.Namespace, Name: ev.Regarding.Name,
			Count: 1,
		}
		if ev.Related != nil {
			s.Related = ev.Related.Kind
		}
		if ev.Series != nil {
			s.Count = ev.Series.Count
		}
		out = append(out, s)
	}
	return out
}
