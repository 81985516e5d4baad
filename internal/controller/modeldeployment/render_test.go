package modeldeployment

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// The expected objects below are written out in full, independently of the
// rendering helpers, so that a change to any rendered field shows as a diff.

func sampleVLLM() *platformv1alpha1.ModelDeployment {
	return &platformv1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "chat", Namespace: "acme-prod", UID: "uid-chat",
			// Never copied to children: Argo CD would prune them.
			Labels:      map[string]string{"app.kubernetes.io/instance": "chat-app"},
			Annotations: map[string]string{"argocd.argoproj.io/tracking-id": "chat-app:platform.tenantai.io/ModelDeployment:acme-prod/chat"},
		},
		Spec: platformv1alpha1.ModelDeploymentSpec{
			Model: platformv1alpha1.ModelSource{Name: "llama-3.1-8b-instruct", Version: "v3", URI: "s3://acme-models/llama/v3",
				CredentialsSecretRef: &platformv1alpha1.LocalObjectReference{Name: "model-store"}},
			Runtime: platformv1alpha1.Runtime{
				Engine: platformv1alpha1.EngineVLLM,
				Image:  "vllm/vllm-openai:v0.9.0",
				Args:   []string{"--max-model-len=8192"},
				Resources: platformv1alpha1.ModelResources{
					Requests: corev1.ResourceList{"cpu": resource.MustParse("4"), "memory": resource.MustParse("16Gi"), "nvidia.com/gpu": resource.MustParse("1")},
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("8"), "memory": resource.MustParse("32Gi"), "nvidia.com/gpu": resource.MustParse("1")},
				},
			},
			Replicas:    ptr.To[int32](1),
			Autoscaling: &platformv1alpha1.Autoscaling{MinReplicas: ptr.To[int32](1), MaxReplicas: 4, TargetCPUUtilizationPercentage: ptr.To[int32](70)},
		},
	}
}

func sampleCustom() *platformv1alpha1.ModelDeployment {
	return &platformv1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ranker", Namespace: "acme-prod", UID: "uid-ranker"},
		Spec: platformv1alpha1.ModelDeploymentSpec{
			Model: platformv1alpha1.ModelSource{
				Name: "ranker", Version: "2024-06", URI: "pvc://models/ranker/2024-06",
				CredentialsSecretRef: &platformv1alpha1.LocalObjectReference{Name: "ranker-license"},
			},
			Runtime: platformv1alpha1.Runtime{
				Engine: platformv1alpha1.EngineCustom,
				Image:  "registry.acme.example/ranker:1.4.2",
				Port:   ptr.To[int32](9000),
				Args:   []string{"--workers=2"},
				Env:    []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "HOME", Value: "/home/ranker"}},
				Resources: platformv1alpha1.ModelResources{
					Requests: corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("4Gi")},
				},
			},
			Replicas:  ptr.To[int32](1),
			Placement: &platformv1alpha1.Placement{NodeSelector: map[string]string{"pool.example.com/tenant": "acme"}},
		},
	}
}

func ownerRef(name, uid string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{
		APIVersion: "platform.tenantai.io/v1alpha1", Kind: "ModelDeployment", Name: name, UID: types.UID(uid),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}
}

func childLabels(model string) map[string]string {
	return map[string]string{
		"platform.tenantai.io/tenant": "acme", "app.kubernetes.io/managed-by": "tenantai", "platform.tenantai.io/model": model,
	}
}

