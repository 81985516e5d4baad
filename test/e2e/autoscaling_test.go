//go:build e2e

package e2e

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

var _ = Describe("Autoscaling", func() {
	It("scales a ModelDeployment with its HPA under emulated load, up to the quota cap, and back down", func(ctx SpecContext) {
		tenant := uniqueName("e2e-hpa")
		newTenant(ctx, tenant, gpuQuota(3), "prod")
		ns := tenant + "-prod"
		setLoad(ctx, ns, "100m")

		By("creating ModelDeployment chat: 1 CPU and 1 GPU per pod, autoscaling 1..5 at 50% CPU, under a 3-GPU quota")
		md := gpuModel(ns, "chat", 1)
		md.Spec.Autoscaling = &platformv1alpha1.Autoscaling{
			MinReplicas: ptr.To[int32](1), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](50),
		}
		Expect(c.client.Create(ctx, md)).To(Succeed())
		expectReady(ctx, &platformv1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"}}, 2*time.Minute)

		By("the HPA targets the ModelDeployment's /scale and reads its pods' CPU from metrics-server (kwok's emulated use)")
		Eventually(func(g Gomega) {
			hpa := &autoscalingv2.HorizontalPodAutoscaler{}
			g.Expect(c.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "chat"}, hpa)).To(Succeed())
			g.Expect(hpa.Spec.ScaleTargetRef.Kind).To(Equal("ModelDeployment"))
			g.Expect(hpaCondition(hpa, autoscalingv2.ScalingActive)).To(Equal(corev1.ConditionTrue), "ScalingActive: %s", hpaMessage(hpa, autoscalingv2.ScalingActive))
			g.Expect(hpa.Status.CurrentMetrics).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("raising the load to 2 CPUs per pod (200% of the request): the HPA scales up through /scale")
		setLoad(ctx, ns, "2")
		Eventually(func(g Gomega) {
			g.Expect(ptr.Deref(getModel(ctx, g, ns, "chat").Spec.Replicas, 0)).To(BeNumerically(">", 1))
		}).WithContext(ctx).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("it reaches maxReplicas 5; the operator gives the Deployment 5; quota admission lets 3 pods run; the status says why")
		Eventually(func(g Gomega) {
			got := getModel(ctx, g, ns, "chat")
			g.Expect(ptr.Deref(got.Spec.Replicas, 0)).To(BeEquivalentTo(5))
			g.Expect(ptr.Deref(getDeployment(ctx, g, ns, "chat").Spec.Replicas, 0)).To(BeEquivalentTo(5))
			g.Expect(runningReady(modelPods(ctx, g, ns, "chat"))).To(Equal(3))
			qe := condition(got, platformv1alpha1.ModelConditionQuotaExceeded)
			g.Expect(qe).NotTo(BeNil())
			g.Expect(qe.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(qe.Message).To(ContainSubstring(quotaMessage(3, 3)))
			sl := condition(got, platformv1alpha1.ModelConditionScalingLimited)
			g.Expect(sl).NotTo(BeNil())
			g.Expect(sl.Status).To(Equal(metav1.ConditionTrue), "ScalingLimited: %s: %s", sl.Reason, sl.Message)
			g.Expect(sl.Reason).To(Equal(platformv1alpha1.ModelReasonTooManyReplicas))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())

		By("the operator does not fight the HPA: spec.replicas is the HPA's (written through /scale), never the operator's")
		Consistently(func(g Gomega) {
			g.Expect(ptr.Deref(getModel(ctx, g, ns, "chat").Spec.Replicas, 0)).To(BeEquivalentTo(5))
			g.Expect(ptr.Deref(getDeployment(ctx, g, ns, "chat").Spec.Replicas, 0)).To(BeEquivalentTo(5))
		}).WithContext(ctx).WithTimeout(10 * time.Second).WithPolling(time.Second).Should(Succeed())
		owners := replicasOwners(getModel(ctx, Default, ns, "chat"))
		Expect(owners).NotTo(ContainElement(HavePrefix(platformv1alpha1.FieldManager+"/")), "the operator wrote spec.replicas")
		Expect(owners).To(ContainElement(HaveSuffix("/scale")), "spec.replicas was not written through /scale")

		By("dropping the load to 100m: the HPA scales back to minReplicas and the quota refusal clears")
		setLoad(ctx, ns, "100m")
		Eventually(func(g Gomega) {
			got := getModel(ctx, g, ns, "chat")
			g.Expect(ptr.Deref(got.Spec.Replicas, 0)).To(BeEquivalentTo(1))
			g.Expect(ptr.Deref(getDeployment(ctx, g, ns, "chat").Spec.Replicas, 0)).To(BeEquivalentTo(1))
			qe := condition(got, platformv1alpha1.ModelConditionQuotaExceeded)
			g.Expect(qe).NotTo(BeNil())
			g.Expect(qe.Status).To(Equal(metav1.ConditionFalse), "QuotaExceeded: %s", qe.Message)
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	}, SpecTimeout(9*time.Minute))
})

func hpaCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) corev1.ConditionStatus {
	for _, cond := range hpa.Status.Conditions {
		if cond.Type == typ {
			return cond.Status
		}
	}
	return corev1.ConditionUnknown
}

func hpaMessage(hpa *autoscalingv2.HorizontalPodAutoscaler, typ autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, cond := range hpa.Status.Conditions {
		if cond.Type == typ {
			return cond.Reason + ": " + cond.Message
		}
	}
	return ""
}

// replicasOwners lists "<manager>/<subresource>" for each field manager that
// owns spec.replicas of an object.
func replicasOwners(obj client.Object) []string {
	var owners []string
	for _, mf := range obj.GetManagedFields() {
		if mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		spec, _ := fields["f:spec"].(map[string]any)
		if _, ok := spec["f:replicas"]; ok {
			owners = append(owners, mf.Manager+"/"+mf.Subresource)
		}
	}
	return owners
}
