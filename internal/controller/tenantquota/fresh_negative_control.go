//go:build tenantai_negative_control

package tenantquota

// freshDecisions is false in the negative-control build only: see fresh.go.
// Never built into the operator.
const freshDecisions = false
