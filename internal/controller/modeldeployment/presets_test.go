package modeldeployment

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// TestPresets renders a model for each engine and checks what its server is
// told: image, command, args, port, probe paths and the startup budget.
func TestPresets(t *testing.T) {
	type want struct {
		image          string
		command        []string
		args           []string
		port           int32
		ready, live    string // "" means a TCP probe
		startupFailure int32
	}
	cases := map[string]struct {
		engine  platformv1alpha1.Engine
		name    string
		uri     string
		image   string
		port    int32
		want    want
		wantEnv []corev1.EnvVar
	}{
		"vllm from the Hugging Face Hub": {
			engine: platformv1alpha1.EngineVLLM, name: "llama-3.1-8b-instruct", uri: "hf://meta-llama/Llama-3.1-8B-Instruct",
			want: want{image: "vllm/vllm-openai:v0.9.0", port: 8000, ready: "/health", live: "/health", startupFailure: 180,
				args: []string{"--model=meta-llama/Llama-3.1-8B-Instruct", "--port=8000", "--served-model-name=llama-3.1-8b-instruct"}},
			wantEnv: []corev1.EnvVar{{Name: "VLLM_NO_USAGE_STATS", Value: "1"}},
		},
		"vllm streams gs:// with the Run:ai streamer": {
			engine: platformv1alpha1.EngineVLLM, name: "m", uri: "gs://bucket/llama",
			want: want{image: "vllm/vllm-openai:v0.9.0", port: 8000, ready: "/health", live: "/health", startupFailure: 180,
				args: []string{"--model=gs://bucket/llama", "--port=8000", "--served-model-name=m", "--load-format=runai_streamer"}},
			wantEnv: []corev1.EnvVar{{Name: "VLLM_NO_USAGE_STATS", Value: "1"}},
		},
		"vllm on another port": {
			engine: platformv1alpha1.EngineVLLM, name: "m", uri: "pvc://weights/llama", port: 8081,
			want: want{image: "vllm/vllm-openai:v0.9.0", port: 8081, ready: "/health", live: "/health", startupFailure: 180,
				args: []string{"--model=/models/llama", "--port=8081", "--served-model-name=m"}},
			wantEnv: []corev1.EnvVar{{Name: "VLLM_NO_USAGE_STATS", Value: "1"}},
		},
		"tgi listens on 8080, not its image's 80": {
			engine: platformv1alpha1.EngineTGI, name: "m", uri: "hf://mistralai/Mistral-7B-v0.3",
			want: want{image: "ghcr.io/huggingface/text-generation-inference:3.3.0", port: 8080, ready: "/health", live: "/health", startupFailure: 180,
				args: []string{"--model-id=mistralai/Mistral-7B-v0.3", "--port=8080"}},
			wantEnv: []corev1.EnvVar{{Name: "USAGE_STATS", Value: "off"}},
		},
		"triton reads its model repository from S3": {
			engine: platformv1alpha1.EngineTriton, name: "m", uri: "s3://bucket/repo",
			want: want{image: "nvcr.io/nvidia/tritonserver:25.01-py3", port: 8000, ready: "/v2/health/ready", live: "/v2/health/live", startupFailure: 180,
				command: []string{"tritonserver"}, args: []string{"--model-repository=s3://bucket/repo", "--http-port=8000"}},
		},
		"tfserving readiness asks for its model": {
			engine: platformv1alpha1.EngineTFServing, name: "resnet", uri: "gs://bucket/resnet",
			want: want{image: "tensorflow/serving:2.18.0", port: 8501, ready: "/v1/models/resnet", live: "", startupFailure: 60,
				command: []string{"tensorflow_model_server"},
				args:    []string{"--port=8500", "--rest_api_port=8501", "--model_name=resnet", "--model_base_path=gs://bucket/resnet"}},
		},
		"mlflow serves in the image's environment": {
			engine: platformv1alpha1.EngineMLflow, name: "churn", uri: "s3://mlflow/1/abc/artifacts/model",
			want: want{image: "ghcr.io/mlflow/mlflow:v2.22.0", port: 8080, ready: "/ping", live: "/ping", startupFailure: 60,
				command: []string{"mlflow", "models", "serve"},
				args:    []string{"--model-uri=s3://mlflow/1/abc/artifacts/model", "--host=0.0.0.0", "--port=8080", "--env-manager=local"}},
		},
		"custom gets the model in its environment and TCP probes": {
			engine: platformv1alpha1.EngineCustom, name: "m", uri: "https://models.example/m.onnx", image: "me/server:1", port: 9000,
			want: want{image: "me/server:1", port: 9000, startupFailure: 180},
			wantEnv: []corev1.EnvVar{{Name: "MODEL_URI", Value: "https://models.example/m.onnx"},
				{Name: "MODEL_NAME", Value: "m"}, {Name: "MODEL_VERSION", Value: "v1"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			md.Spec.Runtime = platformv1alpha1.Runtime{Engine: tc.engine, Image: tc.image}
			if tc.port != 0 {
				md.Spec.Runtime.Port = ptr.To(tc.port)
			}
			md.Spec.Model = platformv1alpha1.ModelSource{Name: tc.name, Version: "v1", URI: tc.uri}
			got, err := render(md, "acme")
			if err != nil {
				t.Fatal(err)
			}
			c := got.stable.Spec.Template.Spec.Containers[0]
			gotWant := want{image: c.Image, command: c.Command, args: c.Args, port: c.Ports[0].ContainerPort,
				ready: probePath(c.ReadinessProbe), live: probePath(c.LivenessProbe), startupFailure: c.StartupProbe.FailureThreshold}
			if diff := cmp.Diff(tc.want, gotWant, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("server (-want +got):\n%s", diff)
			}
			if probePath(c.StartupProbe) != tc.want.live {
				t.Errorf("startup probe checks %q, want the liveness check %q", probePath(c.StartupProbe), tc.want.live)
			}
			if diff := cmp.Diff(tc.wantEnv, c.Env[len(wantBaseEnv):], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("engine env after the common env (-want +got):\n%s", diff)
			}
			if got.service.Spec.Ports[0].Port != tc.want.port {
				t.Errorf("Service port %d, want %d", got.service.Spec.Ports[0].Port, tc.want.port)
			}
		})
	}
}

func probePath(p *corev1.Probe) string {
	if p.HTTPGet != nil {
		return p.HTTPGet.Path
	}
	return ""
}

func TestUserOverridesPreset(t *testing.T) {
	md := sampleVLLM()
	md.Spec.Runtime.Image = "registry.acme.example/vllm:patched"
	md.Spec.Runtime.Port = ptr.To[int32](9000)
	md.Spec.Runtime.Args = []string{"--served-model-name=chat", "--load-format=safetensors"}
	md.Spec.Runtime.Env = []corev1.EnvVar{{Name: "VLLM_NO_USAGE_STATS", Value: "0"}, {Name: "NCCL_DEBUG", Value: "INFO"}}
	got, err := render(md, "acme")
	if err != nil {
		t.Fatal(err)
	}
	c := got.stable.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.acme.example/vllm:patched" {
		t.Errorf("image %q, want the user's", c.Image)
	}
	wantArgs := []string{"--model=s3://acme-models/llama/v3", "--port=9000", "--served-model-name=llama-3.1-8b-instruct",
		"--load-format=runai_streamer", "--served-model-name=chat", "--load-format=safetensors"}
	if diff := cmp.Diff(wantArgs, c.Args); diff != "" {
		t.Errorf("args: the user's come last, so they win (-want +got):\n%s", diff)
	}
	wantEnv := append(append([]corev1.EnvVar(nil), wantBaseEnv...),
		corev1.EnvVar{Name: "VLLM_NO_USAGE_STATS", Value: "0"}, corev1.EnvVar{Name: "NCCL_DEBUG", Value: "INFO"})
	if diff := cmp.Diff(wantEnv, c.Env); diff != "" {
		t.Errorf("env: the user's replaces by name (-want +got):\n%s", diff)
	}
	if c.Ports[0].ContainerPort != 9000 || got.service.Spec.Ports[0].Port != 9000 {
		t.Errorf("port override not applied: container %d, Service %d", c.Ports[0].ContainerPort, got.service.Spec.Ports[0].Port)
	}
}

