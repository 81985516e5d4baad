package modeldeployment

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// The identity model pods run as: fixed, non-root, the same for every
// engine, so that restricted Pod Security admits them whatever the image
// declares (several serving images run as root by default).
const (
	podUser  int64 = 1000
	podGroup int64 = 1000
)

// The server container and its filesystem.
const (
	containerName = "server"
	portName      = "http"
	homeDir       = "/home/model"
	cacheDir      = homeDir + "/.cache"
	tmpDir        = "/tmp"
	shmDir        = "/dev/shm"

	volumeHome      = "home"
	volumeTmp       = "tmp"
	volumeShm       = "dshm"
	volumeTenantKey = "tenant-key"
	volumeModel     = "model"

	// keyFileMode lets the pod's group (fsGroup) read the data key and
	// nobody else.
	keyFileMode int32 = 0o440
)

// gpuResource is the extended resource that marks a GPU pod.
const gpuResource corev1.ResourceName = "nvidia.com/gpu"

// defaultContainerAnnotation makes kubectl logs/exec pick the server.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// podLabels are the labels of one track's pods: the tenant, the model, the
// version and the track, never app.kubernetes.io/managed-by (ReplicaSets,
// pods and EndpointSlices inherit pod labels and must not look managed).
func podLabels(tenant, model, version, track string) map[string]string {
	return map[string]string{
		platformv1alpha1.TenantLabel:  tenant,
		platformv1alpha1.ModelLabel:   model,
		platformv1alpha1.VersionLabel: version,
		platformv1alpha1.TrackLabel:   track,
	}
}

// modelSelector selects every pod of a ModelDeployment, both tracks: the
// Service's selector, the PodDisruptionBudget's and status.selector (the
// HPA's view of the pods).
func modelSelector(tenant, model string) map[string]string {
	return map[string]string{platformv1alpha1.TenantLabel: tenant, platformv1alpha1.ModelLabel: model}
}

// trackSelector is a Deployment's selector. It leaves the version out: a
// selector is immutable, and a new version must roll out within the same
// Deployment.
func trackSelector(tenant, model, track string) map[string]string {
	s := modelSelector(tenant, model)
	s[platformv1alpha1.TrackLabel] = track
	return s
}

// podTemplate renders the pods of one track serving src.
func podTemplate(md *platformv1alpha1.ModelDeployment, tenant, track string, src modelSource, pl podPlacement) corev1.PodTemplateSpec {
	nodeSelector, tolerations := pl.nodeSelector, pl.tolerations
	volumes := []corev1.Volume{
		{Name: volumeHome, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: volumeTmp, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: volumeShm, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: volumeTenantKey, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: naming.DataKeySecret, DefaultMode: ptr.To(keyFileMode),
		}}},
	}
	if src.claim != "" {
		volumes = append(volumes, corev1.Volume{Name: volumeModel, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: src.claim, ReadOnly: true},
		}})
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      podLabels(tenant, md.Name, src.version, track),
			Annotations: map[string]string{defaultContainerAnnotation: containerName},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:           naming.ModelServiceAccount(md.Name),
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			SecurityContext:              podSecurityContext(),
			NodeSelector:                 nodeSelector,
			Tolerations:                  tolerations,
			Containers:                   []corev1.Container{container(md, src)},
			Volumes:                      volumes,
		},
	}
}

// podSecurityContext is restricted-compliant: a fixed non-root identity,
// RuntimeDefault seccomp. fsGroup makes the emptyDirs and the key writable or
// readable by the server; OnRootMismatch spares a large model volume a
// recursive chown at every start.
func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:        ptr.To(true),
		RunAsUser:           ptr.To(podUser),
		RunAsGroup:          ptr.To(podGroup),
		FSGroup:             ptr.To(podGroup),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// containerSecurityContext is restricted-compliant: no privilege, no
// escalation, every capability dropped. The root filesystem stays writable
// (engines write to assorted paths), but HOME, the caches and /tmp are on
// emptyDirs, so nothing needs to.
func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		Privileged:               ptr.To(false),
		AllowPrivilegeEscalation: ptr.To(false),
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(podUser),
		RunAsGroup:               ptr.To(podGroup),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// container renders the model server: the engine preset, overridden or
