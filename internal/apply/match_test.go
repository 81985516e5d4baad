package apply

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func netpol(mutate func(*networkingv1.NetworkPolicy)) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: "acme-prod", Labels: map[string]string{"a": "b"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	if mutate != nil {
		mutate(np)
	}
	return np
}

func deployment(mutate func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "acme-prod",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "platform.tenantai.io/v1alpha1", Kind: "ModelDeployment", Name: "chat", UID: "u1", Controller: ptr.To(true)}}},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"m": "chat"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: "img:1"}}}},
		},
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func TestMatches(t *testing.T) {
	cases := map[string]struct {
		current, desired client.Object
		want             bool
	}{
		"identical guardrail": {netpol(nil), netpol(nil), true},
		"extra label on current is fine": {
			netpol(func(n *networkingv1.NetworkPolicy) { n.Labels["extra"] = "x" }), netpol(nil), true,
		},
		"removed label is drift": {
			netpol(func(n *networkingv1.NetworkPolicy) { delete(n.Labels, "a") }), netpol(nil), false,
		},
		"narrowed podSelector is drift": {
			netpol(func(n *networkingv1.NetworkPolicy) {
				n.Spec.PodSelector.MatchLabels = map[string]string{"escape": "true"}
			}), netpol(nil), false,
		},
		"added ingress rule is drift": {
			netpol(func(n *networkingv1.NetworkPolicy) {
				n.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
			}), netpol(nil), false,
		},
		"server defaults on a workload are fine": {
			deployment(func(d *appsv1.Deployment) {
				d.Spec.RevisionHistoryLimit = ptr.To[int32](10)
				d.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
				d.Spec.Template.Spec.DNSPolicy = corev1.DNSClusterFirst
			}), deployment(nil), true,
		},
		"changed image is a change": {
			deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "img:0" }), deployment(nil), false,
		},
		"missing owner reference": {
			deployment(func(d *appsv1.Deployment) { d.OwnerReferences = nil }), deployment(nil), false,
		},
		"extra container is a change": {
			deployment(func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar"})
			}), deployment(nil), false,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Matches(tc.current, tc.desired); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

func configMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "tenantai-policy", Namespace: "acme-prod",
		Labels: map[string]string{"app.kubernetes.io/managed-by": "tenantai"}}, Data: data}
}

// TestStampNoticesRemovals: the applied hash changes when the operator stops
// setting a field, which containment cannot see, and stays put otherwise.
func TestStampNoticesRemovals(t *testing.T) {
	a := Applier{Client: fake.NewClientBuilder().Build()}
	hash := func(obj client.Object) string {
		t.Helper()
		stamped, err := a.Stamp(obj)
		if err != nil {
			t.Fatal(err)
		}
		return stamped.GetAnnotations()[AppliedAnnotation]
	}
	full := deployment(func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd", "zone": "z1"}
	})
	fewer := deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
	if hash(full) != hash(full.DeepCopy()) {
		t.Fatal("the hash of one object differs between two stamps")
	}
	if hash(full) == hash(fewer) {
		t.Fatal("removing a node selector entry leaves the hash unchanged")
	}
	stamped, _ := a.Stamp(full)
	if !Matches(stamped, stamped) || Matches(withAnnotation(stamped, "0000"), stamped) {
		t.Fatal("Matches ignores the applied hash")
	}
	if !specContains(stamped, fewer) {
		t.Fatal("test premise: containment alone does not see the removal")
	}
}

func withAnnotation(obj client.Object, hash string) client.Object {
	out := obj.DeepCopyObject().(client.Object)
	annotations := map[string]string{}
	for k, v := range out.GetAnnotations() {
		annotations[k] = v
	}
	annotations[AppliedAnnotation] = hash
	out.SetAnnotations(annotations)
	return out
}

// TestEnsureWritesOnlyChanges runs Ensure against a client: created once,
// unchanged on a second pass (no request), updated when a key is removed
// from the desired ConfigMap, and a key someone else added is removed.
func TestEnsureWritesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().Build()
	a := Applier{Client: c}
	ensure := func(cm *corev1.ConfigMap) Result {
		t.Helper()
		_, result, err := a.Ensure(ctx, cm)
		if err != nil {
			t.Fatal(err)
		}
		return result
	}
	live := func() map[string]string {
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "acme-prod", Name: "tenantai-policy"}, cm); err != nil {
			t.Fatal(err)
		}
		return cm.Data
	}
	if got := ensure(configMap(map[string]string{"a": "1", "b": "2"})); got != Created {
		t.Fatalf("first pass: %s, want Created", got)
	}
	if got := ensure(configMap(map[string]string{"a": "1", "b": "2"})); got != Unchanged {
		t.Fatalf("second pass: %s, want Unchanged", got)
	}
	if got := ensure(configMap(map[string]string{"a": "1"})); got != Updated {
		t.Fatalf("after removing b: %s, want Updated", got)
	}
	if data := live(); len(data) != 1 || data["a"] != "1" {
		t.Fatalf("after removing b the ConfigMap holds %v", data)
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "acme-prod", Name: "tenantai-policy"}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data["evil"] = "x"
	if err := c.Update(ctx, cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	if got := ensure(configMap(map[string]string{"a": "1"})); got != Updated {
		t.Fatalf("after a key was added by hand: %s, want Updated", got)
	}
	if data := live(); len(data) != 1 {
		t.Fatalf("a key added by hand survived: %v", data)
	}
	if got := ensure(configMap(map[string]string{"a": "1"})); got != Unchanged {
		t.Fatalf("pass after the repair: %s, want Unchanged", got)
	}
}
