package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Tenant condition types, beside Ready, Reconciling and Stalled.
const (
	TenantConditionNamespacesReady       = "NamespacesReady"
	TenantConditionNetworkIsolationReady = "NetworkIsolationReady"
	TenantConditionRBACReady             = "RBACReady"
	TenantConditionEncryptionReady       = "EncryptionReady"
)

// Tenant condition reasons.
const (
	// TenantReasonNamespaceConflict: a namespace the tenant declares exists and
	// belongs to someone else; it is never adopted.
	TenantReasonNamespaceConflict = "NamespaceConflict"
	// TenantReasonWaitingForQuota: quotaPolicy Required and the namespace has no
	// ResourceQuota from a TenantQuota yet, so no RoleBinding is created.
	TenantReasonWaitingForQuota = "WaitingForQuota"
	// TenantReasonHostnameConflict: another tenant already claims a hostname.
	TenantReasonHostnameConflict = "HostnameConflict"
	// TenantReasonNamespaceTerminating: a declared namespace is still being
	// deleted; it is recreated once it is gone.
	TenantReasonNamespaceTerminating = "NamespaceTerminating"
	// TenantReasonAdoptionRequired: a declared namespace was retained by an
	// earlier Tenant of the same name (another UID); it is taken over only
	// through the adopt-from annotation.
	TenantReasonAdoptionRequired = "AdoptionRequired"
	// TenantReasonForbiddenSubject: an owner or member names a system:
	// user or group (everyone, anonymous, nodes, ...); it is never bound.
	TenantReasonForbiddenSubject = "ForbiddenSubject"
	// TenantReasonKeyMissing: the canonical data key is gone and no copy held
	// by this Tenant has its versions; no key is generated over data.
	TenantReasonKeyMissing = "KeyMissing"
	// TenantReasonKeyConflict: a copy of the data key holds a version whose
	// material differs from the canonical key's; neither is overwritten.
	TenantReasonKeyConflict = "KeyConflict"
	// TenantReasonDeletingNamespaces: namespaces whose entries were removed
	// under deletionPolicy Delete are being deleted (Reconciling).
	TenantReasonDeletingNamespaces = "DeletingNamespaces"
)

// SubjectKind is the kind of a principal bound to a tenant role.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type SubjectKind string

// The subject kinds.
const (
	SubjectUser           SubjectKind = "User"
	SubjectGroup          SubjectKind = "Group"
	SubjectServiceAccount SubjectKind = "ServiceAccount"
)

// TenantRole is a role a member holds in every namespace of its tenant.
// +kubebuilder:validation:Enum=admin;developer;viewer
type TenantRole string

// The tenant roles, bound to the tenantai-tenant-<role> ClusterRoles.
const (
	RoleAdmin     TenantRole = "admin"
	RoleDeveloper TenantRole = "developer"
	RoleViewer    TenantRole = "viewer"
)