func TestResolveSource(t *testing.T) {
	cases := map[string]struct {
		engine       platformv1alpha1.Engine
		uri          string
		wantLocation string
		wantClaim    string
		wantErr      string
	}{
		"hf id, scheme stripped":       {engine: platformv1alpha1.EngineVLLM, uri: "hf://org/model/", wantLocation: "org/model"},
		"pvc with a path":              {engine: platformv1alpha1.EngineTGI, uri: "pvc://weights/llama/v3", wantLocation: "/models/llama/v3", wantClaim: "weights"},
		"pvc root":                     {engine: platformv1alpha1.EngineTriton, uri: "pvc://repo", wantLocation: "/models", wantClaim: "repo"},
		"pvc path cleaned":             {engine: platformv1alpha1.EngineVLLM, uri: "pvc://weights/a/../b", wantLocation: "/models/b", wantClaim: "weights"},
		"pvc path leaving its claim":   {engine: platformv1alpha1.EngineVLLM, uri: "pvc://weights/../../etc", wantErr: "leaves the claim"},
		"s3 passed as is":              {engine: platformv1alpha1.EngineTriton, uri: "s3://bucket/repo", wantLocation: "s3://bucket/repo"},
		"tgi cannot read s3":           {engine: platformv1alpha1.EngineTGI, uri: "s3://bucket/m", wantErr: "engine tgi cannot load s3:// URIs; it loads hf:// (a Hugging Face model id) or pvc://<claim>/<path>"},
		"triton has no hub":            {engine: platformv1alpha1.EngineTriton, uri: "hf://org/m", wantErr: "engine triton cannot load hf:// URIs"},
		"tfserving has no hub":         {engine: platformv1alpha1.EngineTFServing, uri: "hf://org/m", wantErr: "engine tfserving cannot load hf:// URIs"},
		"mlflow has no hub":            {engine: platformv1alpha1.EngineMLflow, uri: "hf://org/m", wantErr: "engine mlflow cannot load hf:// URIs"},
		"vllm does not download https": {engine: platformv1alpha1.EngineVLLM, uri: "https://example.com/m", wantErr: "engine vllm cannot load https:// URIs"},
		"mlflow reads https":           {engine: platformv1alpha1.EngineMLflow, uri: "https://example.com/m", wantLocation: "https://example.com/m"},
		"custom takes anything":        {engine: platformv1alpha1.EngineCustom, uri: "hf://org/m", wantLocation: "org/m"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			src, err := resolveSource(tc.engine, "m", "v1", tc.uri, "model.uri")
			if tc.wantErr != "" {
				var se *specError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a spec error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src.location != tc.wantLocation || src.claim != tc.wantClaim {
				t.Errorf("location %q claim %q, want %q %q", src.location, src.claim, tc.wantLocation, tc.wantClaim)
			}
		})
	}
}

