package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantai/tenantai/internal/naming"
)

// rebalanceTrial follows one namespace from the moment kube-controller-
// manager reports it full to the moment its larger quota is written by the
// operator (spec) and enforced by the API server (status.hard).
type rebalanceTrial struct {
	hard                 int64
	used, spec, enforced time.Time
	done                 chan struct{}
}

// rebalanceResult is B5: usage change → rebalanced quota, per trial.
type rebalanceResult struct {
	Spec, Enforced []time.Duration
}

// rebalance (B5) fills namespace "a" of `trials` random tenants (Dynamic
// quota, pods split 2/2) with as many pods as its quota allows, ten tenants
// at a time, and measures from the moment the quota's status shows it full
// to the moment namespace a's quota has grown (headroom moved from b).
func rebalance(ctx context.Context, c *cluster, n int, prefix string, trials int, rng *rand.Rand) (rebalanceResult, error) {
	var res rebalanceResult
	w, err := newManagedWatcher(c.AdminConfig)
	if err != nil {
		return res, err
	}
	defer w.stop()
	var mu sync.Mutex
	pending := map[string]*rebalanceTrial{}
	onEvent := func(obj any) {
		rq, ok := obj.(*corev1.ResourceQuota)
		if !ok {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		t := pending[rq.Namespace]
		if t == nil {
			return
		}
		pods := func(l corev1.ResourceList) int64 { q := l[corev1.ResourcePods]; return q.Value() }
		if t.used.IsZero() && pods(rq.Status.Used) >= t.hard {
			t.used = now
		}
		if t.spec.IsZero() && pods(rq.Spec.Hard) > t.hard {
			t.spec = now
		}
		if t.enforced.IsZero() && pods(rq.Status.Hard) > t.hard {
			t.enforced = now
		}
		if !t.used.IsZero() && !t.enforced.IsZero() && !t.spec.IsZero() {
			delete(pending, rq.Namespace)
			close(t.done)
		}
	}
	if err := w.onEvent(ctx, &corev1.ResourceQuota{}, onEvent); err != nil {
		return res, err
	}
	order := rng.Perm(n)
	if trials > n {
		trials = n
	}
	for batch := 0; batch < trials; batch += 10 {
		var started []*rebalanceTrial
		for _, i := range order[batch:min(batch+10, trials)] {
			ns := fmt.Sprintf("%s-%04d-a", prefix, i)
			rq := &corev1.ResourceQuota{}
			if err := w.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ResourceQuota}, rq); err != nil {
				return res, err
			}
			hard := rq.Spec.Hard[corev1.ResourcePods]
			t := &rebalanceTrial{hard: hard.Value(), done: make(chan struct{})}
			mu.Lock()
			pending[ns] = t
			mu.Unlock()
			for p := int64(0); p < t.hard; p++ {
				if err := c.Admin.Create(ctx, loadPod(ns)); err != nil {
					return res, fmt.Errorf("creating pod %d of %d in %s: %w", p+1, t.hard, ns, err)
				}
			}
			started = append(started, t)
		}
		for _, t := range started {
			select {
			case <-t.done:
				res.Spec = append(res.Spec, t.spec.Sub(t.used))
				res.Enforced = append(res.Enforced, t.enforced.Sub(t.used))
			case <-time.After(time.Minute):
				return res, fmt.Errorf("a full namespace's quota did not grow within a minute")
			}
		}
	}
	return res, nil
}

// loadPod is a pod that passes the restricted Pod Security level and the
// quota's requirements; nothing runs it (envtest has no kubelet).
func loadPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "load-"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "load", Image: "registry.invalid/pause:3.10",
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot:             ptr.To(true),
				RunAsUser:                ptr.To[int64](1000),
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		}}},
	}
}
