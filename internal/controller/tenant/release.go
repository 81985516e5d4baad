package tenant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// Releasing a namespace. Retain keeps its data and guardrails and takes away
// every tenant grant: all RoleBindings but those a cluster admin marked to
// survive release (SurviveReleaseLabel; GitOps, monitoring, backup), recorded
// first in a ConfigMap in the operator namespace; every token Secret; and all
// network paths (a deny-all policy stays, every allow policy goes). Running
// workloads keep running: stopping them could lose data, and with no grant
// and no network path left, the tenant can neither reach nor change them.
// Delete deletes the namespace and everything in it.
//
// deletionPolicy applies only to the namespaces the Tenant holds when an
// entry is removed or the Tenant is deleted: a namespace retained earlier
// stays retained whatever the policy becomes (an admin deletes it by hand or
// adopts it).

// releaseRemovedNamespaces applies the deletion policy to the namespaces this
// Tenant holds and no longer declares, and releases (Retain) any namespace
// of its name still held by an earlier Tenant. It acts only on namespaces it
// sees carrying the tenant's label, so an empty list never deletes anything.
func (r *Reconciler) releaseRemovedNamespaces(ctx context.Context, s *scope) error {
	declared := map[string]bool{}
	for _, e := range s.tenant.Spec.Namespaces {
		declared[s.tenant.NamespaceName(e.Name)] = true
	}
	namespaces, err := r.tenantNamespaces(ctx, s.tenant.Name)
	if err != nil {
		return err
	}
	for i := range namespaces {
		ns := &namespaces[i]
		if declared[ns.Name] {
			continue
		}
		if err := r.releaseNamespace(ctx, s, ns, s.tenant.Spec.DeletionPolicy); err != nil {
			s.fail(ns.Name, err)
		}
	}
	return nil
}

// releaseNamespace releases one namespace of the tenant's name that is not
// (or no longer) declared: under policy if this Tenant holds it, with Retain
// if an earlier Tenant still holds it, not at all if it was retained before.
func (r *Reconciler) releaseNamespace(ctx context.Context, s *scope, ns *corev1.Namespace, policy platformv1alpha1.DeletionPolicy) error {
	switch {
	case !ns.DeletionTimestamp.IsZero():
		if namespaceHolder(ns, s.tenant) == "" && !orphaned(ns) {
			s.deleting = append(s.deleting, ns.Name)
		}
		return nil
	case orphaned(ns) && accessRevoked(ns):
		return nil // retained earlier: kept until an admin deletes or adopts it
	case orphaned(ns):
		// Retained by a release that left planted bindings, token Secrets and
		// allow policies behind: take them away now, and keep it retained.
		return r.retain(ctx, s, ns)
	case namespaceHolder(ns, s.tenant) != "":
		return r.retain(ctx, s, ns) // its Tenant is gone without releasing it
	case policy == platformv1alpha1.DeletionDelete:
		return r.deleteNamespace(ctx, s, ns)
	default:
		return r.retain(ctx, s, ns)
	}
}

// releaseAbandoned runs for a tenant name whose Tenant is gone: a namespace
// of that name that still grants access (its Tenant was deleted with its
// finalizer removed by hand, or an earlier release retained it without
// taking everything away) is released now, with Retain. Every start of the
// operator sees every labelled namespace, so none is missed. The Tenant's
// absence is confirmed with the API server first: a cache is not trusted to
// take access away.
func (r *Reconciler) releaseAbandoned(ctx context.Context, name string) error {
	namespaces, err := r.tenantNamespaces(ctx, name)
	if err != nil {
		return err
	}
	var pending []*corev1.Namespace
	for i := range namespaces {
		if ns := &namespaces[i]; ns.DeletionTimestamp.IsZero() && !accessRevoked(ns) {
			pending = append(pending, ns)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: name}, &platformv1alpha1.Tenant{}); !apierrors.IsNotFound(err) {
		return err // it exists after all (nil): its own reconcile decides
	}
	s := newScope(&platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}}, r.Clock.Now())
	var errs []error
	for _, ns := range pending {
		if err := r.retain(ctx, s, ns); err != nil {
			errs = append(errs, fmt.Errorf("releasing namespace %s of the deleted Tenant %s: %w", ns.Name, name, err))
		}
	}
	return errors.Join(errs...)
}

