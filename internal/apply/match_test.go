package apply

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
