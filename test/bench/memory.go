package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testutil"
)

// memorySample is the operator's memory with a number of tenants.
type memorySample struct {
	Tenants   int
	Unrelated int
	memory
}

// memoryResult is B3: one growing run.
type memoryResult struct {
	Samples []memorySample
	// HeapPerTenant and RSSPerTenant are least-squares slopes over the
	// tenant samples, in bytes.
	HeapPerTenant, RSSPerTenant float64
	// UnrelatedHeap and UnrelatedRSS are the growth caused by the unrelated
	// objects, in bytes.
	UnrelatedHeap, UnrelatedRSS float64
}

// memoryRun (B3) provisions tenants (each with its TenantQuota and two
// ModelDeployments) in steps up to each size, samples the operator's heap
// and RSS once it is idle, then adds `unrelated` ConfigMaps, Secrets and
// Pods in namespaces that belong to no tenant and samples again.
func memoryRun(ctx context.Context, c *cluster, bin launcher, sizes []int, unrelated int, heapProfile string) (memoryResult, error) {
	var res memoryResult
	op, err := startOperator(c, bin)
	if err != nil {
		return res, err
	}
	defer op.stop()
	w, err := newWatcher(c.AdminConfig, cache.Options{})
	if err != nil {
		return res, err
	}
	defer w.stop()
	const prefix = "mem"
	tenants, err := w.countReady(ctx, &platformv1alpha1.Tenant{}, prefix+"-")
	if err != nil {
		return res, err
	}
	models, err := w.countReady(ctx, &platformv1alpha1.ModelDeployment{}, "model-")
	if err != nil {
		return res, err
	}
	have := 0
	for _, size := range sizes {
		logf("B3: growing to %d tenants with 2 ModelDeployments each", size)
		tenantsReady, modelsReady := tenants.await(size), models.await(2*size)
		if err := createTenants(ctx, c.Admin, prefix, have, size); err != nil {
			return res, err
		}
		if err := waitFor(tenantsReady, 15*time.Minute, "%d tenants Ready", size); err != nil {
			return res, err
		}
		err := parallel(size-have, 16, func(i int) error {
			ns := fmt.Sprintf("%s-%04d-a", prefix, have+i)
			for _, name := range []string{"model-1", "model-2"} {
				if err := c.Admin.Create(ctx, testutil.MakeModelDeployment(ns, name).Obj()); err != nil {
					return fmt.Errorf("creating ModelDeployment %s/%s: %w", ns, name, err)
				}
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		if err := waitFor(modelsReady, 15*time.Minute, "%d ModelDeployments observed", 2*size); err != nil {
			return res, err
		}
		have = size
		s, err := sampleWhenIdle(ctx, op)
		if err != nil {
			return res, err
		}
		res.Samples = append(res.Samples, memorySample{Tenants: size, memory: s})
	}
	if heapProfile != "" {
		if err := op.saveHeapProfile(heapProfile); err != nil {
			return res, err
		}
		logf("B3: heap profile at %d tenants in %s (go tool pprof -sample_index=inuse_space %s %s)", have, heapProfile, bin.path, heapProfile)
	}
	logf("B3: adding %d unrelated objects", unrelated)
	if err := createUnrelated(ctx, c, unrelated); err != nil {
		return res, err
	}
	time.Sleep(5 * time.Second) // let the watches deliver whatever they deliver
	s, err := sampleWhenIdle(ctx, op)
	if err != nil {
		return res, err
	}
	last := res.Samples[len(res.Samples)-1]
	res.Samples = append(res.Samples, memorySample{Tenants: last.Tenants, Unrelated: unrelated, memory: s})
	res.UnrelatedHeap = float64(s.Heap) - float64(last.Heap)
	res.UnrelatedRSS = float64(s.RSS) - float64(last.RSS)
	xs, heaps, rsss := []float64{}, []float64{}, []float64{}
	for _, s := range res.Samples[:len(sizes)] {
		xs = append(xs, float64(s.Tenants))
		heaps = append(heaps, float64(s.Heap))
		rsss = append(rsss, float64(s.RSS))
	}
	res.HeapPerTenant, res.RSSPerTenant = slope(xs, heaps), slope(xs, rsss)
	return res, nil
}

func sampleWhenIdle(ctx context.Context, op *operator) (memory, error) {
	if _, err := op.waitIdle(ctx, nil); err != nil {
		return memory{}, err
	}
	// Two samples a second apart, the smaller one: a sample can catch the
	// garbage of an in-flight reconcile.
	a, err := op.memory()
	if err != nil {
		return a, err
	}
	time.Sleep(time.Second)
	b, err := op.memory()
	if err != nil {
		return b, err
	}
	return memory{Heap: min(a.Heap, b.Heap), RSS: min(a.RSS, b.RSS)}, nil
}

func waitFor(ch <-chan time.Time, d time.Duration, format string, args ...any) error {
	select {
	case <-ch:
		return nil
	case <-time.After(d):
		return fmt.Errorf("timed out after %s waiting for "+format, append([]any{d}, args...)...)
	}
}

// createUnrelated creates ConfigMaps (40%), Secrets (30%) and Pods (30%) of
// about 1 KiB each in ten namespaces that belong to no tenant.
func createUnrelated(ctx context.Context, c *cluster, n int) error {
	const namespaces = 10
	for i := 0; i < namespaces; i++ {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%02d", i)}}
		if err := c.Admin.Create(ctx, ns); err != nil {
			return err
		}
	}
	payload := strings.Repeat("x", 1024)
	return parallel(n, 16, func(i int) error {
		ns := fmt.Sprintf("unrelated-%02d", i%namespaces)
		meta := metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("obj-%05d", i),
			Labels: map[string]string{"app": "unrelated"}}
		var err error
		switch {
		case i%10 < 4:
			err = c.Admin.Create(ctx, &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"data": payload}})
		case i%10 < 7:
			err = c.Admin.Create(ctx, &corev1.Secret{ObjectMeta: meta, StringData: map[string]string{"data": payload}})
		default:
			pod := loadPod(ns)
			pod.GenerateName, pod.Name, pod.Labels = "", meta.Name, meta.Labels
			pod.Annotations = map[string]string{"data": payload}
			err = c.Admin.Create(ctx, pod)
		}
		return err
	})
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
