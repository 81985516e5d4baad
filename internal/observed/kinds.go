package observed

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Guardrails are the kinds the operator observes instead of caching: every
// kind it writes in tenant namespaces and compares exactly, except the
// ResourceQuota, whose status the TenantQuota controller reads. Secrets in
// the operator's namespace (canonical data keys, whose material the
// operator copies) stay in the manager's cache.
func Guardrails() []Kind {
	core := func(cs kubernetes.Interface) rest.Interface { return cs.CoreV1().RESTClient() }
	return []Kind{
		{Object: &networkingv1.NetworkPolicy{}, Resource: "networkpolicies",
			RESTClient: func(cs kubernetes.Interface) rest.Interface { return cs.NetworkingV1().RESTClient() }},
		{Object: &corev1.LimitRange{}, Resource: "limitranges", RESTClient: core},
		{Object: &corev1.ConfigMap{}, Resource: "configmaps", RESTClient: core},
		{Object: &corev1.Secret{}, Resource: "secrets", RESTClient: core, ExceptNamespace: platformv1alpha1.OperatorNamespace},
		{Object: &rbacv1.RoleBinding{}, Resource: "rolebindings",
			RESTClient: func(cs kubernetes.Interface) rest.Interface { return cs.RbacV1().RESTClient() }},
	}
}
