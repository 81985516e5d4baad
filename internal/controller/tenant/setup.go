package tenant

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// Setup registers the Tenant controller with a manager. A non-empty
// costTeamLabel is also set to the tenant's name on its namespaces (see
// Reconciler.CostTeamLabel).
func Setup(mgr ctrl.Manager, maxConcurrent int, costTeamLabel string) error {
	r := &Reconciler{
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("tenantai-tenant"),
		CostTeamLabel: costTeamLabel,
	}
	return r.SetupWithManager(mgr, maxConcurrent)
}