// reconcileDelete runs when the Tenant is being deleted: the namespaces it
// holds are released according to the deletion policy (those retained
// earlier stay as they are), its data key is archived (Retain) or destroyed
// (Delete), and the finalizer goes. It never waits for namespaces to finish
// terminating.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *scope) error {
	t := s.tenant
	if !controllerutil.ContainsFinalizer(t, Finalizer) {
		s.deleted = true
		return nil
	}
	namespaces, err := r.tenantNamespaces(ctx, t.Name)
	if err != nil {
		return err
	}
	for i := range namespaces {
		if err := r.releaseNamespace(ctx, s, &namespaces[i], t.Spec.DeletionPolicy); err != nil {
			s.fail(namespaces[i].Name, err)
		}
	}
	if err := s.failures(); err != nil {
		return err
	}
	if err := r.releaseKey(ctx, s); err != nil {
		return err
	}
	patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(t, Finalizer)
	if err := r.Client.Patch(ctx, t, patch); client.IgnoreNotFound(err) != nil {
		return err
	}
	s.deleted = true
	return nil
}

func (r *Reconciler) tenantNamespaces(ctx context.Context, tenant string) ([]corev1.Namespace, error) {
	list := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: tenant}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// deleteNamespace deletes a namespace and everything in it (deletionPolicy
// Delete), with a Warning Event: a renamed entry under Delete deletes the old
// namespace at once.
func (r *Reconciler) deleteNamespace(ctx context.Context, s *scope, ns *corev1.Namespace) error {
	err := r.Client.Delete(ctx, ns, client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: ptr.To(ns.UID)})
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting namespace %s: %w", ns.Name, err)
	}
	s.deleting = append(s.deleting, ns.Name)
	r.event(s, corev1.EventTypeWarning, platformv1alpha1.EventReasonNamespaceDeleted, platformv1alpha1.EventActionDelete,
		"deleting namespace %s and everything in it: it is no longer declared and deletionPolicy is Delete", ns.Name)
	return nil
}

// retain releases a namespace and keeps it: no tenant access remains (see
// the top of this file). Each step is idempotent and the orphaned label comes
// last, so a failed release is retried whole.
func (r *Reconciler) retain(ctx context.Context, s *scope, ns *corev1.Namespace) error {
	removed, err := r.revokeAllBindings(ctx, s.tenant.Name, ns.Name)
	if err != nil {
		return err
	}
	tokens, err := r.removeTokenSecrets(ctx, s, ns.Name, true)
	if err != nil {
		return err
	}
	if err := r.denyAllTraffic(ctx, s, ns); err != nil {
		return err
	}
	if err := r.setOrphaned(ctx, ns, true); err != nil {
		return err
	}
	r.event(s, corev1.EventTypeNormal, platformv1alpha1.EventReasonNamespaceReleased, platformv1alpha1.EventActionRelease,
		"namespace %s released and kept (Retain): %d RoleBindings removed (recorded in ConfigMap %s/%s), %d token Secrets removed, all traffic denied",
		ns.Name, removed, platformv1alpha1.OperatorNamespace, naming.ReleasedBindingsConfigMap(ns.Name), tokens)
	return nil
}

// revokeAllBindings removes every RoleBinding in a released namespace but
// those marked to survive release, the tenant's own included (read from the
// API server: the cache holds only the operator's). What it removes is
// recorded first, so that an admin can restore a binding by hand.
func (r *Reconciler) revokeAllBindings(ctx context.Context, tenant, namespace string) (int, error) {
	list := &rbacv1.RoleBindingList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return 0, fmt.Errorf("listing RoleBindings: %w", err)
	}
	var doomed []*rbacv1.RoleBinding
	for i := range list.Items {
		if list.Items[i].Labels[platformv1alpha1.SurviveReleaseLabel] != "true" {
			doomed = append(doomed, &list.Items[i])
		}
	}
	if len(doomed) == 0 {
		return 0, nil
	}
	if err := r.recordReleasedBindings(ctx, tenant, namespace, doomed); err != nil {
		return 0, err
	}
	var errs []error
	for _, rb := range doomed {
		err := r.Client.Delete(ctx, rb, client.Preconditions{UID: ptr.To(rb.UID)})
		if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("revoking RoleBinding %s: %w", rb.Name, err))
		}
	}
	return len(doomed), errors.Join(errs...)
}

