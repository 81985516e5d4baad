package tenant

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
)

var roles = []platformv1alpha1.TenantRole{platformv1alpha1.RoleAdmin, platformv1alpha1.RoleDeveloper, platformv1alpha1.RoleViewer}

func rbacSubject(s platformv1alpha1.Subject) rbacv1.Subject {
	if s.Kind == platformv1alpha1.SubjectServiceAccount {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: s.Name, Namespace: s.Namespace}
	}
	return rbacv1.Subject{Kind: string(s.Kind), APIGroup: rbacv1.GroupName, Name: s.Name}
}

// forbiddenSubject reports a User or Group the operator never binds: the
// system: names stand for everyone (system:authenticated), anyone
// (system:anonymous), all service accounts, the nodes or cluster admins. The
// schema refuses them, but validation ratcheting lets a Tenant created before
// that rule keep one through unrelated updates.
func forbiddenSubject(s platformv1alpha1.Subject) bool {
	return s.Kind != platformv1alpha1.SubjectServiceAccount && strings.HasPrefix(s.Name, "system:")
}

// subjectsByRole groups owners (as admins) and members by role, in spec
// order, without duplicates; forbidden subjects are left out and returned.
func subjectsByRole(t *platformv1alpha1.Tenant) (map[platformv1alpha1.TenantRole][]rbacv1.Subject, []string) {
	out := map[platformv1alpha1.TenantRole][]rbacv1.Subject{}
	seen := map[platformv1alpha1.TenantRole]map[rbacv1.Subject]bool{}
	var forbidden []string
	add := func(role platformv1alpha1.TenantRole, s platformv1alpha1.Subject) {
		if forbiddenSubject(s) {
			forbidden = append(forbidden, fmt.Sprintf("%s %s", s.Kind, s.Name))
			return
		}
		if seen[role] == nil {
			seen[role] = map[rbacv1.Subject]bool{}
		}
		subj := rbacSubject(s)
		if !seen[role][subj] {
			seen[role][subj] = true
			out[role] = append(out[role], subj)
		}
	}
	for _, o := range t.Spec.Owners {
		add(platformv1alpha1.RoleAdmin, o)
	}
	for _, m := range t.Spec.Members {
		add(m.Role, m.Subject)
	}
	return out, forbidden
}

// desiredRoleBindings binds each tenant role that has subjects, one
// RoleBinding per role, named after the role.
func desiredRoleBindings(t *platformv1alpha1.Tenant, namespace string) []*rbacv1.RoleBinding {
	byRole, _ := subjectsByRole(t)
	var out []*rbacv1.RoleBinding
	for _, role := range roles {
		subjects := byRole[role]
		if len(subjects) == 0 {
			continue
		}
		name := naming.TenantRole(role)
		out = append(out, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: naming.TenantLabels(t.Name)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   subjects,
		})
	}
	return out
}

// revokeAccess runs before any guardrail or grant: it releases the
// namespaces the Tenant no longer declares, and in every namespace it holds
// removes what must not be there (token Secrets, an object squatting a
// binding's name, bindings and subjects no longer declared, every binding
// while quotaPolicy Required waits for the quota). A removed owner loses
// access everywhere before anyone gains any, and one namespace's failure
// (recorded in the scope) stops no other.
func (r *Reconciler) revokeAccess(ctx context.Context, s *scope) error {
	_, s.forbiddenSubjects = subjectsByRole(s.tenant)
	if err := r.releaseRemovedNamespaces(ctx, s); err != nil {
		return err
	}
	for _, ns := range s.active() {
		if err := r.revokeInNamespace(ctx, s, ns); err != nil {
			s.fail(ns, err)
		}
	}
	return nil
}

func (r *Reconciler) revokeInNamespace(ctx context.Context, s *scope, ns string) error {
	if err := r.sweepOnce(ctx, s, ns); err != nil {
		return err
	}
	if _, err := r.removeTokenSecrets(ctx, s, ns, false); err != nil {
		return err
	}
	ready, err := r.quotaReady(ctx, s, ns)
	if err != nil {
		return err
	}
	if ready {
		s.bindings[ns] = desiredRoleBindings(s.tenant, ns)
	} else {
		s.waitingForQuota = append(s.waitingForQuota, ns)
	}
	desired := map[string]*rbacv1.RoleBinding{}
	for _, rb := range s.bindings[ns] {
		desired[rb.Name] = rb
	}
	names, err := r.guardrailNames(ctx, &rbacv1.RoleBinding{}, &rbacv1.RoleBindingList{}, ns, s.tenant.Name)
	if err != nil {
		return err
	}
	for _, name := range names {
		want := desired[name]
		if want != nil {
			// The common case, and no read: the binding grants exactly
			// what is wanted.
			holds, err := r.applier().Holds(ctx, want)
			if err != nil {
				return err
			}
			if holds {
				continue
			}
		}
		current := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := r.readGuardrail(ctx, current); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("reading RoleBinding %s/%s: %w", ns, name, err)
		}
		if err := r.narrow(ctx, s, current, want); err != nil {
			return err
		}
	}
	return nil
}

