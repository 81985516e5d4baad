//go:build !tenantai_negative_control

package tenant

// orderedPhases is the order that makes a tenant safe at every instant: a
// namespace is created with its labels in one request, then gets its
// LimitRange, NetworkPolicies, data key and published scheduling/exposure
// policy, and only then RoleBindings for the
// tenant's principals. Namespaces no longer declared are released last.
func (r *Reconciler) orderedPhases() []phase {
	return []phase{
		r.reconcileNamespaces,
		r.reconcileLimitRanges,
		r.reconcileNetworkPolicies,
		r.reconcileKeys,
		r.reconcilePolicy,
		r.reconcileRBAC,
		r.reconcileRemovedNamespaces,
	}
}