// recordReleasedBindings keeps the RoleBindings about to be removed from a
// released namespace in the ConfigMap tenantai-released-<namespace> of the
// operator namespace, one key per binding (its name, or name.uid when an
// earlier release recorded another binding of that name).
func (r *Reconciler) recordReleasedBindings(ctx context.Context, tenant, namespace string, bindings []*rbacv1.RoleBinding) error {
	key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.ReleasedBindingsConfigMap(namespace)}
	cm := &corev1.ConfigMap{}
	err := r.APIReader.Get(ctx, key, cm)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	if !exists {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace,
			Labels: naming.TenantLabels(tenant), Annotations: map[string]string{releasedNamespaceAnnotation: namespace}}}
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	for _, rb := range bindings {
		doc, err := bindingRecord(rb)
		if err != nil {
			return err
		}
		name := rb.Name + ".yaml"
		if prev, taken := cm.Data[name]; taken && prev != doc {
			name = rb.Name + "." + string(rb.UID) + ".yaml"
		}
		cm.Data[name] = doc
	}
	if exists {
		err = r.Client.Update(ctx, cm, client.FieldOwner(platformv1alpha1.FieldManager))
	} else {
		err = r.Client.Create(ctx, cm, client.FieldOwner(platformv1alpha1.FieldManager))
	}
	if err != nil {
		return fmt.Errorf("recording the released RoleBindings in %s: %w", key, err)
	}
	return nil
}

// releasedNamespaceAnnotation names, on a record of released RoleBindings,
// the namespace they were removed from.
const releasedNamespaceAnnotation = "platform.tenantai.io/released-namespace"

// bindingRecord renders a RoleBinding as it can be applied again.
func bindingRecord(rb *rbacv1.RoleBinding) (string, error) {
	out := rbacv1.RoleBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: rb.Name, Namespace: rb.Namespace, Labels: rb.Labels,
			Annotations: rb.Annotations},
		RoleRef:  rb.RoleRef,
		Subjects: rb.Subjects,
	}
	doc, err := yaml.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("recording RoleBinding %s: %w", rb.Name, err)
	}
	return string(doc), nil
}

// denyAllTraffic leaves a released namespace with the deny-all policy only:
// whatever isolation the Tenant had (None included), no traffic reaches its
// pods or leaves them.
func (r *Reconciler) denyAllTraffic(ctx context.Context, s *scope, ns *corev1.Namespace) error {
	tenant := ns.Labels[platformv1alpha1.TenantLabel]
	deny := netpol(tenant, ns.Name, naming.NetworkPolicyDefaultDeny, networkingv1.NetworkPolicySpec{
		PodSelector: metav1.LabelSelector{},
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
	})
	if err := r.ensure(ctx, s, deny); err != nil {
		return err
	}
	return r.deleteStaleNetworkPolicies(ctx, ns.Name, tenant, map[string]bool{deny.Name: true})
}

// accessRevoked reports whether a namespace was released by this release's
// rules (no tenant access left, see the top of this file).
func accessRevoked(ns *corev1.Namespace) bool {
	return ns.Annotations[platformv1alpha1.AccessRevokedAnnotation] == "true"
}

// setOrphaned adds or removes the orphaned label (and the access-revoked
// mark) with an explicit merge patch, whoever set them.
func (r *Reconciler) setOrphaned(ctx context.Context, ns *corev1.Namespace, orphaned bool) error {
	value := "null"
	if orphaned {
		value = `"true"`
	}
	patch := client.RawPatch(types.MergePatchType,
		fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s},"annotations":{%q:%s}}}`,
			platformv1alpha1.OrphanedLabel, value, platformv1alpha1.AccessRevokedAnnotation, value))
	if err := r.Client.Patch(ctx, ns, patch, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return fmt.Errorf("labelling namespace %s orphaned=%t: %w", ns.Name, orphaned, err)
	}
	return nil
}

// deletingMessage says which namespaces are being deleted and why.
func deletingMessage(s *scope) string {
	names := slices.Clone(s.deleting)
	slices.Sort(names)
	return fmt.Sprintf("deleting namespace %s and everything in it: no longer declared, and deletionPolicy is Delete",
		strings.Join(names, ", "))
}