// narrow takes from a current binding what the desired one (nil: none) no
// longer grants: the whole binding, or the subjects removed. Subjects added
// wait for grantAccess, after the guardrails.
func (r *Reconciler) narrow(ctx context.Context, s *scope, current, desired *rbacv1.RoleBinding) error {
	if desired == nil || !equality.Semantic.DeepEqual(current.RoleRef, desired.RoleRef) {
		err := r.Client.Delete(ctx, current, client.Preconditions{UID: ptr.To(current.UID)})
		if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("revoking RoleBinding %s: %w", current.Name, err)
		}
		return nil
	}
	kept := make([]rbacv1.Subject, 0, len(desired.Subjects))
	for _, subj := range desired.Subjects {
		if slices.Contains(current.Subjects, subj) {
			kept = append(kept, subj)
		}
	}
	if len(kept) == len(current.Subjects) {
		return nil // nothing to take away
	}
	if len(kept) == 0 {
		return r.narrow(ctx, s, current, nil)
	}
	narrowed := desired.DeepCopy()
	narrowed.Subjects = kept
	return r.ensure(ctx, s, narrowed)
}

// grantAccess binds the tenant's principals, last, in the namespaces whose
// guardrails are in place in this pass (and whose quota is, under
// quotaPolicy Required).
func (r *Reconciler) grantAccess(ctx context.Context, s *scope) error {
	for _, ns := range s.grantable() {
		for _, rb := range s.bindings[ns] {
			if err := r.ensureBinding(ctx, s, rb); err != nil {
				s.fail(ns, err)
				break
			}
		}
	}
	setRBACCondition(s)
	return nil
}

// ensureBinding applies a tenant RoleBinding. An object that squats its name
// with another roleRef (immutable, so the apply fails) is replaced: deleted,
// by UID, and created again.
func (r *Reconciler) ensureBinding(ctx context.Context, s *scope, rb *rbacv1.RoleBinding) error {
	err := r.ensure(ctx, s, rb)
	if !apierrors.IsInvalid(err) {
		return err
	}
	current := &rbacv1.RoleBinding{}
	if getErr := r.APIReader.Get(ctx, client.ObjectKeyFromObject(rb), current); getErr != nil {
		return fmt.Errorf("%w (and reading it: %v)", err, getErr)
	}
	if equality.Semantic.DeepEqual(current.RoleRef, rb.RoleRef) {
		return err
	}
	if err := r.replaceSquatter(ctx, s, current); err != nil {
		return err
	}
	return r.ensure(ctx, s, rb)
}

// replaceSquatter deletes an object that holds a name the operator manages.
func (r *Reconciler) replaceSquatter(ctx context.Context, s *scope, rb *rbacv1.RoleBinding) error {
	err := r.Client.Delete(ctx, rb, client.Preconditions{UID: ptr.To(rb.UID)})
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting RoleBinding %s/%s, which squats a name tenantai manages: %w", rb.Namespace, rb.Name, err)
	}
	r.event(s, corev1.EventTypeWarning, platformv1alpha1.EventReasonReservedNameReplaced, platformv1alpha1.EventActionRepair,
		"deleted RoleBinding %s/%s (to %s %s): it took a name tenantai manages without being tenantai's",
		rb.Namespace, rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name)
	return nil
}

// sweepOnce removes, once per namespace per operator process, RoleBindings
// that squat a reserved name (tenantai-*) without being the operator's:
// made before the admission policy that refuses them (an upgrade) or by a
// cluster admin. Later ones are refused by that policy; the operator's own
// are in its cache.
func (r *Reconciler) sweepOnce(ctx context.Context, s *scope, ns string) error {
	uid := s.namespaceUIDs[ns]
	if _, done := r.swept.Load(uid); done {
		return nil
	}
	list := &rbacv1.RoleBindingList{}
	if err := r.APIReader.List(ctx, list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing RoleBindings: %w", err)
	}
	for i := range list.Items {
		rb := &list.Items[i]
		if strings.HasPrefix(rb.Name, naming.ReservedPrefix) && rb.Labels[platformv1alpha1.ManagedByLabel] != platformv1alpha1.ManagedByValue {
			if err := r.replaceSquatter(ctx, s, rb); err != nil {
				return err
			}
		}
	}
	r.swept.Store(uid, true)
	return nil
}

// quotaReady reports whether a namespace may be bound: always with quotaPolicy
// Optional, else once the tenant's ResourceQuota exists there and its
// TenantQuota is not being deleted (deleting it revokes access first).
func (r *Reconciler) quotaReady(ctx context.Context, s *scope, ns string) (bool, error) {
	t := s.tenant
	if t.Spec.QuotaPolicy == platformv1alpha1.QuotaOptional {
		return true, nil
	}
	if s.quota != nil && !s.quota.DeletionTimestamp.IsZero() {
		return false, nil
	}
	rq := &corev1.ResourceQuota{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ResourceQuota}, rq)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return rq.Labels[platformv1alpha1.TenantLabel] == t.Name, nil
}

func setRBACCondition(s *scope) {
	t := s.tenant
	if len(s.waitingForQuota) > 0 {
		reason := fmt.Sprintf("waiting for TenantQuota %s to create ResourceQuota %s in %s", t.Name, naming.ResourceQuota, strings.Join(s.waitingForQuota, ", "))
		if s.quota != nil && !s.quota.DeletionTimestamp.IsZero() {
			reason = fmt.Sprintf("TenantQuota %s is being deleted: access is revoked before its quotas go", t.Name)
		}
		conditions.False(t, platformv1alpha1.TenantConditionRBACReady, platformv1alpha1.TenantReasonWaitingForQuota,
			reason+": with quotaPolicy Required no principal is bound in a namespace without its quota")
		return
	}
	conditions.True(t, platformv1alpha1.TenantConditionRBACReady, platformv1alpha1.ReasonReconciled,
		fmt.Sprintf("principals bound in %d namespaces", len(s.owned)))
}