// extended by runtime.image, port, args and env.
func container(md *platformv1alpha1.ModelDeployment, src modelSource) corev1.Container {
	rt := md.Spec.Runtime
	p := presets[rt.Engine]
	port := servingPort(md)
	image := p.image
	if rt.Image != "" {
		image = rt.Image
	}
	var args []string
	if p.args != nil {
		args = p.args(src, port)
	}
	args = append(args, rt.Args...)
	if len(args) == 0 {
		args = nil
	}

	env := commonEnv()
	env = mergeEnv(env, p.env)
	if rt.Engine == platformv1alpha1.EngineCustom {
		env = mergeEnv(env, customEnv(src))
	}
	env = mergeEnv(env, rt.Env)

	mounts := []corev1.VolumeMount{
		{Name: volumeHome, MountPath: homeDir},
		{Name: volumeTmp, MountPath: tmpDir},
		{Name: volumeShm, MountPath: shmDir},
		{Name: volumeTenantKey, MountPath: naming.DataKeyMountPath, ReadOnly: true},
	}
	if src.claim != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: volumeModel, MountPath: modelMountPath, ReadOnly: true})
	}
	var envFrom []corev1.EnvFromSource
	if ref := md.Spec.Model.CredentialsSecretRef; ref != nil {
		// A LocalObjectReference: the Secret is in the pod's own namespace,
		// and the kubelet, not the operator, reads it.
		envFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
		}}}
	}
	return corev1.Container{
		Name:            containerName,
		Image:           image,
		Command:         slices.Clone(p.command),
		Args:            args,
		Ports:           []corev1.ContainerPort{{Name: portName, ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		EnvFrom:         envFrom,
		Env:             env,
		Resources:       resources(rt.Resources),
		VolumeMounts:    mounts,
		StartupProbe:    probe(p.livePath(src), startupFailureThreshold(p), probePeriodSeconds),
		ReadinessProbe:  probe(p.readyPath(src), readyFailureThreshold, probePeriodSeconds),
		LivenessProbe:   probe(p.livePath(src), liveFailureThreshold, probePeriodSeconds),
		SecurityContext: containerSecurityContext(),
	}
}

// startupFailureThreshold gives the startup probe the preset's budget.
func startupFailureThreshold(p preset) int32 {
	return int32(p.startup / (probePeriodSeconds * time.Second))
}

// servingPort is runtime.port, or the preset's.
func servingPort(md *platformv1alpha1.ModelDeployment) int32 {
	if p := md.Spec.Runtime.Port; p != nil {
		return *p
	}
	return presets[md.Spec.Runtime.Engine].port
}

// commonEnv puts HOME and every cache on the home emptyDir (the image's
// HOME may be / or /root, unwritable for the pod's user) and turns off usage
// telemetry, which would report a tenant's models to third parties.
func commonEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: "HOME", Value: homeDir},
		{Name: "XDG_CACHE_HOME", Value: cacheDir},
		{Name: "HF_HOME", Value: cacheDir + "/huggingface"},
		{Name: "HF_HUB_DISABLE_TELEMETRY", Value: "1"},
		{Name: "DO_NOT_TRACK", Value: "1"},
		{Name: "TENANTAI_KEY_DIR", Value: naming.DataKeyMountPath},
	}
}

// mergeEnv returns base with overrides applied: a variable of the same name
// is replaced in place, others are appended in order.
func mergeEnv(base, overrides []corev1.EnvVar) []corev1.EnvVar {
	out := append([]corev1.EnvVar(nil), base...)
	for _, o := range overrides {
		replaced := false
		for i := range out {
			if out[i].Name == o.Name {
				out[i] = *o.DeepCopy()
				replaced = true
			}
		}
		if !replaced {
			out = append(out, *o.DeepCopy())
		}
	}
	return out
}

// resources copies runtime.resources. An extended resource (a GPU) given
// only as a request is also set as the limit: Kubernetes requires both, and
// equal, for resources that cannot be overcommitted.
func resources(r platformv1alpha1.ModelResources) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{Requests: r.Requests.DeepCopy(), Limits: r.Limits.DeepCopy()}
	for name, q := range r.Requests {
		if !isExtendedResource(name) {
			continue
		}
		if _, ok := out.Limits[name]; !ok {
			if out.Limits == nil {
				out.Limits = corev1.ResourceList{}
			}
			out.Limits[name] = q.DeepCopy()
		}
	}
	if len(out.Requests) == 0 {
		out.Requests = nil
	}
	if len(out.Limits) == 0 {
		out.Limits = nil
	}
	return out
}

// isExtendedResource reports a resource outside the kubernetes.io domain,
// such as nvidia.com/gpu.
func isExtendedResource(name corev1.ResourceName) bool {
	n := string(name)
	return strings.Contains(n, "/") && !strings.HasPrefix(n, "kubernetes.io/") && !strings.Contains(n, ".kubernetes.io/")
}

// requestsAccelerator reports whether the server asks for at least one unit
// of a resource whose name starts with one of prefixes (nvidia.com/gpu, ...).
func requestsAccelerator(r platformv1alpha1.ModelResources, prefixes []string) bool {
	for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
		for name, q := range list {
			if q.Sign() > 0 && hasPrefix(string(name), prefixes) {
				return true
			}
		}
	}
	return false
}

// requestsGPU reports whether the server asks for at least one NVIDIA GPU.
func requestsGPU(r platformv1alpha1.ModelResources) bool {
	for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
		if q, ok := list[gpuResource]; ok && q.Sign() > 0 {
			return true
		}
	}
	return false
}

