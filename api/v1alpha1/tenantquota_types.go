package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TenantQuota condition types, beside Ready, Reconciling and Stalled.
const (
	// TenantQuotaConditionQuotaApplied: every tenant namespace has its
	// ResourceQuota and quota admission enforces it (status.hard == spec.hard).
	TenantQuotaConditionQuotaApplied = "QuotaApplied"
	// TenantQuotaConditionExhausted: a resource is at or over the tenant's
	// total. Informational: it never makes Ready False.
	TenantQuotaConditionExhausted = "Exhausted"
)

// TenantQuota condition reasons.
const (
	TenantQuotaReasonTenantNotFound         = "TenantNotFound"
	TenantQuotaReasonStaticSplitExceedsHard = "StaticSplitExceedsHard"
	TenantQuotaReasonResourceExhausted      = "ResourceExhausted"
	TenantQuotaReasonOverQuota              = "OverQuota"
	TenantQuotaReasonWithinQuota            = "WithinQuota"
	TenantQuotaReasonWaitingForEnforcement  = "WaitingForEnforcement"
	TenantQuotaReasonWaitingForNamespaces   = "WaitingForNamespaces"
	// TenantQuotaReasonUnknownNamespaceEntry: a Static split names an entry
	// the Tenant does not declare (Stalled until one of them changes).
	TenantQuotaReasonUnknownNamespaceEntry = "UnknownNamespaceEntry"
	// TenantQuotaReasonRevokingAccess: the TenantQuota is being deleted under
	// quotaPolicy Required; its ResourceQuotas stay until the Tenant's
	// RoleBindings are gone.
	TenantQuotaReasonRevokingAccess = "RevokingAccess"
)

// DistributionMode selects how the tenant total is split across namespaces.
// +kubebuilder:validation:Enum=Dynamic;Static
type DistributionMode string

const (
	// DistributionDynamic gives each namespace its use plus a share of the free
	// headroom, moving headroom to where it is used and wanted.
	DistributionDynamic DistributionMode = "Dynamic"
	// DistributionStatic gives each namespace entry exactly what is listed.
	DistributionStatic DistributionMode = "Static"
)

// DefaultObjectCounts are the object counts a TenantQuota enforces when
// spec.hard does not name them: they bound the workloads tenants create
// themselves (docs/tenants.md#workloads). A finished Job stays until it is
// deleted or its ttlSecondsAfterFinished passes, and each object is paid in
// etcd and in every controller's cache. Deployments get no default: a
// ModelDeployment's Deployments count too, and a default could stop an
// existing tenant's next model on upgrade.
func DefaultObjectCounts() corev1.ResourceList {
	return corev1.ResourceList{
		"count/jobs.batch":        resource.MustParse("50"),
		"count/cronjobs.batch":    resource.MustParse("10"),
		"count/statefulsets.apps": resource.MustParse("10"),
	}
}

// TenantRef names a Tenant.
type TenantRef struct {
	// name of the Tenant.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name"`
}

// QuotaDistribution is how the tenant total is split across its namespaces.
// +kubebuilder:validation:XValidation:rule="self.mode == 'Static' || !has(self.static)",message="static may only be set with mode Static"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Static' || has(self.static)",message="mode Static needs static: the amounts per namespace entry"
type QuotaDistribution struct {
	// mode: Dynamic (default) or Static.
	// +kubebuilder:default=Dynamic
	// +optional
	Mode DistributionMode `json:"mode,omitempty"`

	// static maps a Tenant namespace entry name (e.g. "prod") to its fixed
	// quota. An omitted namespace or resource gets 0.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	Static map[string]corev1.ResourceList `json:"static,omitempty"`
}

