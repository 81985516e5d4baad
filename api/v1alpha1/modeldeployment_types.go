package v1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ModelDeployment condition types, beside Ready, Reconciling and Stalled.
const (
	// ModelConditionAvailable mirrors the Deployments' Available condition.
	ModelConditionAvailable = "Available"
	// ModelConditionQuotaExceeded: replicas refused by quota admission.
	ModelConditionQuotaExceeded = "QuotaExceeded"
	// ModelConditionScalingLimited mirrors the HPA when it wants more than
	// maxReplicas. Informational: it never makes Ready False.
	ModelConditionScalingLimited = "ScalingLimited"
)

// ModelDeployment condition reasons.
const (
	ModelReasonNotTenantNamespace = "NotTenantNamespace"
	ModelReasonChildConflict      = "ChildConflict"
	ModelReasonRollingOut         = "RollingOut"
	ModelReasonQuotaExceeded      = "QuotaExceeded"
	ModelReasonTooManyReplicas    = "TooManyReplicas"
	ModelReasonPlacementConflict  = "PlacementConflict"
	// ModelReasonPodsRefused: the API server refused the model's pods for a
	// reason other than quota (an admission policy); the message is its own.
	ModelReasonPodsRefused = "PodsRefused"

	// ModelReasonDeploymentsAvailable: every Deployment of the model reports
	// Available=True.
	ModelReasonDeploymentsAvailable = "DeploymentsAvailable"
	// ModelReasonDeploymentUnavailable: a Deployment of the model is not
	// (yet) Available; the message names it and quotes its condition.
	ModelReasonDeploymentUnavailable = "DeploymentUnavailable"
	// ModelReasonWithinQuota: no Deployment reports a quota refusal.
	ModelReasonWithinQuota = "WithinQuota"
	// ModelReasonWithinRange: the HPA is not held back by maxReplicas.
	ModelReasonWithinRange = "WithinRange"
)

// Pod labels of a ModelDeployment beside TenantLabel, ModelLabel and
// VersionLabel.
const (
	// TrackLabel tells the stable Deployment's pods from the canary's. It is
	// part of each Deployment's (immutable) selector, so that the version can
	// change without a new selector and the two Deployments never select each
	// other's pods. The Service and status.selector leave it out, so they
	// select both tracks.
	TrackLabel = "platform.tenantai.io/track"
	// TrackStable and TrackCanary are the values of TrackLabel.
	TrackStable = "stable"
	TrackCanary = "canary"
)

// Engine is a serving runtime preset.
// +kubebuilder:validation:Enum=vllm;tgi;triton;tfserving;mlflow;custom
type Engine string

// The engine presets.
const (
	EngineVLLM      Engine = "vllm"
	EngineTGI       Engine = "tgi"
	EngineTriton    Engine = "triton"
	EngineTFServing Engine = "tfserving"
	EngineMLflow    Engine = "mlflow"
	EngineCustom    Engine = "custom"
)

// LocalObjectReference names an object in the ModelDeployment's own namespace.
type LocalObjectReference struct {
	// name of the object in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`
}

// ModelSource says which model to serve and where it is stored.
type ModelSource struct {
	// name of the model, e.g. llama-3.1-8b-instruct.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// version of the model; becomes the platform.tenantai.io/version label.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	// +required
	Version string `json:"version"`

	// uri of the model: hf://, s3://, gs://, https:// or pvc://<claim>/<path>.
	// A pvc:// claim must be in the same namespace.
	// +kubebuilder:validation:MinLength=6
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(hf|s3|gs|https)://[^\\\\s]+$') || self.matches('^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/[^\\\\s]*)?$')",message="uri must start with hf://, s3://, gs://, https:// or pvc://<claim>/<path> (a claim in the same namespace) and contain no spaces"
	// +required
	URI string `json:"uri"`

	// credentialsSecretRef names a Secret in the same namespace holding the
	// credentials for uri, passed to the runtime as environment variables.
	// +optional
	CredentialsSecretRef *LocalObjectReference `json:"credentialsSecretRef,omitempty"`
}

