//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

var _ = Describe("A tenant's ModelDeployment", func() {
	It("runs pods on fake GPU nodes, with the tenant's labels, admitted under Pod Security restricted", func(ctx SpecContext) {
		tenant := uniqueName("e2e-run")
		newTenant(ctx, tenant, gpuQuota(4), "prod")
		ns := tenant + "-prod"

		By("the namespace enforces Pod Security restricted")
		nsObj := &corev1.Namespace{}
		Expect(c.client.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		Expect(nsObj.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))

		By("creating ModelDeployment chat with 2 replicas of one GPU each")
		Expect(c.client.Create(ctx, gpuModel(ns, "chat", 2))).To(Succeed())
		expectReady(ctx, &platformv1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chat"}}, 2*time.Minute)

		var pods []corev1.Pod
		Eventually(func(g Gomega) {
			pods = modelPods(ctx, g, ns, "chat")
			g.Expect(pods).To(HaveLen(2))
			g.Expect(runningReady(pods)).To(Equal(2))
			md := getModel(ctx, g, ns, "chat")
			g.Expect(md.Status.ReadyReplicas).To(BeEquivalentTo(2))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(poll).Should(Succeed())

		By("the pods were scheduled onto GPU nodes and carry the tenant and model labels (never managed-by)")
		for _, p := range pods {
			Expect(p.Spec.NodeName).NotTo(BeEmpty())
			Eventually(func(g Gomega) bool { return isGPUNode(ctx, g, p.Spec.NodeName) }).WithContext(ctx).
				Should(BeTrue(), "pod %s runs on %s, which has no GPUs", p.Name, p.Spec.NodeName)
			Expect(p.Labels).To(HaveKeyWithValue(platformv1alpha1.TenantLabel, tenant))
			Expect(p.Labels).To(HaveKeyWithValue(platformv1alpha1.ModelLabel, "chat"))
			Expect(p.Labels).To(HaveKeyWithValue(platformv1alpha1.VersionLabel, "v1"))
			Expect(p.Labels).NotTo(HaveKey(platformv1alpha1.ManagedByLabel))
			Expect(p.Spec.Containers[0].Resources.Limits).To(HaveKey(gpu))
		}

		By("the pods' own spec passes Pod Security restricted, and the namespace refuses a privileged variant of it")
		probe := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "psa-probe", Labels: pods[0].Labels},
			Spec:       *pods[0].Spec.DeepCopy(),
		}
		probe.Spec.NodeName = ""
		Expect(c.client.Create(ctx, probe.DeepCopy(), client.DryRunAll)).To(Succeed(),
			"a copy of the operator's pod was refused: it does not pass restricted")
		sc := probe.Spec.Containers[0].SecurityContext
		Expect(sc).NotTo(BeNil())
		// Privileged with allowPrivilegeEscalation false would be invalid
		// (refused before admission): drop that field.
		sc.Privileged, sc.AllowPrivilegeEscalation = ptr.To(true), nil
		err := c.client.Create(ctx, probe, client.DryRunAll)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a privileged pod was admitted: %v", err)
		Expect(err.Error()).To(ContainSubstring(`violates PodSecurity "restricted:latest"`))
	}, SpecTimeout(4*time.Minute))
})
