// Package naming holds the names and labels of the objects tenantai creates,
// shared by the controllers that create them, the controllers that wait for
// them, the admission policies' tests and the documentation.
package naming

import (
	"strings"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Objects in each tenant namespace.
const (
	LimitRange    = "tenantai-defaults"
	ResourceQuota = "tenantai-quota"
	// BatchResourceQuota caps the pods of the tenant's batch PriorityClass at
	// the namespace's quota minus its models' floor (the serving reservation).
	BatchResourceQuota = "tenantai-batch"
	DataKeySecret      = "tenantai-data-key"

	NetworkPolicyDefaultDeny     = "tenantai-default-deny"
	NetworkPolicyAllowSameTenant = "tenantai-allow-same-tenant"
	NetworkPolicyAllowDNS        = "tenantai-allow-dns"
	NetworkPolicyAllowIngress    = "tenantai-allow-ingress"
	NetworkPolicyAllowMonitoring = "tenantai-allow-monitoring"
	NetworkPolicyAllowEgress     = "tenantai-allow-egress"
)

// TenantRolePrefix starts the name of each tenant ClusterRole and of the
// RoleBinding that binds it in a tenant namespace.
const TenantRolePrefix = "tenantai-tenant-"

// TenantRole is the ClusterRole (and RoleBinding) name of a tenant role.
func TenantRole(role platformv1alpha1.TenantRole) string { return TenantRolePrefix + string(role) }

// IsTenantRole reports whether a ClusterRole name is one of the tenant roles.
func IsTenantRole(name string) bool { return strings.HasPrefix(name, TenantRolePrefix) }

// CanonicalKeySecret is the name, in the operator namespace, of the Secret that
// holds a tenant's data key; tenant namespaces get copies.
func CanonicalKeySecret(tenant string) string { return "tenantai-key-" + tenant }

// ArchivedKeySecret is the name, in the operator namespace, under which the
// canonical data key of a deleted (Retain) Tenant is kept for an adoption:
// the canonical name is then free for a new Tenant of the same name.
func ArchivedKeySecret(tenant, uid string) string { return "tenantai-key-" + tenant + "-" + uid }

// ReleasedBindingsConfigMap is the name, in the operator namespace, of the
// record of the RoleBindings removed when a namespace was released.
func ReleasedBindingsConfigMap(namespace string) string { return "tenantai-released-" + namespace }

// ReservedPrefix starts every name the operator gives an object in a tenant
// namespace; only the operator and break-glass may create such names there.
const ReservedPrefix = "tenantai-"

// TenantLabels are the labels on every object the operator creates for a
// tenant (guardrails and children, never pod templates).
func TenantLabels(tenant string) map[string]string {
	return map[string]string{
		platformv1alpha1.TenantLabel:    tenant,
		platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue,
	}
}

// Children of a ModelDeployment, all in its namespace. The stable Deployment,
// the Service, the HPA and the PodDisruptionBudget are named like the
// ModelDeployment itself.

// ModelCanaryDeployment is the name of a ModelDeployment's canary Deployment.
func ModelCanaryDeployment(model string) string { return model + "-canary" }

// ModelServiceAccount is the name of the ServiceAccount a ModelDeployment's
// pods run as.
func ModelServiceAccount(model string) string { return model + "-model" }

// ModelLabels are the labels on every child of a ModelDeployment (not on its
// pod templates, which never carry the managed-by label).
func ModelLabels(tenant, model string) map[string]string {
	l := TenantLabels(tenant)
	l[platformv1alpha1.ModelLabel] = model
	return l
}

// DataKeyMountPath is where model pods find their tenant's data key Secret,
// mounted read-only.
const DataKeyMountPath = "/var/run/tenantai/key"
