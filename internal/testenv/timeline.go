package testenv

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Event is one watch event, placed in a timeline by the object's
// resourceVersion (etcd's global revision), so that events of different
// kinds can be ordered against each other.
type Event struct {
	Revision  int64
	Kind      string
	Namespace string
	Name      string
	Deleted   bool
	// Object is the object as the event carried it.
	Object client.Object
}

// Timeline records every event of some watches, opened before the action
// under test: ordering claims ("no binding while a guardrail is missing",
// "no quota removed while a binding exists") are checked on every event, not
// on a poll that can miss a millisecond.
type Timeline struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	events []Event
	err    error
}

// Watch is one watch of a timeline: the kind's name in the events, the list
// type to watch, and its list options.
type Watch struct {
	Kind string
	List client.ObjectList
	Opts []client.ListOption
}

// WatchKinds is a Watch per kind (its name in the events, and the list type
// to watch), all with the same list options.
func WatchKinds(kinds map[string]client.ObjectList, opts ...client.ListOption) []Watch {
	out := make([]Watch, 0, len(kinds))
	for kind, list := range kinds {
		out = append(out, Watch{Kind: kind, List: list, Opts: opts})
	}
	return out
}

// WatchTimeline opens the watches, as the admin.
func (e *Env) WatchTimeline(watches []Watch) (*Timeline, error) {
	wc, err := client.NewWithWatch(e.AdminConfig, client.Options{Scheme: e.Admin.Scheme()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	tl := &Timeline{cancel: cancel}
	for _, w := range watches {
		stream, err := wc.Watch(ctx, w.List, w.Opts...)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("watching %s: %w", w.Kind, err)
		}
		tl.wg.Add(1)
		go tl.record(ctx, w.Kind, stream)
	}
	return tl, nil
}

func (tl *Timeline) record(ctx context.Context, kind string, w watch.Interface) {
	defer tl.wg.Done()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			obj, ok := ev.Object.(client.Object)
			if !ok {
				continue
			}
			rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
			tl.mu.Lock()
			if err != nil && tl.err == nil {
				tl.err = fmt.Errorf("resourceVersion %q of %s %s is not a revision", obj.GetResourceVersion(), kind, obj.GetName())
			}
			tl.events = append(tl.events, Event{Revision: rv, Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(),
				Deleted: ev.Type == watch.Deleted, Object: obj})
			tl.mu.Unlock()
		}
	}
}

// Stop closes the watches and returns every event in revision order.
func (tl *Timeline) Stop() ([]Event, error) {
	tl.cancel()
	tl.wg.Wait()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	events := append([]Event(nil), tl.events...)
	sort.SliceStable(events, func(i, j int) bool { return events[i].Revision < events[j].Revision })
	return events, tl.err
}
