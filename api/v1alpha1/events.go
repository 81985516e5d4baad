package v1alpha1

// Event reasons and actions the operator records, beside the condition reasons
// it uses as Warning Event reasons (a stall such as NamespaceConflict, a
// refusal such as QuotaExceeded, ReconcileError). They are part of the API:
// users alert and filter on them (kubectl events --for, field selectors), so
// they never change. docs/metrics.md lists every Event with its type, object
// and moment.
const (
	// EventReasonReady (Normal): Ready turned True.
	EventReasonReady = "Ready"
	// EventReasonDriftRepaired (Warning): an object the operator manages was
	// changed or deleted by someone else and was restored.
	EventReasonDriftRepaired = "DriftRepaired"
	// EventReasonKeyRotated (Normal): a tenant's data key got a new version.
	EventReasonKeyRotated = "KeyRotated"
)

// Event actions: what the operator was doing when it recorded an Event.
const (
	EventActionReconcile = "Reconcile"
	EventActionRepair    = "Repair"
	EventActionRotate    = "Rotate"
)
