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
	// PolicyBatchPriorityClass and its priority and preemption policy are
	// injected into pods of a Job that name no class (present only when the
	// Tenant sets scheduling.batchPriorityClass and the class exists).
	PolicyBatchPriorityClass    = "batchPriorityClass"
	PolicyBatchPriority         = "batchPriority"
	PolicyBatchPreemptionPolicy = "batchPreemptionPolicy"
	// PolicyServiceTypes are the Service types beyond ClusterIP the tenant is
	// granted (NodePort, LoadBalancer).
	PolicyServiceTypes = "serviceTypes"
	// PolicyStorageClasses are the StorageClasses its claims may name.
	PolicyStorageClasses = "storageClasses"
	// PolicyAccelerators are the accelerator resources (nvidia.com/gpu, ...)
	// its TenantQuota names: the only ones its pods may request.
	PolicyAccelerators = "accelerators"
	// PolicyAcceleratorPrefixes are the resource-name prefixes that make a
	// resource an accelerator (nvidia.com/, amd.com/, ...), from the
	// operator's configuration.
	PolicyAcceleratorPrefixes = "acceleratorPrefixes"
	// PolicyServiceAccounts are the service accounts of this namespace named
	// as the tenant's owners or members: no pod may run as one.
	PolicyServiceAccounts = "serviceAccounts"
)

// DefaultAcceleratorPrefixes are the resource-name prefixes of accelerators
// when the operator is not configured otherwise: NVIDIA (GPUs and MIG
// slices), AMD, Intel, Habana, AWS Neuron, Google TPU and Xilinx devices.
var DefaultAcceleratorPrefixes = []string{
	"nvidia.com/", "amd.com/", "gpu.intel.com/", "habana.ai/", "aws.amazon.com/neuron", "google.com/tpu", "xilinx.com/",
}
