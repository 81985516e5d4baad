package apply

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func modelDeployment(generation int64, applied string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "t-prod", Name: "chat", UID: "uid-1", Generation: generation,
			Annotations: map[string]string{AppliedAnnotation: applied}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"v": "1"}, Annotations: map[string]string{"a": "b"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "vllm"}}},
		}},
	}
}

// TestVerifiedHoldsOnlyAtTheGenerationItSaw: any spec change raises the
// generation, so a remembered generation that differs from the cached one
// means "read the object again", as does another applied hash or a
// recreated object.
func TestVerifiedHoldsOnlyAtTheGenerationItSaw(t *testing.T) {
	v := &Verified{}
	seen := modelDeployment(2, "h1")
	v.record(seen, seen)
	cases := map[string]struct {
		current *appsv1.Deployment
		holds   bool
	}{
		"same generation and hash":               {modelDeployment(2, "h1"), true},
		"spec edited since (generation raised)":  {modelDeployment(3, "h1"), false},
		"cache behind the operator's last write": {modelDeployment(1, "h1"), false},
	}
	for name, tc := range cases {
		if got := v.holds(tc.current, tc.current); got != tc.holds {
			t.Errorf("%s: holds=%v, want %v", name, got, tc.holds)
		}
	}
	if v.holds(seen, modelDeployment(2, "h2")) {
		t.Error("a new desired spec (another applied hash) was taken as held")
	}
	recreated := modelDeployment(2, "h1")
	recreated.UID = "uid-2"
	if v.holds(recreated, recreated) {
		t.Error("a recreated object (another UID) was taken as held")
	}
	v.Forget(types.NamespacedName{Namespace: seen.Namespace, Name: seen.Name})
	if v.holds(seen, seen) || len(v.seen) != 0 {
		t.Error("Forget left the object remembered")
	}
}

func TestPruneDeploymentKeepsWhatTheReconcilersRead(t *testing.T) {
	d := modelDeployment(2, "h1")
	d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "tenantai"}}
	replicas := int32(3)
	d.Spec.Replicas = &replicas
	d.Status.ReadyReplicas = 2
	out, err := PruneDeployment(d)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*appsv1.Deployment)
	if len(p.Spec.Template.Spec.Containers) != 0 || p.Spec.Template.Annotations != nil || p.ManagedFields != nil {
		t.Errorf("the pod template's spec, its annotations or managedFields were kept: %+v", p)
	}
	if p.Spec.Template.Labels["v"] != "1" || *p.Spec.Replicas != 3 || p.Status.ReadyReplicas != 2 || p.Annotations[AppliedAnnotation] != "h1" || p.Generation != 2 {
		t.Errorf("a field the reconcilers read was dropped: %+v", p)
	}
	if other, _ := PruneDeployment(&corev1.Service{}); other == nil {
		t.Error("another kind was not passed through")
	}
	var none *Verified
	if none.Prunes(d) || (&Verified{}).Prunes(&corev1.Service{}) || !(&Verified{}).Prunes(d) {
		t.Error("Prunes: want Deployments only, and nothing without a Verified")
	}
}
