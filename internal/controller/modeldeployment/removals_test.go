package modeldeployment_test

import (
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestRemovalsReachTheDeployment removes a placement node-selector entry, a
// resource request and an environment variable from a ModelDeployment and
// expects each gone from the pod template: the API server defaults many
// fields of a Deployment, so change detection must notice what the operator
// no longer sets without mistaking those defaults for drift.
func TestRemovalsReachTheDeployment(t *testing.T) {
	env, g := setup(t)
	tenantNamespace(t, env, "rmv", "rmv-prod")
	md := MakeModelDeployment("rmv-prod", "chat").Requests(corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi"),
	}).Obj()
	md.Spec.Placement = &platformv1alpha1.Placement{NodeSelector: map[string]string{"disk": "ssd", "zone": "z1"}}
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(func() map[string]string {
		if d := deployment(env, "rmv-prod", "chat"); d != nil {
			return d.Spec.Template.Spec.NodeSelector
		}
		return nil
	}).Should(gomega.HaveKeyWithValue("zone", "z1"))

	// One removal at a time: a list that changes length is noticed anyway
	// and its apply would carry the other removals with it.
	steps := map[string]struct {
		remove func(*platformv1alpha1.ModelDeployment)
		gone   func(g gomega.Gomega, pod corev1.PodSpec)
	}{
		"placement node selector entry": {
			remove: func(md *platformv1alpha1.ModelDeployment) { delete(md.Spec.Placement.NodeSelector, "zone") },
			gone: func(g gomega.Gomega, pod corev1.PodSpec) {
				g.Expect(pod.NodeSelector).To(gomega.Equal(map[string]string{"disk": "ssd"}))
			},
		},
		"memory request": {
			remove: func(md *platformv1alpha1.ModelDeployment) {
				delete(md.Spec.Runtime.Resources.Requests, corev1.ResourceMemory)
			},
			gone: func(g gomega.Gomega, pod corev1.PodSpec) {
				g.Expect(pod.Containers[0].Resources.Requests).NotTo(gomega.HaveKey(corev1.ResourceMemory))
			},
		},
	}
	for _, name := range []string{"placement node selector entry", "memory request"} {
		step := steps[name]
		updateMD(g, env, key, step.remove)
		g.Eventually(observed(env, key)).Should(gomega.BeTrue())
		g.Eventually(func(g gomega.Gomega) {
			d := deployment(env, "rmv-prod", "chat")
			g.Expect(d).NotTo(gomega.BeNil())
			step.gone(g, d.Spec.Template.Spec)
		}).Should(gomega.Succeed(), "%s removed from the ModelDeployment stays in the pod template", name)
	}
}
