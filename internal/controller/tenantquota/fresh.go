//go:build !tenantai_negative_control

package tenantquota

// freshDecisions: shrink and grow decisions rest on the ResourceQuotas as the
// API server has them (see freshen). The negative-control build decides from
// the cache (the old behaviour): TestGrowsAreDecidedFromCurrentState must
// fail against it.
const freshDecisions = true