// acceleratorToleration reports whether a toleration lets a pod onto
// accelerator nodes: its key is an accelerator's (nvidia.com/gpu), or it
// tolerates every taint. The admission policy tenantai-pods refuses such a
// toleration on a pod that requests no accelerator.
func acceleratorToleration(t corev1.Toleration, prefixes []string) bool {
	if t.Key == "" {
		return t.Operator == corev1.TolerationOpExists
	}
	return hasPrefix(t.Key, prefixes)
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// gpuToleration lets GPU pods onto nodes tainted for GPU workloads.
var gpuToleration = corev1.Toleration{Key: string(gpuResource), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// podPlacement is where a ModelDeployment's pods may run.
type podPlacement struct {
	nodeSelector map[string]string
	tolerations  []corev1.Toleration
}

// placementConflict is a spec.placement that contradicts the tenant's
// scheduling policy: admission would refuse the pods, so the ModelDeployment
// is Stalled with reason PlacementConflict instead.
type placementConflict struct{ msg string }

func (e *placementConflict) Error() string { return e.msg }

// placement merges spec.placement with the tenant's scheduling policy, as the
// admission policies will: the tenant's node selector is set (placement may
// narrow it with other keys, never change one of its keys), the tenant's
// tolerations are added, and a placement toleration must be one of the
// tenant's. GPU pods also tolerate the nvidia.com/gpu taint, which admission
// allows every tenant (GPU access is bounded by quota; node pools by their own
// taints). A model that requests no accelerator gets no toleration of an
// accelerator taint (the tenant's are left out, a placement one is a
// conflict): admission keeps such pods off accelerator nodes.
func placement(md *platformv1alpha1.ModelDeployment, sched *platformv1alpha1.TenantScheduling, prefixes []string) (podPlacement, error) {
	var pl podPlacement
	accelerated := requestsAccelerator(md.Spec.Runtime.Resources, prefixes)
	if p := md.Spec.Placement; p != nil && len(p.NodeSelector) > 0 {
		pl.nodeSelector = maps.Clone(p.NodeSelector)
	}
	allowed := []corev1.Toleration{}
	if sched != nil {
		allowed = sched.Tolerations
		for k, v := range sched.NodeSelector {
			if mine, ok := pl.nodeSelector[k]; ok && mine != string(v) {
				return pl, &placementConflict{fmt.Sprintf(
					"placement.nodeSelector %s=%s contradicts the tenant's node pool %s=%s: remove it or use the tenant's value", k, mine, k, v)}
			}
			if pl.nodeSelector == nil {
				pl.nodeSelector = map[string]string{}
			}
			pl.nodeSelector[k] = string(v)
		}
	}
	if p := md.Spec.Placement; p != nil {
		for i := range p.Tolerations {
			t := normalToleration(p.Tolerations[i])
			if !accelerated && acceleratorToleration(t, prefixes) {
				return pl, &placementConflict{fmt.Sprintf(
					"placement.tolerations %s:%s tolerates an accelerator taint, but runtime.resources requests no accelerator: "+
						"admission keeps pods that request none off accelerator nodes; remove the toleration or request the accelerator", t.Key, t.Effect)}
			}
			if !hasToleration(normalTolerations(allowed), t) && !equality.Semantic.DeepEqual(t, gpuToleration) {
				return pl, &placementConflict{fmt.Sprintf(
					"placement.tolerations %s:%s is not among the tenant's tolerations: a tenant may tolerate only its own node pool's taints", t.Key, t.Effect)}
			}
		}
	}
	for i := range allowed {
		t := normalToleration(allowed[i])
		if !accelerated && acceleratorToleration(t, prefixes) {
			continue
		}
		if !hasToleration(pl.tolerations, t) {
			pl.tolerations = append(pl.tolerations, t)
		}
	}
	if requestsGPU(md.Spec.Runtime.Resources) && !hasToleration(pl.tolerations, gpuToleration) {
		pl.tolerations = append(pl.tolerations, gpuToleration)
	}
	return pl, nil
}

// normalToleration spells out the operator the API server defaults, so that
// tolerations compare as the admission policies compare them.
func normalToleration(t corev1.Toleration) corev1.Toleration {
	t = *t.DeepCopy()
	if t.Operator == "" {
		t.Operator = corev1.TolerationOpEqual
	}
	return t
}

func normalTolerations(list []corev1.Toleration) []corev1.Toleration {
	out := make([]corev1.Toleration, 0, len(list))
	for i := range list {
		out = append(out, normalToleration(list[i]))
	}
	return out
}

func hasToleration(list []corev1.Toleration, t corev1.Toleration) bool {
	for i := range list {
		if equality.Semantic.DeepEqual(list[i], t) {
			return true
		}
	}
	return false
}

// probe checks the server's named port: an HTTP GET of path, or a TCP
// connection when path is empty.
func probe(path string, failureThreshold, periodSeconds int32) *corev1.Probe {
	handler := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(portName)}}
	if path != "" {
		handler = corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString(portName), Scheme: corev1.URISchemeHTTP,
		}}
	}
	return &corev1.Probe{
		ProbeHandler:     handler,
		PeriodSeconds:    periodSeconds,
		TimeoutSeconds:   probeTimeoutSeconds,
		SuccessThreshold: 1,
		FailureThreshold: failureThreshold,
	}
}