func TestTFServingModelNameMustBeAPathSegment(t *testing.T) {
	md := sampleVLLM()
	md.Spec.Runtime = platformv1alpha1.Runtime{Engine: platformv1alpha1.EngineTFServing}
	md.Spec.Model = platformv1alpha1.ModelSource{Name: "team/resnet", Version: "1", URI: "gs://b/resnet"}
	_, err := render(md, "acme")
	if err == nil || !strings.Contains(err.Error(), `model.name "team/resnet" cannot name a TF Serving model`) {
		t.Fatalf("err = %v, want the model name refused", err)
	}
}

// TestPodsAreRestricted checks, for every engine, the fields restricted Pod
// Security looks at (the envtest suite also has the API server admit a
// rendered pod under enforce=restricted).
func TestPodsAreRestricted(t *testing.T) {
	for engine := range presets {
		t.Run(string(engine), func(t *testing.T) {
			md := sampleVLLM()
			md.Spec.Runtime = platformv1alpha1.Runtime{Engine: engine, Image: "img:1", Port: ptr.To[int32](8000)}
			md.Spec.Model.URI = "pvc://weights/m"
			got, err := render(md, "acme")
			if err != nil {
				t.Fatal(err)
			}
			spec := got.stable.Spec.Template.Spec
			if spec.HostNetwork || spec.HostPID || spec.HostIPC {
				t.Error("host namespaces are used")
			}
			if diff := cmp.Diff(wantPodSecurity, spec.SecurityContext); diff != "" {
				t.Errorf("pod security context (-want +got):\n%s", diff)
			}
			for _, c := range spec.Containers {
				if diff := cmp.Diff(wantContainerSecurity, c.SecurityContext); diff != "" {
					t.Errorf("container security context (-want +got):\n%s", diff)
				}
				for _, p := range c.Ports {
					if p.HostPort != 0 {
						t.Errorf("hostPort %d", p.HostPort)
					}
				}
			}
			for _, v := range spec.Volumes {
				if v.HostPath != nil {
					t.Errorf("hostPath volume %s", v.Name)
				}
			}
			if *spec.EnableServiceLinks || *spec.AutomountServiceAccountToken {
				t.Error("service links or a service account token are enabled")
			}
			mounts := map[string]corev1.VolumeMount{}
			for _, m := range spec.Containers[0].VolumeMounts {
				mounts[m.MountPath] = m
			}
			if m, ok := mounts["/var/run/tenantai/key"]; !ok || !m.ReadOnly {
				t.Errorf("the tenant data key is not mounted read-only: %+v", m)
			}
			if m, ok := mounts["/models"]; !ok || !m.ReadOnly {
				t.Errorf("the model claim is not mounted read-only: %+v", m)
			}
		})
	}
}

