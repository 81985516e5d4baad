package security_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// TestZ_OperatorStopped runs last (files run in name order): with the operator
// stopped, enforcement is unchanged — it lives in the API server — and ordinary
// work, which never waits on the operator, goes on.
func TestZ_OperatorStopped(t *testing.T) {
	ctx := context.Background()
	stopOperator()

	t.Run("guardrails still refused", func(t *testing.T) {
		refused(t, admin.Delete(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "red-prod", Name: naming.LimitRange}}, client.DryRunAll),
			byPolicy(policyOwned))
		refused(t, labelEdits[0].apply(admin, "red-prod", platformv1alpha1.TenantLabel, nil), byPolicy(policyNS))
		refused(t, owner.Get(ctx, client.ObjectKey{Namespace: "red-prod", Name: naming.DataKeySecret}, &corev1.Secret{}), byRBAC())
		pod := compliantPod("privileged")
		pod.Namespace = "red-prod"
		pod.Spec.HostNetwork = true
		refused(t, admin.Create(ctx, pod, client.DryRunAll), byPodSecurity())
	})

	t.Run("scheduling and exposure still enforced", func(t *testing.T) {
		greenTenant(t)
		pod := greenPod("stopped")
		if err := admin.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if pod.Spec.NodeSelector["pool.example.com/tenant"] != "green" {
			t.Errorf("no injection with the operator stopped: %v", pod.Spec.NodeSelector)
		}
		pod = greenPod("greedy")
		pod.Spec.PriorityClassName = "other-team-high"
		refused(t, admin.Create(ctx, pod, client.DryRunAll), byPolicy(policyScheduling))
	})

	t.Run("ordinary work is unaffected", func(t *testing.T) {
		pod := compliantPod("within-quota")
		pod.Namespace = "red-prod"
		if err := env.Admin.Create(ctx, pod); err != nil {
			t.Fatalf("a pod within quota in a tenant namespace: %v", err)
		}
		sys := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "ordinary"}}
		if err := admin.Create(ctx, sys); err != nil {
			t.Fatalf("system namespaces: %v", err)
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-x", Labels: map[string]string{"team": "x"}}}
		if err := admin.Create(ctx, ns); err != nil {
			t.Fatalf("an ordinary namespace: %v", err)
		}
		if err := admin.Delete(ctx, ns); err != nil {
			t.Fatalf("deleting an ordinary namespace: %v", err)
		}
	})
}
