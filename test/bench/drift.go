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
)

// drift (B4) deletes one guardrail (a NetworkPolicy) in a random tenant
// namespace as a break-glass admin, `trials` times one after the other, and
// returns each time from the delete request until a watch sees the operator's
// replacement.
func drift(ctx context.Context, c *cluster, n int, prefix string, trials int, rng *rand.Rand) ([]time.Duration, error) {
	bg, err := c.BreakGlass()
	if err != nil {
		return nil, err
	}
	w, err := newManagedWatcher(c.AdminConfig)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	var mu sync.Mutex
	pending := map[types.NamespacedName]chan time.Time{}
	deleted := map[types.NamespacedName]types.UID{}
	onEvent := func(obj any) {
		np, ok := obj.(*networkingv1.NetworkPolicy)
		if !ok {
			return
		}
		key := client.ObjectKeyFromObject(np)
		mu.Lock()
		defer mu.Unlock()
		if ch, ok := pending[key]; ok && np.UID != deleted[key] {
			ch <- time.Now()
			delete(pending, key)
		}
	}
	if err := w.onEvent(ctx, &networkingv1.NetworkPolicy{}, onEvent); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, trials)
	for i := 0; i < trials; i++ {
		ns := fmt.Sprintf("%s-%04d-%s", prefix, rng.IntN(n), []string{"a", "b"}[rng.IntN(2)])
		list := &networkingv1.NetworkPolicyList{}
		if err := w.cache.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		if len(list.Items) == 0 {
			return nil, fmt.Errorf("no NetworkPolicy in %s", ns)
		}
		victim := list.Items[rng.IntN(len(list.Items))]
		key := client.ObjectKeyFromObject(&victim)
		restored := make(chan time.Time, 1)
		mu.Lock()
		pending[key], deleted[key] = restored, victim.UID
		mu.Unlock()
		start := time.Now()
		if err := bg.Delete(ctx, &victim, client.Preconditions{UID: &victim.UID}); err != nil {
			return nil, fmt.Errorf("deleting %s: %w", key, err)
		}
		select {
		case t := <-restored:
			out = append(out, t.Sub(start))
		case <-time.After(time.Minute):
			return nil, fmt.Errorf("NetworkPolicy %s was not restored within a minute", key)
		}
	}
	return out, nil
}
