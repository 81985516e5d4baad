//go:build !tenantai_negative_control

package tenant

// orderedPhases is the order that makes a tenant safe at every instant: a
// namespace is created with its labels in one request; access that must go
// is revoked (namespaces no longer declared are released, stale bindings and
// subjects removed) before anything is granted; then each namespace gets its
// LimitRange, NetworkPolicies, data key and published policy, and only then
// RoleBindings for the tenant's principals.
func (r *Reconciler) orderedPhases() []phase {
	return []phase{
		r.reconcileNamespaces,
		r.revokeAccess,
		r.reconcileLimitRanges,
		r.reconcileNetworkPolicies,
		r.reconcileKeys,
		r.reconcilePolicy,
		r.grantAccess,
	}
}
