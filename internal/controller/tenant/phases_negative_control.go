//go:build tenantai_negative_control

package tenant

import "context"

// orderedPhases, in the negative-control build only, binds principals before
// the guardrails exist: TestOrderingInvariant must fail against it (see
// `make test-negative-controls`). Never built into the operator.
func (r *Reconciler) orderedPhases() []phase {
	return []phase{
		r.reconcileNamespaces,
		r.revokeAccess,
		r.reconcileRBACUnconditionally,
		r.reconcileLimitRanges,
		r.reconcileNetworkPolicies,
		r.reconcileKeys,
		r.reconcilePolicy,
		r.grantAccess, // keeps the conditions the test waits for
	}
}

// reconcileRBACUnconditionally binds without waiting for the quota either.
func (r *Reconciler) reconcileRBACUnconditionally(ctx context.Context, s *scope) error {
	for _, ns := range s.owned {
		for _, rb := range desiredRoleBindings(s.tenant, ns) {
			if err := r.ensure(ctx, s, rb); err != nil {
				return err
			}
		}
	}
	return nil
}
