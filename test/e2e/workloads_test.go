//go:build e2e

package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("Tenant workloads", func() {
	// envtest runs without the ServiceAccount admission plugin; here the real
	// plugin injects the token volume before tenantai-token-automount runs.
	It("get no service-account token unless the pod asks for one", func(ctx SpecContext) {
		tenant := uniqueName("e2e-tokens")
		newTenant(ctx, tenant, gpuQuota(1), "work")
		ns := tenant + "-work"
		By("waiting for the namespace's default ServiceAccount (kube-controller-manager makes it)")
		Eventually(func() error {
			return c.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "default"}, &corev1.ServiceAccount{})
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(poll).Should(Succeed())

		tokenVolumes := func(p *corev1.Pod) []string {
			var out []string
			for _, v := range p.Spec.Volumes {
				if strings.HasPrefix(v.Name, "kube-api-access-") {
					out = append(out, v.Name)
				}
			}
			for _, m := range p.Spec.Containers[0].VolumeMounts {
				out = append(out, "mount:"+m.Name)
			}
			return out
		}
		plain := probePod(ns, "no-token")
		plain.Spec.Tolerations = nil
		plain.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		// A volume of its own, before and after the injected one: only the
		// token's volume and mount go.
		plain.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		plain.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
		Expect(c.client.Create(ctx, plain, client.DryRunAll)).To(Succeed())
		Expect(plain.Spec.AutomountServiceAccountToken).To(Equal(ptr.To(false)))
		Expect(tokenVolumes(plain)).To(Equal([]string{"mount:scratch"}), "the injected token volume was not removed, or the pod's own went")
		Expect(plain.Spec.Volumes).To(HaveLen(1))

		optIn := probePod(ns, "with-token")
		optIn.Spec.Tolerations = nil
		optIn.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		optIn.Spec.AutomountServiceAccountToken = ptr.To(true)
		Expect(c.client.Create(ctx, optIn, client.DryRunAll)).To(Succeed())
		Expect(tokenVolumes(optIn)).To(HaveLen(2), "a pod that asked for its token lost it: %v", optIn.Spec.Volumes)
		Expect(optIn.Spec.Volumes[0].Name).To(HavePrefix("kube-api-access-"))
	})
})