// Subject is a principal: a user, a group or a service account.
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' ? has(self.__namespace__) : !has(self.__namespace__)",message="namespace is required for kind ServiceAccount and not allowed for User or Group"
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' || !self.name.startsWith('system:')",message="User and Group names may not start with 'system:': system:authenticated, system:anonymous, system:serviceaccounts, system:nodes, system:masters and the like name everyone or Kubernetes' own identities; name the tenant's users or groups (or a ServiceAccount by kind)"
type Subject struct {
	// kind of the principal: User, Group or ServiceAccount.
	// +required
	Kind SubjectKind `json:"kind"`

	// name of the user, group or service account.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// namespace of a ServiceAccount (required for that kind only).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// Member is a principal with a role in every namespace of the tenant.
type Member struct {
	Subject `json:",inline"`

	// role in the tenant's namespaces: admin, developer or viewer.
	// +required
	Role TenantRole `json:"role"`
}

// TenantNamespace declares one namespace of the tenant.
type TenantNamespace struct {
	// name of the entry; the namespace is created as "<tenant>-<name>".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=62
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="name must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit"
	// +required
	Name string `json:"name"`

	// labels added to the namespace. Keys under the reserved prefixes
	// platform.tenantai.io/, pod-security.kubernetes.io/, kubernetes.io/,
	// k8s.io/, app.kubernetes.io/ and argocd.argoproj.io/ are refused.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k.startsWith('platform.tenantai.io/') || k.startsWith('pod-security.kubernetes.io/') || k.startsWith('kubernetes.io/') || k.startsWith('k8s.io/') || k.startsWith('app.kubernetes.io/') || k.startsWith('argocd.argoproj.io/') || k.contains('.kubernetes.io/') || k.contains('.k8s.io/') || k.contains('.tenantai.io/')))",message="labels may not use the reserved prefixes platform.tenantai.io/, pod-security.kubernetes.io/, kubernetes.io/, k8s.io/, app.kubernetes.io/, argocd.argoproj.io/ (or any *.kubernetes.io/, *.k8s.io/, *.tenantai.io/)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$') && size(k) <= 317)",message="label keys must be qualified names such as env or example.com/team"
	// +optional
	Labels map[string]LabelValue `json:"labels,omitempty"`
}

// PodSecurityLevel is the Pod Security Standard enforced in tenant namespaces.
// +kubebuilder:validation:Enum=restricted;baseline
type PodSecurityLevel string

// The Pod Security levels.
const (
	PodSecurityRestricted PodSecurityLevel = "restricted"
	PodSecurityBaseline   PodSecurityLevel = "baseline"
)

// QuotaPolicy says whether a namespace must have its ResourceQuota before the
// tenant's principals are bound in it.
// +kubebuilder:validation:Enum=Required;Optional
type QuotaPolicy string

// The quota policies.
const (
	QuotaRequired QuotaPolicy = "Required"
	QuotaOptional QuotaPolicy = "Optional"
)

// NetworkIsolation selects the tenant's default network posture.
// +kubebuilder:validation:Enum=DefaultDeny;None
type NetworkIsolation string

// The network isolation modes.
const (
	NetworkDefaultDeny NetworkIsolation = "DefaultDeny"
	NetworkNone        NetworkIsolation = "None"
)

// DeletionPolicy says what happens to a tenant's namespaces when the Tenant, or
// a namespace entry, is removed.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionRetain keeps namespaces and guardrails, removes the tenant's
	// RoleBindings and labels the namespace orphaned.
	DeletionRetain DeletionPolicy = "Retain"
	// DeletionDelete deletes the namespaces, their workloads and the tenant's keys.
	DeletionDelete DeletionPolicy = "Delete"
)

// NetworkPeer selects pods allowed to reach the tenant, as in a NetworkPolicy peer.
// +kubebuilder:validation:XValidation:rule="has(self.namespaceSelector) || has(self.podSelector)",message="set namespaceSelector, podSelector or both"
type NetworkPeer struct {
	// namespaceSelector selects namespaces by label.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// podSelector selects pods by label (in the selected namespaces).
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
}

// TenantNetwork is the tenant's network isolation.
type TenantNetwork struct {
	// isolation: DefaultDeny (default) denies all ingress and egress except
	// within the tenant, DNS and what is allowed below. None creates no
	// NetworkPolicies.
	// +kubebuilder:default=DefaultDeny
	// +optional
	Isolation NetworkIsolation `json:"isolation,omitempty"`

	// allowIngressFrom lists peers (e.g. the inference gateway) that may reach
	// the tenant's pods.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	AllowIngressFrom []NetworkPeer `json:"allowIngressFrom,omitempty"`

	// allowMonitoringFrom lists peers (e.g. Prometheus) that may scrape the
	// tenant's pods.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	AllowMonitoringFrom []NetworkPeer `json:"allowMonitoringFrom,omitempty"`

	// allowEgressCIDRs lists destinations the tenant's pods may reach. Private
	// (10/8, 172.16/12, 192.168/16), link-local (169.254/16, cloud metadata),
	// CGNAT (100.64/10) and IPv6 ULA/link-local (fc00::/7, fe80::/10) stay
	// blocked unless a CIDR here names them exactly.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=49
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="allowEgressCIDRs entries must be CIDRs such as 0.0.0.0/0 or 2001:db8::/32"
	// +kubebuilder:validation:XValidation:rule="self.all(c, !isCIDR(c) || cidr(c) == cidr(c).masked())",message="allowEgressCIDRs entries must be in canonical form: host bits set to zero (e.g. 10.1.0.0/16, not 10.1.2.3/16)"
	// +listType=set
	// +optional
	AllowEgressCIDRs []string `json:"allowEgressCIDRs,omitempty"`
}

