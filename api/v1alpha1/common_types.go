package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and identities shared by the operator, its admission policies and its
// tests. They are part of the API: policies and users select on them.
const (
	// TenantLabel names the tenant that owns a namespace or an object. It is set
	// by the operator only, on tenant namespaces, every object it creates and
	// pod templates.
	TenantLabel = "platform.tenantai.io/tenant"
	// ModelLabel and VersionLabel identify a ModelDeployment's pods.
	ModelLabel   = "platform.tenantai.io/model"
	VersionLabel = "platform.tenantai.io/version"
	// OrphanedLabel marks a namespace retained after its Tenant (or its entry in
	// spec.namespaces) was removed with deletionPolicy Retain.
	OrphanedLabel = "platform.tenantai.io/orphaned"

	// ManagedByLabel and ManagedByValue mark the guardrail objects and
	// ModelDeployment children the operator manages. Never set on pod templates.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "tenantai"

	// OperatorNamespace is where the operator runs and keeps canonical keys.
	OperatorNamespace = "tenantai-system"
	// OperatorServiceAccount is the operator's identity; admission policies
	// trust exactly this user name.
	OperatorServiceAccount = "tenantai-controller-manager"
	// OperatorUsername is the API server user name of OperatorServiceAccount.
	OperatorUsername = "system:serviceaccount:" + OperatorNamespace + ":" + OperatorServiceAccount
	// BreakGlassGroup lets cluster admins edit guardrails in an emergency.
	BreakGlassGroup = "tenantai:break-glass"

	// FieldManager is the single server-side apply field manager of the operator.
	FieldManager = "tenantai"

	// TenantUIDAnnotation records, on a tenant namespace and on a tenant's
	// canonical data key, the UID of the Tenant object that holds it. A Tenant
	// takes back only what its own UID holds: a new Tenant that reuses a
	// deleted one's name gets none of its namespaces or keys by name alone.
	TenantUIDAnnotation = "platform.tenantai.io/tenant-uid"
	// AdoptFromAnnotation, on a Tenant, lists (comma-separated) the UIDs of
	// earlier Tenants of the same name whose retained namespaces and data key
	// it may take over: the explicit adoption a cluster admin makes, e.g.
	// after re-applying a Tenant deleted by accident. AdoptLegacy stands for
	// what a release before UIDs were recorded retained.
	AdoptFromAnnotation = "platform.tenantai.io/adopt-from"
	AdoptLegacy         = "legacy"
	// AcceptKeyLossAnnotation, on a Tenant whose data key is lost (KeyMissing),
	// set to the lost active version (e.g. "v4"), lets the operator start a
	// new key at the next version: the admin's explicit acknowledgement that
	// data encrypted with the lost versions cannot be decrypted.
	AcceptKeyLossAnnotation = "platform.tenantai.io/accept-key-loss"
	// AccessRevokedAnnotation ("true") marks a released namespace from which
	// every tenant grant was taken away under this release's rules (bindings,
	// token Secrets, network paths). A retained namespace without it (an
	// earlier release retained it, or its Tenant vanished without releasing
	// it) is released again.
	AccessRevokedAnnotation = "platform.tenantai.io/access-revoked"
	// SurviveReleaseLabel ("true"), on a RoleBinding in a tenant namespace,
	// keeps it when the namespace is released (Retain, or its entry removed):
	// every other RoleBinding goes. Only the operator and break-glass may set it
	// (admission policy tenantai-reserved-names). For GitOps, monitoring and
	// backup bindings.
	SurviveReleaseLabel = "platform.tenantai.io/survive-release"
)

// Condition types shared by every kind (kstatus: Ready, Reconciling, Stalled).
const (
	// ConditionReady is always present: True once the object is fully reconciled
	// and healthy.
	ConditionReady = "Ready"
	// ConditionReconciling is present only while True: work is in progress.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is present only while True: the operator cannot make
	// progress until the spec or the cluster changes.
	ConditionStalled = "Stalled"
)

// Condition reasons shared by every kind.
const (
	ReasonReconciled  = "Reconciled"
	ReasonProgressing = "Progressing"
	ReasonInvalidSpec = "InvalidSpec"
	ReasonError       = "ReconcileError"
)

// CommonStatus is embedded in the status of every kind: the kstatus contract.
type CommonStatus struct {
	// observedGeneration is the metadata.generation that the operator last
	// fully reconciled; -1 until the operator has seen the object.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are the latest observations of the object's state. Ready is
	// always present; Reconciling and Stalled only while True.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// GetConditions returns the conditions of a status.
func (s *CommonStatus) GetConditions() []metav1.Condition { return s.Conditions }

// SetConditions replaces the conditions of a status.
func (s *CommonStatus) SetConditions(c []metav1.Condition) { s.Conditions = c }

// ObjectWithConditions is implemented by every tenantai kind, so that condition
// and status logic is written once.
// +kubebuilder:object:generate=false
type ObjectWithConditions interface {
	GetGeneration() int64
	GetStatus() *CommonStatus
}

// LabelValue is a Kubernetes label value.
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$')",message="label values must be at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
type LabelValue string
