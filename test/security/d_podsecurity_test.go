package security_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// compliantPod passes Pod Security restricted.
func compliantPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: name},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				}}},
		},
	}
}

func TestD_PodSecurity(t *testing.T) {
	ctx := context.Background()
	// Pods come from the tenant's controllers or a member with pod rights; the
	// namespace enforces restricted whoever creates them, so the cluster admin
	// (allowed by RBAC) is the strongest test.
	if err := admin.Create(ctx, compliantPod("ok"), client.DryRunAll); err != nil {
		t.Fatalf("a restricted-compliant pod was refused: %v", err)
	}
	cases := map[string]func(*corev1.Pod){
		"D18 privileged": func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
			p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		},
		"D18 hostNetwork": func(p *corev1.Pod) { p.Spec.HostNetwork = true },
		"D18 hostPID":     func(p *corev1.Pod) { p.Spec.HostPID = true },
		"D18 hostIPC":     func(p *corev1.Pod) { p.Spec.HostIPC = true },
		"D18 hostPort": func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		},
		"D18 hostPath": func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		},
		"D19 added capability": func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		},
		"D19 privilege escalation": func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
		},
		"D19 running as root": func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = ptr.To(false)
			p.Spec.SecurityContext.RunAsUser = ptr.To[int64](0)
		},
		"D19 seccomp Unconfined": func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			pod := compliantPod("bad")
			mutate(pod)
			refused(t, admin.Create(ctx, pod, client.DryRunAll), byPodSecurity())
		})
	}

	t.Run("D20 ephemeral container violating the profile", func(t *testing.T) {
		pod := compliantPod("debug-target")
		if err := env.Admin.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "busybox", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}}}
		refused(t, admin.SubResource("ephemeralcontainers").Update(ctx, pod), byPodSecurity())
	})

	t.Run("D21 a ModelDeployment cannot express privileged fields", func(t *testing.T) {
		for field, path := range map[string][]string{
			"securityContext": {"spec", "runtime", "securityContext"},
			"hostNetwork":     {"spec", "hostNetwork"},
			"hostPort":        {"spec", "runtime", "hostPort"},
		} {
			md := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": platformv1alpha1.GroupVersion.String(), "kind": "ModelDeployment",
				"metadata": map[string]any{"namespace": "blue-prod", "name": "escape"},
				"spec": map[string]any{
					"model":   map[string]any{"name": "m", "version": "v1", "uri": "s3://b/m"},
					"runtime": map[string]any{"engine": "vllm"},
				},
			}}
			if err := unstructured.SetNestedField(md.Object, true, path...); err != nil {
				t.Fatal(err)
			}
			err := admin.Create(ctx, md, client.DryRunAll, client.FieldValidation("Strict"))
			refused(t, err, bySchema("unknown field"))
			_ = field
		}
	})
}
