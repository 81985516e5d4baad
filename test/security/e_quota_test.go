package security_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

func TestE_Quota(t *testing.T) {
	ctx := context.Background()

	t.Run("E22 the owner cannot create, edit or delete quotas and limit ranges", func(t *testing.T) {
		refused(t, owner.Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "mine"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: quantity("1000")}}}), byRBAC())
		refused(t, owner.Create(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "mine"}}), byRBAC())
		for kind, g := range guardrails() {
			if kind != "ResourceQuota" && kind != "LimitRange" {
				continue
			}
			refused(t, owner.Delete(ctx, g.obj.DeepCopyObject().(client.Object)), byRBAC())
		}
	})

	t.Run("E24 pods get LimitRange defaults; without a LimitRange quota fails closed", func(t *testing.T) {
		pod := compliantPod("defaults")
		if err := admin.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if got := pod.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "100m" {
			t.Errorf("the container got cpu request %q, want the LimitRange default 100m", got)
		}
		ensureNamespace(t, "no-limitrange")
		rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "no-limitrange", Name: "q"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: quantity("1")}}}
		if err := env.Admin.Create(ctx, rq); err != nil {
			t.Fatal(err)
		}
		bare := compliantPod("bare")
		bare.Namespace = "no-limitrange"
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := admin.Create(ctx, bare.DeepCopy(), client.DryRunAll)
			if err != nil && byQuota("failed quota: q: must specify requests.cpu").match(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a pod without requests was not refused by quota: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // until kube-controller-manager has seen the quota
		}
	})

	t.Run("E25 concurrent creations never overshoot the tenant total", func(t *testing.T) {
		const total = 6 // blue's TenantQuota pods
		namespaces := []string{"blue-prod", "blue-dev"}
		stop := make(chan struct{})
		var overshoot []string
		var polls int
		var pollWG sync.WaitGroup
		pollWG.Add(1)
		go func() {
			defer pollWG.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				n := 0
				for _, ns := range namespaces {
					pods := &corev1.PodList{}
					if err := env.Admin.List(ctx, pods, client.InNamespace(ns)); err == nil {
						n += len(pods.Items)
					}
				}
				polls++
				if n > total {
					overshoot = append(overshoot, fmt.Sprintf("%d pods in blue's namespaces", n))
				}
			}
		}()
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pod := compliantPod(fmt.Sprintf("rush-%d", i))
				pod.Namespace = namespaces[i%2]
				for attempt := 0; attempt < 20; attempt++ {
					if env.Admin.Create(ctx, pod.DeepCopy()) == nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		time.Sleep(time.Second)
		close(stop)
		pollWG.Wait()
		if polls == 0 {
			t.Fatal("the poller never ran")
		}
		if len(overshoot) > 0 {
			t.Fatalf("the tenant total was overshot: %v", overshoot)
		}
		tq := &platformv1alpha1.TenantQuota{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "blue"}, tq); err != nil {
			t.Fatal(err)
		}
		err := env.Admin.Create(ctx, compliantPod("one-more"))
		refused(t, err, byQuota("exceeded quota: tenantai-quota"))
	})
}
