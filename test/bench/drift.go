package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// drifter deletes guardrails (NetworkPolicies) as a break-glass admin and
// times each repair, from the delete request until a watch sees the
// operator's replacement.
type drifter struct {
	bg client.Client
	w  *watcher

	mu      sync.Mutex
	pending map[types.NamespacedName]chan time.Time
	deleted map[types.NamespacedName]types.UID
}

func newDrifter(ctx context.Context, c *cluster) (*drifter, error) {
	bg, err := c.BreakGlass()
	if err != nil {
		return nil, err
	}
	w, err := newManagedWatcher(c.AdminConfig)
	if err != nil {
		return nil, err
	}
	d := &drifter{bg: bg, w: w, pending: map[types.NamespacedName]chan time.Time{}, deleted: map[types.NamespacedName]types.UID{}}
	if err := w.onEvent(ctx, &networkingv1.NetworkPolicy{}, d.observe); err != nil {
		w.stop()
		return nil, err
	}
	return d, nil
}

func (d *drifter) stop() { d.w.stop() }

func (d *drifter) observe(obj any) {
	np, ok := obj.(*networkingv1.NetworkPolicy)
	if !ok {
		return
	}
	key := client.ObjectKeyFromObject(np)
	d.mu.Lock()
	defer d.mu.Unlock()
	if ch, ok := d.pending[key]; ok && np.UID != d.deleted[key] {
		ch <- time.Now()
		delete(d.pending, key)
	}
}

// trial deletes a random NetworkPolicy of those opts select and waits for
// its replacement.
func (d *drifter) trial(ctx context.Context, rng *rand.Rand, opts ...client.ListOption) (time.Duration, error) {
	list := &networkingv1.NetworkPolicyList{}
	if err := d.w.cache.List(ctx, list, opts...); err != nil {
		return 0, err
	}
	if len(list.Items) == 0 {
		return 0, fmt.Errorf("no NetworkPolicy matches %v", opts)
	}
	victim := list.Items[rng.IntN(len(list.Items))]
	key := client.ObjectKeyFromObject(&victim)
	restored := make(chan time.Time, 1)
	d.mu.Lock()
	d.pending[key], d.deleted[key] = restored, victim.UID
	d.mu.Unlock()
	start := time.Now()
	if err := d.bg.Delete(ctx, &victim, client.Preconditions{UID: &victim.UID}); err != nil {
		return 0, fmt.Errorf("deleting %s: %w", key, err)
	}
	select {
	case t := <-restored:
		return t.Sub(start), nil
	case <-time.After(time.Minute):
		return 0, fmt.Errorf("NetworkPolicy %s was not restored within a minute", key)
	}
}

// drift (B4) deletes one guardrail in a random tenant namespace, `trials`
// times one after the other, on a quiet operator.
func drift(ctx context.Context, c *cluster, n int, prefix string, trials int, rng *rand.Rand) ([]time.Duration, error) {
	d, err := newDrifter(ctx, c)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	out := make([]time.Duration, 0, trials)
	for i := 0; i < trials; i++ {
		ns := fmt.Sprintf("%s-%04d-%s", prefix, rng.IntN(n), []string{"a", "b"}[rng.IntN(2)])
		took, err := d.trial(ctx, rng, client.InNamespace(ns))
		if err != nil {
			return nil, err
		}
		out = append(out, took)
	}
	return out, nil
}

// driftUnderLoad (B4 during B1) repeats drift trials on the warm-up
// tenant's guardrails, one after the other with a pause of underLoadPause,
// until busy is closed: the repair competes with provisioning for the
// operator's work queue and the API server. At least one trial runs.
func driftUnderLoad(ctx context.Context, d *drifter, rng *rand.Rand, busy <-chan struct{}) ([]time.Duration, error) {
	var out []time.Duration
	for {
		took, err := d.trial(ctx, rng, client.MatchingLabels{platformv1alpha1.TenantLabel: warmupTenant})
		if err != nil {
			return out, err
		}
		out = append(out, took)
		select {
		case <-busy:
			return out, nil
		case <-time.After(underLoadPause):
		}
	}
}

// underLoadPause spaces the trials of B4 during B1, so that the repairs
// (left out of B1's write count) add little to B1's own load.
const underLoadPause = 250 * time.Millisecond