var (
	wantPodSecurity = &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000), FSGroup: ptr.To[int64](1000),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	wantContainerSecurity = &corev1.SecurityContext{
		Privileged: ptr.To(false), AllowPrivilegeEscalation: ptr.To(false),
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	wantBaseVolumes = []corev1.Volume{
		{Name: "home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "dshm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "tenant-key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tenantai-data-key", DefaultMode: ptr.To[int32](0o440)}}},
	}
	wantBaseMounts = []corev1.VolumeMount{
		{Name: "home", MountPath: "/home/model"},
		{Name: "tmp", MountPath: "/tmp"},
		{Name: "dshm", MountPath: "/dev/shm"},
		{Name: "tenant-key", MountPath: "/var/run/tenantai/key", ReadOnly: true},
	}
	wantBaseEnv = []corev1.EnvVar{
		{Name: "HOME", Value: "/home/model"},
		{Name: "XDG_CACHE_HOME", Value: "/home/model/.cache"},
		{Name: "HF_HOME", Value: "/home/model/.cache/huggingface"},
		{Name: "HF_HUB_DISABLE_TELEMETRY", Value: "1"},
		{Name: "DO_NOT_TRACK", Value: "1"},
		{Name: "TENANTAI_KEY_DIR", Value: "/var/run/tenantai/key"},
	}
)

func httpProbe(path string, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
		PeriodSeconds: 10, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: failures,
	}
}

func tcpProbe(failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}},
		PeriodSeconds: 10, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: failures,
	}
}

func TestRenderVLLMSample(t *testing.T) {
	got, err := render(sampleVLLM(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	wantDeployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "acme-prod", Labels: childLabels("chat"), OwnerReferences: ownerRef("chat", "uid-chat")},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{
				"platform.tenantai.io/tenant": "acme", "platform.tenantai.io/model": "chat", "platform.tenantai.io/track": "stable",
			}},
			ProgressDeadlineSeconds: ptr.To[int32](2400),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: map[string]string{
						"platform.tenantai.io/tenant": "acme", "platform.tenantai.io/model": "chat",
						"platform.tenantai.io/version": "v3", "platform.tenantai.io/track": "stable",
					},
					Annotations: map[string]string{"kubectl.kubernetes.io/default-container": "server"},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:           "chat-model",
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              wantPodSecurity,
					Tolerations:                  []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					Volumes:                      wantBaseVolumes,
					Containers: []corev1.Container{{
						Name:  "server",
						Image: "vllm/vllm-openai:v0.9.0",
						Args: []string{"--model=s3://acme-models/llama/v3", "--port=8000", "--served-model-name=llama-3.1-8b-instruct",
							"--load-format=runai_streamer", "--max-model-len=8192"},
						Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8000, Protocol: corev1.ProtocolTCP}},
						EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "model-store"}}}},
						Env:     append(append([]corev1.EnvVar(nil), wantBaseEnv...), corev1.EnvVar{Name: "VLLM_NO_USAGE_STATS", Value: "1"}),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{"cpu": resource.MustParse("4"), "memory": resource.MustParse("16Gi"), "nvidia.com/gpu": resource.MustParse("1")},
							Limits:   corev1.ResourceList{"cpu": resource.MustParse("8"), "memory": resource.MustParse("32Gi"), "nvidia.com/gpu": resource.MustParse("1")},
						},
						VolumeMounts:    wantBaseMounts,
						StartupProbe:    httpProbe("/health", 180),
						ReadinessProbe:  httpProbe("/health", 3),
						LivenessProbe:   httpProbe("/health", 6),
						SecurityContext: wantContainerSecurity,
					}},
				},
			},
		},
	}
	if diff := cmp.Diff(wantDeployment, got.stable); diff != "" {
		t.Errorf("stable Deployment (-want +got):\n%s", diff)
	}
	if got.canary != nil {
		t.Errorf("a canary Deployment was rendered without spec.canary: %s", got.canary.Name)
	}

	wantSA := &corev1.ServiceAccount{
		ObjectMeta:                   metav1.ObjectMeta{Name: "chat-model", Namespace: "acme-prod", Labels: childLabels("chat"), OwnerReferences: ownerRef("chat", "uid-chat")},
		AutomountServiceAccountToken: ptr.To(false),
	}
	if diff := cmp.Diff(wantSA, got.serviceAccount); diff != "" {
		t.Errorf("ServiceAccount (-want +got):\n%s", diff)
	}

	wantService := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "acme-prod", Labels: childLabels("chat"), OwnerReferences: ownerRef("chat", "uid-chat")},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{"platform.tenantai.io/tenant": "acme", "platform.tenantai.io/model": "chat"},
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 8000, TargetPort: intstr.FromString("http")}},
		},
	}
	if diff := cmp.Diff(wantService, got.service); diff != "" {
		t.Errorf("Service (-want +got):\n%s", diff)
	}

	wantHPA := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "acme-prod", Labels: childLabels("chat"), OwnerReferences: ownerRef("chat", "uid-chat")},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "platform.tenantai.io/v1alpha1", Kind: "ModelDeployment", Name: "chat"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    4,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}},
			}},
		},
	}
	if diff := cmp.Diff(wantHPA, got.autoscaler); diff != "" {
		t.Errorf("HPA (-want +got):\n%s", diff)
	}

	maxUnavailable := intstr.FromInt32(1)
	wantPDB := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "acme-prod", Labels: childLabels("chat"), OwnerReferences: ownerRef("chat", "uid-chat")},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             &maxUnavailable,
			Selector:                   &metav1.LabelSelector{MatchLabels: map[string]string{"platform.tenantai.io/tenant": "acme", "platform.tenantai.io/model": "chat"}},
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
	if diff := cmp.Diff(wantPDB, got.disruptionBudget); diff != "" {
		t.Errorf("PodDisruptionBudget, maxReplicas 4 allows several pods (-want +got):\n%s", diff)
	}
	if got.port != 8000 {
		t.Errorf("port = %d, want vLLM's 8000", got.port)
	}
}

