package tenant

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Which Tenant holds a namespace (or a canonical data key) is decided by the
// UID the object records, never by name alone: a Tenant deleted with Retain
// leaves its namespaces and key behind, and a new Tenant that reuses the name
// for another team must not read them. Objects made by a release that did not
// record UIDs are attributed by what that release did:
//
//   - a legacy namespace still held (not orphaned) belongs to the live Tenant
//     of its name: that release orphaned every namespace of a Tenant it
//     deleted, so nothing else can hold it;
//   - a legacy orphan or key created at or after the Tenant was is the
//     Tenant's own (it created it, then released the entry);
//   - a legacy orphan or key older than the Tenant was left by an earlier
//     Tenant of the name, and is adopted only explicitly (adopt-from: legacy).

// heldBy returns the UID of the Tenant that holds obj ("" for tenant t
// itself) as recorded, or as attributed for objects without a record.
func heldBy(obj metav1.Object, orphaned bool, t *platformv1alpha1.Tenant) string {
	uid := obj.GetAnnotations()[platformv1alpha1.TenantUIDAnnotation]
	switch {
	case uid == string(t.UID):
		return ""
	case uid != "":
		return uid
	case !orphaned:
		return ""
	case !createdBefore(obj, t):
		return ""
	default:
		return platformv1alpha1.AdoptLegacy
	}
}

// orphaned reports whether a namespace was released by its Tenant.
func orphaned(ns *corev1.Namespace) bool {
	return ns.Labels[platformv1alpha1.OrphanedLabel] == "true"
}

// namespaceHolder is heldBy for a namespace.
func namespaceHolder(ns *corev1.Namespace, t *platformv1alpha1.Tenant) string {
	return heldBy(ns, orphaned(ns), t)
}

// createdBefore reports whether obj was created before the Tenant (at
// second granularity, as the API server records it).
func createdBefore(obj metav1.Object, t *platformv1alpha1.Tenant) bool {
	created := obj.GetCreationTimestamp()
	return created.Before(&t.CreationTimestamp)
}