// TenantScheduling is the tenant's node pool and allowed classes, injected into
// and enforced on its pods by admission policies.
// +kubebuilder:validation:XValidation:rule="!has(self.batchPriorityClass) || (has(self.priorityClasses) && self.batchPriorityClass in self.priorityClasses && self.priorityClasses[0] != self.batchPriorityClass)",message="batchPriorityClass must be one of priorityClasses other than the first: the first is the default that model pods get, and pods of the batch class are capped by the serving reservation",fieldPath=".batchPriorityClass"
type TenantScheduling struct {
	// nodeSelector is set on every pod of the tenant; pods may not contradict it.
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$') && size(k) <= 317)",message="nodeSelector keys must be qualified label names such as pool.example.com/tenant"
	// +optional
	NodeSelector map[string]LabelValue `json:"nodeSelector,omitempty"`

	// tolerations are added to every pod of the tenant; pods may tolerate no
	// other taints.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// priorityClasses the tenant's pods may use; the first is the default.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	PriorityClasses []string `json:"priorityClasses,omitempty"`

	// batchPriorityClass, one of priorityClasses but not the first (the
	// default, which model pods get), marks the tenant's batch pods: pods of a
	// Job that name no class get it, and a TenantQuota then caps such pods in
	// each namespace at the namespace's quota minus what its ModelDeployments
	// need at their minimum replicas (the serving reservation, ResourceQuota
	// tenantai-batch). Batch waits; models keep their floor. See
	// docs/tenants.md#workloads.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	BatchPriorityClass string `json:"batchPriorityClass,omitempty"`

	// runtimeClasses the tenant's pods may use.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	RuntimeClasses []string `json:"runtimeClasses,omitempty"`
}

// ExposedServiceType is a Service type beyond ClusterIP that a tenant may be
// granted.
// +kubebuilder:validation:Enum=NodePort;LoadBalancer
type ExposedServiceType string

// The grantable Service types (ExternalName is never granted).
const (
	ServiceTypeNodePort     ExposedServiceType = "NodePort"
	ServiceTypeLoadBalancer ExposedServiceType = "LoadBalancer"
)

// TenantExposure limits how the tenant publishes services.
type TenantExposure struct {
	// serviceTypes the tenant may create beyond ClusterIP: NodePort,
	// LoadBalancer. Refused when not listed, with or without a TenantQuota;
	// a TenantQuota still counts them (services.nodeports and
	// services.loadbalancers, 0 unless named). ExternalName Services and
	// spec.externalIPs are always refused in tenant namespaces.
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	ServiceTypes []ExposedServiceType `json:"serviceTypes,omitempty"`

	// hostnames the tenant's Ingresses and HTTPRoutes may claim, such as
	// "*.acme.example" or "chat.acme.example".
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`
	// +listType=set
	// +optional
	Hostnames []string `json:"hostnames,omitempty"`
}

// TenantStorage limits the storage a tenant may claim.
type TenantStorage struct {
	// classes are the StorageClasses the tenant's PersistentVolumeClaims may
	// name. A claim of another class is refused, and so is one that names
	// none unless the cluster's default class (which Kubernetes fills in
	// first) is listed here.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +listType=set
	// +optional
	Classes []string `json:"classes,omitempty"`
}

// TenantLimitRange sets container defaults in every tenant namespace, so that
// quota admission never refuses a pod for lacking requests or limits.
type TenantLimitRange struct {
	// defaultRequest is applied to containers that set no requests.
	// Defaults to cpu 100m, memory 128Mi.
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`

	// default is the limit applied to containers that set no limits. Required
	// when the TenantQuota has limits.* keys. Defaults to cpu 1, memory 1Gi.
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	Default corev1.ResourceList `json:"default,omitempty"`
}

// TenantEncryption configures the per-tenant data key.
type TenantEncryption struct {
	// rotationPeriod is how often a new key version is generated; earlier
	// versions are kept for decryption. At least 1h.
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="rotationPeriod must be at least 1h"
	// +optional
	RotationPeriod *metav1.Duration `json:"rotationPeriod,omitempty"`
}

