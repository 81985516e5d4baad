package modeldeployment

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// Setup registers the ModelDeployment controller with a manager. A non-empty
// costTeamLabel is also set to the tenant's name on the pod templates (see
// Reconciler.CostTeamLabel); acceleratorPrefixes override
// naming.DefaultAcceleratorPrefixes.
func Setup(mgr ctrl.Manager, maxConcurrent int, costTeamLabel string, acceleratorPrefixes []string) error {
	r := &Reconciler{
		Client:              mgr.GetClient(),
		APIReader:           mgr.GetAPIReader(),
		Recorder:            mgr.GetEventRecorder("tenantai-modeldeployment"),
		CostTeamLabel:       costTeamLabel,
		AcceleratorPrefixes: acceleratorPrefixes,
	}
	return r.SetupWithManager(mgr, maxConcurrent)
}
