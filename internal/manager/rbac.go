package manager

// RBAC the manager itself needs, beside what each controller declares:
// Events for every kind it reconciles, and Leases for leader election.
//
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=tenantai-system,resources=leases,verbs=get;list;watch;create;update;patch;delete
