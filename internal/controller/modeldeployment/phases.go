package modeldeployment

// orderedPhases is the order of one reconcile: find the tenant, render and
// claim every child before writing any (a name conflict stops everything),
// then the ServiceAccount the pods run as, the Deployments, the Service, the
// HPA and the PodDisruptionBudget, then remove what is no longer wanted, and
// last read back what the Deployments and the HPA report.
func (r *Reconciler) orderedPhases() []phase {
	return []phase{
		r.reconcileTenant,
		r.renderChildren,
		r.claimChildren,
		r.reconcileServiceAccount,
		r.reconcileDeployments,
		r.reconcileService,
		r.reconcileAutoscaler,
		r.reconcileDisruptionBudget,
		r.deleteStaleChildren,
		r.observe,
	}
}
