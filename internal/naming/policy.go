package naming

// PolicyConfigMap is the ConfigMap in each tenant namespace that publishes the
// tenant's scheduling and exposure policy to the admission policies, which
// find it through their bindings' paramRef in the request's own namespace.
// Only the operator writes it (tenantai-protect-managed-objects).
const PolicyConfigMap = "tenantai-policy"

// Keys of PolicyConfigMap. ConfigMap keys cannot hold "/", so node selector
// entries and tolerations are indexed: nodeSelector.<i>.key/.value,
// toleration.<i>.key/.operator/.value/.effect. Lists are comma-separated.
const (
	PolicyPriorityClasses         = "priorityClasses"
	PolicyRuntimeClasses          = "runtimeClasses"
	PolicyHostnames               = "hostnames"
	PolicyDefaultPriorityClass    = "defaultPriorityClass"
	PolicyDefaultPriority         = "defaultPriority"
	PolicyDefaultPreemptionPolicy = "defaultPreemptionPolicy"
)