// TenantQuotaSpec is the tenant's total budget.
type TenantQuotaSpec struct {
	// tenantRef names the Tenant; it must equal this object's name.
	// +required
	TenantRef TenantRef `json:"tenantRef"`

	// hard is the tenant's total for each resource: any ResourceQuota key
	// (requests.cpu, limits.memory, requests.nvidia.com/gpu, pods,
	// count/modeldeployments.platform.tenantai.io, services.nodeports, ...).
	// services.nodeports and services.loadbalancers are 0 when not named.
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && (k.contains('/') ? k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$') : (k in ['cpu', 'memory', 'ephemeral-storage', 'requests.cpu', 'requests.memory', 'requests.storage', 'requests.ephemeral-storage', 'limits.cpu', 'limits.memory', 'limits.ephemeral-storage', 'pods', 'resourcequotas', 'services', 'replicationcontrollers', 'secrets', 'persistentvolumeclaims', 'configmaps', 'services.nodeports', 'services.loadbalancers'] || k.startsWith('hugepages-') || k.startsWith('requests.hugepages-'))))",message="hard keys must be ResourceQuota resource names: a standard one (cpu, memory, pods, requests.cpu, limits.memory, requests.storage, services.nodeports, configmaps, ...) or a qualified name such as requests.nvidia.com/gpu, count/deployments.apps or gold.storageclass.storage.k8s.io/requests.storage"
	// +required
	Hard corev1.ResourceList `json:"hard"`

	// distribution of the total across the tenant's namespaces.
	// +kubebuilder:default={mode: Dynamic}
	// +optional
	Distribution QuotaDistribution `json:"distribution,omitempty"`
}

// NamespaceQuotaStatus is the quota of one tenant namespace.
type NamespaceQuotaStatus struct {
	// name of the namespace.
	Name string `json:"name"`
	// hard is the namespace's enforced quota.
	// +optional
	Hard corev1.ResourceList `json:"hard,omitempty"`
	// used is the namespace's use, from its ResourceQuota's status.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`
}

// TenantQuotaStatus is the observed state of a tenant's quota.
type TenantQuotaStatus struct {
	CommonStatus `json:",inline"`

	// hard is the total being enforced (spec.hard plus defaults).
	// +optional
	Hard corev1.ResourceList `json:"hard,omitempty"`
	// used is the tenant's use summed over its namespaces.
	// +optional
	Used corev1.ResourceList `json:"used,omitempty"`
	// namespaces are the per-namespace quotas: the Tenant's namespaces, then
	// retained (orphaned) ones, at most 128 (see namespacesOmitted).
	// +kubebuilder:validation:MaxItems=128
	// +listType=map
	// +listMapKey=name
	// +optional
	Namespaces []NamespaceQuotaStatus `json:"namespaces,omitempty"`
	// namespacesOmitted counts the retained namespaces left out of namespaces
	// (their quotas still count toward used).
	// +optional
	NamespacesOmitted int32 `json:"namespacesOmitted,omitempty"`
}

// TenantQuota is a tenant's total budget of compute, GPUs and objects, enforced
// by one native ResourceQuota per tenant namespace whose sum never exceeds it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tquota,categories=tenantai
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="GPU Used",type=string,JSONPath=`.status.used.requests\.nvidia\.com/gpu`
// +kubebuilder:printcolumn:name="GPU Hard",type=string,JSONPath=`.status.hard.requests\.nvidia\.com/gpu`
// +kubebuilder:printcolumn:name="CPU Used",type=string,JSONPath=`.status.used.requests\.cpu`
// +kubebuilder:printcolumn:name="CPU Hard",type=string,JSONPath=`.status.hard.requests\.cpu`
// +kubebuilder:printcolumn:name="Exhausted",type=string,JSONPath=`.status.conditions[?(@.type=="Exhausted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name == self.spec.tenantRef.name",message="a TenantQuota must be named after its tenant: metadata.name must equal spec.tenantRef.name",fieldPath=".spec.tenantRef.name"
type TenantQuota struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the tenant's total budget.
	// +required
	Spec TenantQuotaSpec `json:"spec"`

	// status is the observed quota.
	// +default={"observedGeneration": -1}
	// +optional
	Status TenantQuotaStatus `json:"status,omitempty"`
}

// GetStatus returns the common status of the quota.
func (q *TenantQuota) GetStatus() *CommonStatus { return &q.Status.CommonStatus }

// +kubebuilder:object:root=true

// TenantQuotaList is a list of TenantQuotas.
type TenantQuotaList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TenantQuota `json:"items"`
}

func init() {
	register(&TenantQuota{}, &TenantQuotaList{})
}
