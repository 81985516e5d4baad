//go:build !tenantai_negative_control

package quota

// raiseToUse, in the negative-control build only, raises a namespace whose
// use exceeds its quota to that use when the tenant is over its total (the
// old behaviour): TestQuotaIsNeverRaisedToAnOvershoot must fail against it.
const raiseToUse = false