// ModelResources are the compute resources of one model server container.
type ModelResources struct {
	// requests, e.g. cpu, memory, nvidia.com/gpu.
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`
	// limits, e.g. nvidia.com/gpu (extended resources need equal request and limit).
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// Runtime is the serving runtime of the model.
// +kubebuilder:validation:XValidation:rule="self.engine != 'custom' || (has(self.image) && has(self.port))",message="engine custom needs image and port"
type Runtime struct {
	// engine selects a preset for image, args, port and probes: vllm, tgi,
	// triton, tfserving, mlflow or custom.
	// +required
	Engine Engine `json:"engine"`

	// image of the model server; defaults to the engine preset's image.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// args added after the preset's arguments.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	// +listType=atomic
	// +optional
	Args []string `json:"args,omitempty"`

	// env variables of the server container (references only reach the same
	// namespace). Names starting with NVIDIA_ are refused: the NVIDIA
	// container runtime reads NVIDIA_VISIBLE_DEVICES and its kin to decide
	// which GPUs a container sees, whatever it requested.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(e, !e.name.startsWith('NVIDIA_') && e.name != 'AMD_VISIBLE_DEVICES')",message="env names starting with NVIDIA_ (and AMD_VISIBLE_DEVICES) are refused: the container runtime would show the container GPUs it did not request; request GPUs in runtime.resources instead"
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// port the server listens on; defaults to the engine preset's port.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`

	// resources of the server container.
	// +optional
	Resources ModelResources `json:"resources,omitempty"`
}

// Autoscaling renders an autoscaling/v2 HorizontalPodAutoscaler targeting the
// ModelDeployment through its /scale subresource.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="minReplicas must not exceed maxReplicas"
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas > 0 || (has(self.metrics) && self.metrics.exists(m, m.type == 'Object' || m.type == 'External'))",message="minReplicas 0 needs an Object or External metric (scale to zero cannot be driven by CPU)"
// +kubebuilder:validation:XValidation:rule="has(self.targetCPUUtilizationPercentage) || (has(self.metrics) && size(self.metrics) > 0)",message="set targetCPUUtilizationPercentage or at least one metric"
type Autoscaling struct {
	// minReplicas is the lower bound (default 1; 0 with Object/External metrics).
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the upper bound.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +required
	MaxReplicas int32 `json:"maxReplicas"`

	// targetCPUUtilizationPercentage of the CPU request.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`

	// metrics are autoscaling/v2 metric specs passed through to the HPA
	// (e.g. a queue-depth Pods or External metric).
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	Metrics []autoscalingv2.MetricSpec `json:"metrics,omitempty"`
}

// Canary runs a second version behind the same Service.
type Canary struct {
	// version of the canary model; setting model.version to it promotes it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	// +required
	Version string `json:"version"`

	// uri of the canary model (same schemes as model.uri).
	// +kubebuilder:validation:MinLength=6
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(hf|s3|gs|https)://[^\\\\s]+$') || self.matches('^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/[^\\\\s]*)?$')",message="uri must start with hf://, s3://, gs://, https:// or pvc://<claim>/<path> (a claim in the same namespace) and contain no spaces"
	// +required
	URI string `json:"uri"`

	// weight is the canary's share of replicas, in percent (1-99).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	// +required
	Weight int32 `json:"weight"`
}