func TestGPUToleration(t *testing.T) {
	gpu := resource.MustParse("1")
	existing := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	pool := corev1.Toleration{Key: "pool", Operator: corev1.TolerationOpEqual, Value: "acme", Effect: corev1.TaintEffectNoSchedule}
	cases := map[string]struct {
		requests, limits corev1.ResourceList
		placement        []corev1.Toleration
		want             []corev1.Toleration
		wantGPULimit     bool
	}{
		"no GPU, no toleration":                {requests: corev1.ResourceList{"cpu": resource.MustParse("1")}},
		"GPU request adds the toleration":      {requests: corev1.ResourceList{"nvidia.com/gpu": gpu}, want: []corev1.Toleration{existing}, wantGPULimit: true},
		"GPU limit only adds it too":           {limits: corev1.ResourceList{"nvidia.com/gpu": gpu}, want: []corev1.Toleration{existing}, wantGPULimit: true},
		"the tenant's tolerations come first":  {requests: corev1.ResourceList{"nvidia.com/gpu": gpu}, placement: []corev1.Toleration{pool}, want: []corev1.Toleration{pool, existing}, wantGPULimit: true},
		"already tolerated: added once":        {requests: corev1.ResourceList{"nvidia.com/gpu": gpu}, placement: []corev1.Toleration{existing}, want: []corev1.Toleration{pool, existing}, wantGPULimit: true},
		"zero GPUs is no GPU":                  {requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("0")}, wantGPULimit: true},
		"placement passes through without GPU": {placement: []corev1.Toleration{pool}, want: []corev1.Toleration{pool}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			md.Spec.Runtime.Resources = platformv1alpha1.ModelResources{Requests: tc.requests, Limits: tc.limits}
			if tc.placement != nil {
				md.Spec.Placement = &platformv1alpha1.Placement{Tolerations: tc.placement}
			}
			// The tenant's pool allows the pool taint: placement may pick it.
			sched := &platformv1alpha1.TenantScheduling{Tolerations: []corev1.Toleration{pool}}
			if tc.placement == nil {
				sched = nil
			}
			got, err := renderFor(md, "acme", sched, nil)
			if err != nil {
				t.Fatal(err)
			}
			spec := got.stable.Spec.Template.Spec
			if diff := cmp.Diff(tc.want, spec.Tolerations); diff != "" {
				t.Errorf("tolerations (-want +got):\n%s", diff)
			}
			_, hasLimit := spec.Containers[0].Resources.Limits["nvidia.com/gpu"]
			if hasLimit != tc.wantGPULimit {
				t.Errorf("GPU limit present = %v, want %v (an extended resource needs limit = request)", hasLimit, tc.wantGPULimit)
			}
		})
	}
}

