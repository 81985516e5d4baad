//go:build tenantai_negative_control

package quota

// raiseToUse is true in the negative-control build only: see overshoot.go.
// Never built into the operator.
const raiseToUse = true