// Placement narrows where the model's pods run, within the tenant's policy.
type Placement struct {
	// nodeSelector added to the pods; may not contradict the tenant's.
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// tolerations added to the pods; must be within the tenant's.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// ModelDeploymentSpec is the desired state of a served model.
// +kubebuilder:validation:XValidation:rule="!has(self.canary) || self.canary.version != self.model.version",message="canary.version must differ from model.version (set model.version to the canary's version to promote it)"
// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && has(oldSelf.value().placement) && has(self.placement) && oldSelf.value().placement == self.placement && has(oldSelf.value().runtime.resources) == has(self.runtime.resources) && (!has(self.runtime.resources) || oldSelf.value().runtime.resources == self.runtime.resources)) || (!has(self.placement) || !has(self.placement.tolerations) || !self.placement.tolerations.exists(t, (!has(t.key) || size(t.key) == 0) || t.key.startsWith('nvidia.com/') || t.key.startsWith('amd.com/') || t.key.startsWith('gpu.intel.com/') || t.key.startsWith('habana.ai/')) || (has(self.runtime.resources.requests) && self.runtime.resources.requests.exists(r, r.startsWith('nvidia.com/') || r.startsWith('amd.com/') || r.startsWith('gpu.intel.com/') || r.startsWith('habana.ai/'))) || (has(self.runtime.resources.limits) && self.runtime.resources.limits.exists(r, r.startsWith('nvidia.com/') || r.startsWith('amd.com/') || r.startsWith('gpu.intel.com/') || r.startsWith('habana.ai/'))))",message="placement.tolerations may tolerate an accelerator taint (nvidia.com/, amd.com/, gpu.intel.com/, habana.ai/, or every taint) only when runtime.resources requests that accelerator: a pod that requests no GPU is kept off GPU nodes",fieldPath=".placement.tolerations",optionalOldSelf=true
type ModelDeploymentSpec struct {
	// model to serve.
	// +required
	Model ModelSource `json:"model"`

	// runtime that serves it.
	// +required
	Runtime Runtime `json:"runtime"`

	// replicas is the total number of model servers (stable plus canary). It is
	// the /scale field: set by the user, or by the HPA when autoscaling is set.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// autoscaling renders an HPA that scales this ModelDeployment.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// canary runs a second version behind the same Service.
	// +optional
	Canary *Canary `json:"canary,omitempty"`

	// placement narrows where pods run, within the tenant's scheduling policy.
	// +optional
	Placement *Placement `json:"placement,omitempty"`
}

// VersionStatus is the state of one running version.
type VersionStatus struct {
	// version of the model.
	Version string `json:"version"`
	// replicas of this version.
	Replicas int32 `json:"replicas"`
	// readyReplicas of this version.
	ReadyReplicas int32 `json:"readyReplicas"`
	// weight is this version's share of replicas, in percent.
	Weight int32 `json:"weight"`
}

// ModelDeploymentStatus is the observed state of a served model.
type ModelDeploymentStatus struct {
	CommonStatus `json:",inline"`

	// selector of the model's pods, for the HPA (the /scale label selector).
	// +optional
	Selector string `json:"selector,omitempty"`
	// endpoint is the in-cluster address of the model's Service.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// replicas is the number of pods of all versions (the /scale status).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// readyReplicas is the number of ready pods of all versions.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// versions are the running versions and their split.
	// +kubebuilder:validation:MaxItems=2
	// +listType=map
	// +listMapKey=version
	// +optional
	Versions []VersionStatus `json:"versions,omitempty"`
}

// ModelDeployment serves a model in a tenant namespace with autoscaling and
// canary rollout. Creating one is equivalent to creating pods in its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=mdeploy,categories=tenantai
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Model",type=string,JSONPath=`.spec.model.name`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.model.version`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 56",message="name must be a DNS-1035 label of at most 56 characters (it names the Service and the '<name>-canary' Deployment)"
type ModelDeployment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the served model.
	// +required
	Spec ModelDeploymentSpec `json:"spec"`

	// status is the observed state of the served model.
	// +default={"observedGeneration": -1}
	// +optional
	Status ModelDeploymentStatus `json:"status,omitempty"`
}

// GetStatus returns the common status of the model deployment.
func (m *ModelDeployment) GetStatus() *CommonStatus { return &m.Status.CommonStatus }

// +kubebuilder:object:root=true

// ModelDeploymentList is a list of ModelDeployments.
type ModelDeploymentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ModelDeployment `json:"items"`
}

func init() {
	register(&ModelDeployment{}, &ModelDeploymentList{})
}