// TestTenantGPUTolerationOnlyForGPUModels: a tenant whose pool tolerates
// the GPU taint passes that toleration only to models that request an
// accelerator; admission (tenantai-pods) would refuse it on the others.
func TestTenantGPUTolerationOnlyForGPUModels(t *testing.T) {
	gpuTaint := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	pool := corev1.Toleration{Key: "pool", Operator: corev1.TolerationOpEqual, Value: "acme", Effect: corev1.TaintEffectNoSchedule}
	sched := &platformv1alpha1.TenantScheduling{Tolerations: []corev1.Toleration{pool, gpuTaint}}
	cpu := sampleVLLM()
	cpu.Spec.Runtime.Resources = platformv1alpha1.ModelResources{Requests: corev1.ResourceList{"cpu": resource.MustParse("1")}}
	got, err := renderFor(cpu, "acme", sched, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]corev1.Toleration{pool}, got.stable.Spec.Template.Spec.Tolerations); diff != "" {
		t.Errorf("a CPU model's tolerations (-want +got):\n%s", diff)
	}
	amd := sampleVLLM()
	amd.Spec.Runtime.Resources = platformv1alpha1.ModelResources{Requests: corev1.ResourceList{"amd.com/gpu": resource.MustParse("1")}}
	if got, err = renderFor(amd, "acme", sched, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]corev1.Toleration{pool, gpuTaint}, got.stable.Spec.Template.Spec.Tolerations); diff != "" {
		t.Errorf("an accelerator model's tolerations (-want +got):\n%s", diff)
	}
}

func TestPlacementMergesWithTheTenantPolicy(t *testing.T) {
	sched := &platformv1alpha1.TenantScheduling{
		NodeSelector: map[string]platformv1alpha1.LabelValue{"pool.example.com/tenant": "acme"},
		Tolerations:  []corev1.Toleration{{Key: "pool.example.com/tenant", Value: "acme", Effect: corev1.TaintEffectNoSchedule}},
	}
	cases := map[string]struct {
		placement    *platformv1alpha1.Placement
		cpuOnly      bool
		wantSelector map[string]string
		wantConflict string
	}{
		"no placement: the tenant's pool": {
			wantSelector: map[string]string{"pool.example.com/tenant": "acme"},
		},
		"narrowing with another key": {
			placement:    &platformv1alpha1.Placement{NodeSelector: map[string]string{"gpu.example.com/model": "h100"}},
			wantSelector: map[string]string{"pool.example.com/tenant": "acme", "gpu.example.com/model": "h100"},
		},
		"another pool": {
			placement:    &platformv1alpha1.Placement{NodeSelector: map[string]string{"pool.example.com/tenant": "globex"}},
			wantConflict: "placement.nodeSelector pool.example.com/tenant=globex contradicts the tenant's node pool pool.example.com/tenant=acme",
		},
		"another pool's taint": {
			placement:    &platformv1alpha1.Placement{Tolerations: []corev1.Toleration{{Key: "pool.example.com/tenant", Value: "globex", Effect: corev1.TaintEffectNoSchedule}}},
			wantConflict: "placement.tolerations pool.example.com/tenant:NoSchedule is not among the tenant's tolerations",
		},
		// Data-safety 13: refused with the reason, never silently dropped.
		"the GPU taint without a GPU request": {
			placement:    &platformv1alpha1.Placement{Tolerations: []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
			cpuOnly:      true,
			wantConflict: "placement.tolerations nvidia.com/gpu:NoSchedule tolerates an accelerator taint, but runtime.resources requests no accelerator",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			md.Spec.Placement = tc.placement
			if tc.cpuOnly {
				md.Spec.Runtime.Resources = platformv1alpha1.ModelResources{Requests: corev1.ResourceList{"cpu": resource.MustParse("1")}}
			}
			got, err := renderFor(md, "acme", sched, nil)
			if tc.wantConflict != "" {
				var conflict *placementConflict
				if !errors.As(err, &conflict) || !strings.Contains(err.Error(), tc.wantConflict) {
					t.Fatalf("err = %v, want a placement conflict %q", err, tc.wantConflict)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			spec := got.stable.Spec.Template.Spec
			if diff := cmp.Diff(tc.wantSelector, spec.NodeSelector); diff != "" {
				t.Errorf("nodeSelector (-want +got):\n%s", diff)
			}
			if spec.Tolerations[0].Key != "pool.example.com/tenant" || spec.Tolerations[0].Operator != corev1.TolerationOpEqual {
				t.Errorf("the tenant's toleration is not rendered as admission injects it: %+v", spec.Tolerations)
			}
		})
	}
}