func TestRenderCustomSample(t *testing.T) {
	got, err := render(sampleCustom(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	env := append([]corev1.EnvVar(nil), wantBaseEnv...)
	env[0] = corev1.EnvVar{Name: "HOME", Value: "/home/ranker"} // the user's env overrides in place
	env = append(env,
		corev1.EnvVar{Name: "MODEL_URI", Value: "/models/ranker/2024-06"},
		corev1.EnvVar{Name: "MODEL_NAME", Value: "ranker"},
		corev1.EnvVar{Name: "MODEL_VERSION", Value: "2024-06"},
		corev1.EnvVar{Name: "LOG_LEVEL", Value: "info"},
	)
	wantDeployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ranker", Namespace: "acme-prod", Labels: childLabels("ranker"), OwnerReferences: ownerRef("ranker", "uid-ranker")},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{
				"platform.tenantai.io/tenant": "acme", "platform.tenantai.io/model": "ranker", "platform.tenantai.io/track": "stable",
			}},
			ProgressDeadlineSeconds: ptr.To[int32](2400),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: map[string]string{
						"platform.tenantai.io/tenant": "acme", "platform.tenantai.io/model": "ranker",
						"platform.tenantai.io/version": "2024-06", "platform.tenantai.io/track": "stable",
					},
					Annotations: map[string]string{"kubectl.kubernetes.io/default-container": "server"},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:           "ranker-model",
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              wantPodSecurity,
					NodeSelector:                 map[string]string{"pool.example.com/tenant": "acme"},
					Volumes: append(append([]corev1.Volume(nil), wantBaseVolumes...), corev1.Volume{Name: "model", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "models", ReadOnly: true},
					}}),
					Containers: []corev1.Container{{
						Name:    "server",
						Image:   "registry.acme.example/ranker:1.4.2",
						Args:    []string{"--workers=2"},
						Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 9000, Protocol: corev1.ProtocolTCP}},
						EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ranker-license"}}}},
						Env:     env,
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("4Gi")},
						},
						VolumeMounts:    append(append([]corev1.VolumeMount(nil), wantBaseMounts...), corev1.VolumeMount{Name: "model", MountPath: "/models", ReadOnly: true}),
						StartupProbe:    tcpProbe(180),
						ReadinessProbe:  tcpProbe(3),
						LivenessProbe:   tcpProbe(6),
						SecurityContext: wantContainerSecurity,
					}},
				},
			},
		},
	}
	if diff := cmp.Diff(wantDeployment, got.stable); diff != "" {
		t.Errorf("stable Deployment (-want +got):\n%s", diff)
	}
	if got.autoscaler != nil {
		t.Error("an HPA was rendered without spec.autoscaling")
	}
	if got.disruptionBudget != nil {
		t.Error("a PodDisruptionBudget was rendered for a single pod: it would block drains or protect nothing")
	}
	if got.service.Spec.Ports[0].Port != 9000 {
		t.Errorf("Service port = %d, want runtime.port 9000", got.service.Spec.Ports[0].Port)
	}
	var names []string
	for _, o := range got.objects() {
		names = append(names, kindOf(o)+"/"+o.GetName())
	}
	if diff := cmp.Diff([]string{"ServiceAccount/ranker-model", "Deployment/ranker", "Service/ranker"}, names); diff != "" {
		t.Errorf("children (-want +got):\n%s", diff)
	}
}

