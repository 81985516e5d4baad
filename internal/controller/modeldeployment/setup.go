package modeldeployment

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// Setup registers the ModelDeployment controller with a manager.
func Setup(mgr ctrl.Manager, maxConcurrent int) error {
	r := &Reconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("tenantai-modeldeployment"),
	}
	return r.SetupWithManager(mgr, maxConcurrent)
}
