package api_test

import (
	"context"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func TestTenantQuotaValidation(t *testing.T) {
	env := testenv.Require(t)
	cases := map[string]struct {
		quota *platformv1alpha1.TenantQuota
		field string
		msg   string
	}{
		"name differs from tenant": {
			quota: MakeTenantQuota("acme").TenantRef("other").Hard(corev1.ResourcePods, "10").Obj(),
			field: "spec.tenantRef.name", msg: "metadata.name must equal spec.tenantRef.name",
		},
		"empty hard": {
			quota: MakeTenantQuota("acme").Obj(),
			field: "spec.hard", msg: "should have at least 1 properties",
		},
		"static without mode Static": {
			quota: func() *platformv1alpha1.TenantQuota {
				q := MakeTenantQuota("acme").Hard(corev1.ResourcePods, "10").Obj()
				q.Spec.Distribution.Static = map[string]corev1.ResourceList{"prod": {corev1.ResourcePods: resource.MustParse("1")}}
				q.Spec.Distribution.Mode = platformv1alpha1.DistributionDynamic
				return q
			}(),
			field: "spec.distribution", msg: "static may only be set with mode Static",
		},
		"malformed hard key (data-safety 8)": {
			quota: MakeTenantQuota("acme").Hard("requests.nvidia.com/gpu/a100", "1").Obj(),
			field: "spec.hard", msg: "hard keys must be ResourceQuota resource names",
		},
		"hard key with a space": {
			quota: MakeTenantQuota("acme").Hard("requests cpu", "1").Obj(),
			field: "spec.hard", msg: "hard keys must be ResourceQuota resource names",
		},
		"unknown unprefixed hard key": {
			quota: MakeTenantQuota("acme").Hard("gpus", "1").Obj(),
			field: "spec.hard", msg: "hard keys must be ResourceQuota resource names",
		},
		"mode Static without amounts": {
			quota: func() *platformv1alpha1.TenantQuota {
				q := MakeTenantQuota("acme").Hard(corev1.ResourcePods, "10").Obj()
				q.Spec.Distribution.Mode = platformv1alpha1.DistributionStatic
				return q
			}(),
			field: "spec.distribution", msg: "mode Static needs static",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := env.Admin.Create(context.Background(), tc.quota, client.DryRunAll)
			expectInvalid(t, err, tc.field, tc.msg)
		})
	}
}

func TestTenantQuotaDefaultsRoundTrip(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	in := MakeTenantQuota("roundtrip").Hard("requests.nvidia.com/gpu", "8").Hard(corev1.ResourceRequestsMemory, "1Gi").Obj()
	if err := env.Admin.Create(ctx, in); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _ = env.Admin.Delete(ctx, in) })
	got := &platformv1alpha1.TenantQuota{}
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(in), got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Status.ObservedGeneration != -1 {
		t.Errorf("status.observedGeneration = %d, want -1", got.Status.ObservedGeneration)
	}
	if got.Spec.Distribution.Mode != platformv1alpha1.DistributionDynamic {
		t.Errorf("spec.distribution.mode = %q, want default Dynamic", got.Spec.Distribution.Mode)
	}
	if q := got.Spec.Hard["requests.nvidia.com/gpu"]; q.Cmp(resource.MustParse("8")) != 0 {
		t.Errorf("GPU hard = %s, want 8", q.String())
	}
}