func TestRenderCanary(t *testing.T) {
	md := sampleVLLM()
	md.Spec.Autoscaling = nil
	md.Spec.Replicas = ptr.To[int32](5)
	md.Spec.Canary = &platformv1alpha1.Canary{Version: "v4", URI: "hf://meta-llama/Llama-3.1-8B-Instruct", Weight: 20}
	got, err := render(md, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.canary == nil {
		t.Fatal("no canary Deployment rendered")
	}
	c := got.canary
	if c.Name != "chat-canary" || *c.Spec.Replicas != 1 || *got.stable.Spec.Replicas != 4 {
		t.Errorf("canary %s replicas %d, stable replicas %d; want chat-canary 1 and 4 (20%% of 5)", c.Name, *c.Spec.Replicas, *got.stable.Spec.Replicas)
	}
	wantSelector := map[string]string{"platform.tenantai.io/tenant": "acme", "platform.tenantai.io/model": "chat", "platform.tenantai.io/track": "canary"}
	if diff := cmp.Diff(wantSelector, c.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("canary selector (-want +got):\n%s", diff)
	}
	if v := c.Spec.Template.Labels["platform.tenantai.io/version"]; v != "v4" {
		t.Errorf("canary pods carry version %q, want v4", v)
	}
	args := c.Spec.Template.Spec.Containers[0].Args
	want := []string{"--model=meta-llama/Llama-3.1-8B-Instruct", "--port=8000", "--served-model-name=llama-3.1-8b-instruct", "--max-model-len=8192"}
	if diff := cmp.Diff(want, args); diff != "" {
		t.Errorf("canary args: the canary URI, hf:// stripped, no streamer for hf (-want +got):\n%s", diff)
	}
	if got.disruptionBudget == nil {
		t.Error("no PodDisruptionBudget although 5 pods run")
	}
}

func TestRenderNeverCopiesUserMetadata(t *testing.T) {
	got, err := render(sampleVLLM(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range got.objects() {
		if _, ok := obj.GetLabels()["app.kubernetes.io/instance"]; ok {
			t.Errorf("%s %s carries the user's app.kubernetes.io/instance label", kindOf(obj), obj.GetName())
		}
		if len(obj.GetAnnotations()) != 0 {
			t.Errorf("%s %s carries annotations %v", kindOf(obj), obj.GetName(), obj.GetAnnotations())
		}
		if obj.GetNamespace() != "acme-prod" {
			t.Errorf("%s %s is rendered in namespace %q, not the ModelDeployment's", kindOf(obj), obj.GetName(), obj.GetNamespace())
		}
	}
	tmpl := got.stable.Spec.Template
	if _, ok := tmpl.Labels["app.kubernetes.io/managed-by"]; ok {
		t.Error("the pod template carries the managed-by label: ReplicaSets and pods would look managed")
	}
	if _, ok := tmpl.Annotations["argocd.argoproj.io/tracking-id"]; ok {
		t.Error("the pod template carries the user's Argo CD annotation")
	}
}

func TestSplitReplicas(t *testing.T) {
	cases := map[string]struct {
		total, weight       int32
		canary              bool
		wantStable, wantCan int32
	}{
		"no canary":                              {total: 5, wantStable: 5},
		"no canary, zero":                        {total: 0, wantStable: 0},
		"20% of 5":                               {total: 5, weight: 20, canary: true, wantStable: 4, wantCan: 1},
		"20% of 10":                              {total: 10, weight: 20, canary: true, wantStable: 8, wantCan: 2},
		"half up: 50% of 3":                      {total: 3, weight: 50, canary: true, wantStable: 1, wantCan: 2},
		"rounds down: 10% of 4":                  {total: 4, weight: 10, canary: true, wantStable: 3, wantCan: 1},
		"canary minimum 1: 1% of 10":             {total: 10, weight: 1, canary: true, wantStable: 9, wantCan: 1},
		"stable minimum 1: 99% of 10":            {total: 10, weight: 99, canary: true, wantStable: 1, wantCan: 10},
		"total 1 with a canary runs 1 + 1":       {total: 1, weight: 20, canary: true, wantStable: 1, wantCan: 1},
		"total 0 with a canary scales both to 0": {total: 0, weight: 20, canary: true, wantStable: 0, wantCan: 0},
		"50% of 1000":                            {total: 1000, weight: 50, canary: true, wantStable: 500, wantCan: 500},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var c *platformv1alpha1.Canary
			if tc.canary {
				c = &platformv1alpha1.Canary{Version: "v2", Weight: tc.weight}
			}
			s, cn := splitReplicas(tc.total, c)
			if s != tc.wantStable || cn != tc.wantCan {
				t.Errorf("split(%d, %d%%) = stable %d, canary %d; want %d, %d", tc.total, tc.weight, s, cn, tc.wantStable, tc.wantCan)
			}
		})
	}
}

func TestDisruptionBudgetOnlyForSeveralPods(t *testing.T) {
	cases := map[string]struct {
		replicas int32
		auto     *platformv1alpha1.Autoscaling
		canary   bool
		want     bool
	}{
		"one replica":                      {replicas: 1},
		"zero replicas":                    {replicas: 0},
		"two replicas":                     {replicas: 2, want: true},
		"one replica, HPA up to 3":         {replicas: 1, auto: &platformv1alpha1.Autoscaling{MaxReplicas: 3}, want: true},
		"one replica, HPA pinned at 1":     {replicas: 1, auto: &platformv1alpha1.Autoscaling{MaxReplicas: 1}},
		"one replica plus its canary pod":  {replicas: 1, canary: true, want: true},
		"zero replicas with a canary":      {replicas: 0, canary: true},
		"zero replicas, HPA may scale up":  {replicas: 0, auto: &platformv1alpha1.Autoscaling{MaxReplicas: 2}, want: true},
		"one replica, HPA at 1 and canary": {replicas: 1, auto: &platformv1alpha1.Autoscaling{MaxReplicas: 1}, canary: true, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			md.Spec.Replicas = ptr.To(tc.replicas)
			md.Spec.Autoscaling = tc.auto
			if tc.canary {
				md.Spec.Canary = &platformv1alpha1.Canary{Version: "v4", URI: "s3://b/v4", Weight: 10}
			}
			if got := desiredDisruptionBudget(md, "acme") != nil; got != tc.want {
				t.Errorf("PodDisruptionBudget rendered = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAutoscalerMetricsPassThrough(t *testing.T) {
	md := sampleVLLM()
	queue := autoscalingv2.MetricSpec{
		Type: autoscalingv2.PodsMetricSourceType,
		Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "vllm:num_requests_waiting"},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("5"))},
		},
	}
	md.Spec.Autoscaling = &platformv1alpha1.Autoscaling{MaxReplicas: 8, Metrics: []autoscalingv2.MetricSpec{queue}}
	hpa := desiredAutoscaler(md, "acme")
	if diff := cmp.Diff([]autoscalingv2.MetricSpec{queue}, hpa.Spec.Metrics); diff != "" {
		t.Errorf("metrics without a CPU target (-want +got):\n%s", diff)
	}
	if hpa.Spec.MinReplicas != nil {
		t.Errorf("minReplicas = %d, want unset (the API server defaults it)", *hpa.Spec.MinReplicas)
	}
}
