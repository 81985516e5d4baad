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
	// EventReasonKeyRecovered (Warning): the canonical data key was missing
	// or lacked versions, and was rebuilt from the copies in the tenant's
	// namespaces (or from an adopted Tenant's archived key). Normal when an
	// earlier Tenant's canonical key is adopted as it is (adopt-from).
	EventReasonKeyRecovered = "KeyRecovered"
	// EventReasonKeyArchived (Normal): a canonical data key that belongs to
	// another (deleted) Tenant of the same name was kept under
	// tenantai-key-<tenant>-<uid>, for an adoption.
	EventReasonKeyArchived = "KeyArchived"
	// EventReasonNamespaceReleased (Normal): a namespace was released
	// (Retain): every RoleBinding not marked to survive removed and recorded,
	// token Secrets removed, network denied, labelled orphaned.
	EventReasonNamespaceReleased = "NamespaceReleased"
	// EventReasonNamespaceDeleted (Warning): a namespace and everything in it
	// is being deleted (deletionPolicy Delete).
	EventReasonNamespaceDeleted = "NamespaceDeleted"
	// EventReasonNamespaceAdopted (Normal): a namespace retained by an earlier
	// Tenant was taken over through the adopt-from annotation.
	EventReasonNamespaceAdopted = "NamespaceAdopted"
	// EventReasonTokenSecretRemoved (Warning): a Secret of type
	// kubernetes.io/service-account-token in a tenant namespace was deleted.
	EventReasonTokenSecretRemoved = "TokenSecretRemoved"
	// EventReasonReservedNameReplaced (Warning): an object squatting a name the
	// operator manages (a tenantai-* RoleBinding it did not create) was
	// deleted.
	EventReasonReservedNameReplaced = "ReservedNameReplaced"
)

// Event actions: what the operator was doing when it recorded an Event.
const (
	EventActionReconcile = "Reconcile"
	EventActionRepair    = "Repair"
	EventActionRotate    = "Rotate"
	EventActionRelease   = "Release"
	EventActionDelete    = "Delete"
	EventActionAdopt     = "Adopt"
)