func TestModelDeploymentValidation(t *testing.T) {
	env := testenv.Require(t)
	const ns = "default"
	cases := map[string]struct {
		model *platformv1alpha1.ModelDeployment
		field string
		msg   string
	}{
		"name not DNS-1035": {
			model: MakeModelDeployment(ns, "1chat").Obj(),
			field: rootField, msg: "name must be a DNS-1035 label of at most 56 characters",
		},
		"uri scheme": {
			model: MakeModelDeployment(ns, "chat").URI("ftp://models/llama").Obj(),
			field: "spec.model.uri", msg: "uri must start with hf://, s3://, gs://, https:// or pvc://",
		},
		"uri with spaces": {
			model: MakeModelDeployment(ns, "chat").URI("s3://models/llama v1").Obj(),
			field: "spec.model.uri", msg: "contain no spaces",
		},
		"version not a label value": {
			model: MakeModelDeployment(ns, "chat").Version("v1/beta").Obj(),
			field: "spec.model.version", msg: "should match",
		},
		"custom without image": {
			model: MakeModelDeployment(ns, "chat").Engine(platformv1alpha1.EngineCustom).Port(8080).Obj(),
			field: "spec.runtime", msg: "engine custom needs image and port",
		},
		"privileged port": {
			model: MakeModelDeployment(ns, "chat").Port(80).Obj(),
			field: "spec.runtime.port", msg: "should be greater than or equal to 1024",
		},
		"min above max": {
			model: MakeModelDeployment(ns, "chat").Autoscaling(5, 2).Obj(),
			field: "spec.autoscaling", msg: "minReplicas must not exceed maxReplicas",
		},
		"scale to zero on CPU": {
			model: MakeModelDeployment(ns, "chat").Autoscaling(0, 2).Obj(),
			field: "spec.autoscaling", msg: "minReplicas 0 needs an Object or External metric",
		},
		"canary weight 100": {
			model: MakeModelDeployment(ns, "chat").Canary("v2", 100).Obj(),
			field: "spec.canary.weight", msg: "should be less than or equal to 99",
		},
		"GPU visibility through env (I47)": {
			model: func() *platformv1alpha1.ModelDeployment {
				md := MakeModelDeployment(ns, "chat").Obj()
				md.Spec.Runtime.Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
				return md
			}(),
			field: "spec.runtime.env", msg: "env names starting with NVIDIA_",
		},
		"GPU toleration without a GPU request (data-safety 13)": {
			model: func() *platformv1alpha1.ModelDeployment {
				md := MakeModelDeployment(ns, "chat").Obj()
				md.Spec.Placement = &platformv1alpha1.Placement{Tolerations: []corev1.Toleration{
					{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}
				return md
			}(),
			field: "spec.placement.tolerations", msg: "only when runtime.resources requests that accelerator",
		},
		"tolerate every taint without a GPU request": {
			model: func() *platformv1alpha1.ModelDeployment {
				md := MakeModelDeployment(ns, "chat").Obj()
				md.Spec.Placement = &platformv1alpha1.Placement{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}
				return md
			}(),
			field: "spec.placement.tolerations", msg: "only when runtime.resources requests that accelerator",
		},
		"canary same version": {
			model: MakeModelDeployment(ns, "chat").Canary("v1", 20).Obj(),
			field: "spec", msg: "canary.version must differ from model.version",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := env.Admin.Create(context.Background(), tc.model, client.DryRunAll)
			expectInvalid(t, err, tc.field, tc.msg)
		})
	}
}

// TestModelDeploymentGPUTolerationWithGPURequest: the accelerator toleration is
// accepted together with an accelerator request.
func TestModelDeploymentGPUTolerationWithGPURequest(t *testing.T) {
	env := testenv.Require(t)
	md := MakeModelDeployment("default", "gpu").Requests(corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}).Obj()
	md.Spec.Placement = &platformv1alpha1.Placement{Tolerations: []corev1.Toleration{
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}
	if err := env.Admin.Create(context.Background(), md, client.DryRunAll); err != nil {
		t.Fatalf("a GPU model tolerating the GPU taint was refused: %v", err)
	}
}

// TestModelDeploymentReplicasWithAutoscaling proves that no rule forbids
// replicas together with autoscaling: the HPA's /scale write must pass.
func TestModelDeploymentReplicasWithAutoscaling(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	md := MakeModelDeployment("default", "scaled").Replicas(3).Autoscaling(1, 8).Obj()
	if err := env.Admin.Create(ctx, md); err != nil {
		t.Fatalf("create with replicas and autoscaling: %v", err)
	}
	t.Cleanup(func() { _ = env.Admin.Delete(ctx, md) })

	scale := &autoscalingv1.Scale{}
	if err := env.Admin.SubResource("scale").Get(ctx, md, scale); err != nil {
		t.Fatalf("get /scale: %v", err)
	}
	scale.Spec.Replicas = 6
	if err := env.Admin.SubResource("scale").Update(ctx, md, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("update /scale as the HPA would: %v", err)
	}
	got := &platformv1alpha1.ModelDeployment{}
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(md), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Replicas == nil || *got.Spec.Replicas != 6 {
		t.Fatalf("spec.replicas after /scale write = %v, want 6", got.Spec.Replicas)
	}
	if got.Status.ObservedGeneration != -1 {
		t.Errorf("status.observedGeneration = %d, want -1 before the operator sees it", got.Status.ObservedGeneration)
	}
}