// TenantSpec is the desired state of a tenant.
type TenantSpec struct {
	// displayName is a human-readable name.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// owners are bound to the tenant-admin role in every tenant namespace.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Owners []Subject `json:"owners,omitempty"`

	// members are bound to their role in every tenant namespace.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(o, o.kind == m.kind && o.name == m.name && (has(o.__namespace__) ? o.__namespace__ : '') == (has(m.__namespace__) ? m.__namespace__ : '')))",message="members must be unique: each kind/name/namespace may appear once (give it the role it needs)"
	// +listType=atomic
	// +optional
	Members []Member `json:"members,omitempty"`

	// namespaces of the tenant, each created as "<tenant>-<name>".
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	Namespaces []TenantNamespace `json:"namespaces,omitempty"`

	// podSecurity is the Pod Security Standard enforced, audited and warned in
	// every tenant namespace: restricted (default) or baseline.
	// +kubebuilder:default=restricted
	// +optional
	PodSecurity PodSecurityLevel `json:"podSecurity,omitempty"`

	// quotaPolicy: Required (default) binds no tenant principal in a namespace
	// before its ResourceQuota from the tenant's TenantQuota exists; Optional
	// binds regardless.
	// +kubebuilder:default=Required
	// +optional
	QuotaPolicy QuotaPolicy `json:"quotaPolicy,omitempty"`

	// network isolation of the tenant's namespaces.
	// +kubebuilder:default={isolation: DefaultDeny}
	// +optional
	Network TenantNetwork `json:"network,omitempty"`

	// scheduling is the tenant's node pool and allowed classes.
	// +optional
	Scheduling *TenantScheduling `json:"scheduling,omitempty"`

	// exposure limits the hostnames the tenant may publish.
	// +optional
	Exposure *TenantExposure `json:"exposure,omitempty"`

	// storage limits the storage classes the tenant may claim; without it,
	// no PersistentVolumeClaim is admitted in the tenant's namespaces.
	// +optional
	Storage *TenantStorage `json:"storage,omitempty"`

	// limitRange sets container defaults in every tenant namespace.
	// +optional
	LimitRange *TenantLimitRange `json:"limitRange,omitempty"`

	// encryption configures the per-tenant data key.
	// +kubebuilder:default={rotationPeriod: "720h"}
	// +optional
	Encryption TenantEncryption `json:"encryption,omitempty"`

	// deletionPolicy: Retain (default) keeps namespaces and their data when the
	// tenant or a namespace entry is removed (RoleBindings are removed and the
	// namespace is labelled orphaned); Delete deletes the namespaces and
	// destroys the tenant's keys.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// TenantStatus is the observed state of a tenant.
type TenantStatus struct {
	CommonStatus `json:",inline"`

	// namespaces are the tenant's namespaces that exist and belong to it.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// keyVersion is the active version of the tenant's data key.
	// +optional
	KeyVersion int32 `json:"keyVersion,omitempty"`
}

// Tenant declares a tenant: its namespaces, principals, isolation and limits.
// The operator reconciles it into namespaces, RBAC, Pod Security labels,
// NetworkPolicies, a LimitRange and a per-tenant data key.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tnnt,categories=tenantai
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Namespaces",type=string,JSONPath=`.status.namespaces`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 61",message="tenant name must be a DNS-1123 label of at most 61 characters (lower-case letters, digits and '-')"
// +kubebuilder:validation:XValidation:rule="!(self.metadata.name == 'default' || self.metadata.name.startsWith('kube') || self.metadata.name.startsWith('openshift') || self.metadata.name.startsWith('tenantai'))",message="tenant name may not be 'default' or start with 'kube', 'openshift' or 'tenantai' (reserved for system namespaces)"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.namespaces) || self.spec.namespaces.all(n, size(self.metadata.name) + size(n.name) < 63)",message="each namespace '<tenant>-<name>' must be at most 63 characters: shorten the tenant name or the namespace entry name",fieldPath=".spec.namespaces"
// +kubebuilder:validation:XValidation:rule="(oldSelf.hasValue() && (has(oldSelf.value().spec.owners) ? oldSelf.value().spec.owners : []) == (has(self.spec.owners) ? self.spec.owners : []) && (has(oldSelf.value().spec.members) ? oldSelf.value().spec.members : []) == (has(self.spec.members) ? self.spec.members : []) && (has(oldSelf.value().spec.namespaces) ? oldSelf.value().spec.namespaces : []) == (has(self.spec.namespaces) ? self.spec.namespaces : [])) || ((!has(self.spec.owners) || self.spec.owners.all(o, o.kind != 'ServiceAccount' || (has(self.spec.namespaces) && self.spec.namespaces.exists(n, self.metadata.name + '-' + n.name == o.__namespace__)))) && (!has(self.spec.members) || self.spec.members.all(m, m.kind != 'ServiceAccount' || (has(self.spec.namespaces) && self.spec.namespaces.exists(n, self.metadata.name + '-' + n.name == m.__namespace__)))))",message="a ServiceAccount named as an owner or member must live in one of this tenant's namespaces ('<tenant>-<entry>'), and a namespace entry cannot be removed while such a ServiceAccount lives in it: a service account elsewhere is controlled by someone the tenant's guardrails do not bind",fieldPath=".spec",optionalOldSelf=true
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the tenant.
	// +required
	Spec TenantSpec `json:"spec"`

	// status is the observed state of the tenant.
	// +default={"observedGeneration": -1}
	// +optional
	Status TenantStatus `json:"status,omitempty"`
}

// GetStatus returns the common status of the tenant.
func (t *Tenant) GetStatus() *CommonStatus { return &t.Status.CommonStatus }

// NamespaceName is the name of the namespace created for an entry.
func (t *Tenant) NamespaceName(entry string) string { return t.Name + "-" + entry }

// +kubebuilder:object:root=true

// TenantList is a list of Tenants.
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

func init() {
	register(&Tenant{}, &TenantList{})
}
