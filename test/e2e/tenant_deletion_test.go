//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

var _ = Describe("Deleting a Tenant with deletionPolicy Delete", func() {
	It("removes its namespaces, with their running models, through the namespace controller", func(ctx SpecContext) {
		tenant := uniqueName("e2e-del")
		newTenant(ctx, tenant, gpuQuota(2), "prod", "dev")
		prod, dev := tenant+"-prod", tenant+"-dev"

		By("running a model in " + prod)
		Expect(c.client.Create(ctx, gpuModel(prod, "chat", 1))).To(Succeed())
		expectReady(ctx, &platformv1alpha1.ModelDeployment{ObjectMeta: metav1.ObjectMeta{Namespace: prod, Name: "chat"}}, 2*time.Minute)
		key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret(tenant)}}
		Expect(c.client.Get(ctx, client.ObjectKeyFromObject(key), key)).To(Succeed(), "the tenant's data key")

		By("deleting the Tenant")
		Expect(c.client.Delete(ctx, &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}})).To(Succeed())

		By("both namespaces are terminated and removed by kube-controller-manager's namespace controller")
		for _, ns := range []string{prod, dev} {
			Eventually(gone(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).WithContext(ctx).
				WithTimeout(2*time.Minute).WithPolling(time.Second).Should(BeTrue(), "namespace %s still exists", ns)
		}
		By("the Tenant itself and its data key are gone")
		Eventually(gone(ctx, &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: tenant}})).WithContext(ctx).
			WithTimeout(time.Minute).WithPolling(poll).Should(BeTrue())
		Eventually(gone(ctx, key)).WithContext(ctx).WithTimeout(time.Minute).WithPolling(poll).Should(BeTrue())
	}, SpecTimeout(5*time.Minute))
})
