package tenant

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// subjectsByRole groups owners (as admins) and members by role, in spec
// order, without duplicates.
func subjectsByRole(t *platformv1alpha1.Tenant) map[platformv1alpha1.TenantRole][]rbacv1.Subject {
	out := map[platformv1alpha1.TenantRole][]rbacv1.Subject{}
	seen := map[platformv1alpha1.TenantRole]map[rbacv1.Subject]bool{}
	add := func(role platformv1alpha1.TenantRole, s platformv1alpha1.Subject) {
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
	return out
}

// desiredRoleBindings binds each tenant role that has subjects, one
// RoleBinding per role, named after the role.
func desiredRoleBindings(t *platformv1alpha1.Tenant, namespace string) []*rbacv1.RoleBinding {
	byRole := subjectsByRole(t)
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

// reconcileRBAC binds the tenant's principals, last, in namespaces whose
// guardrails are in place. With quotaPolicy Required a namespace is bound only
// once its ResourceQuota exists; without it, bindings are withdrawn.
func (r *Reconciler) reconcileRBAC(ctx context.Context, s *scope) error {
	t := s.tenant
	for _, ns := range s.owned {
		var desired []*rbacv1.RoleBinding
		ready, err := r.quotaReady(ctx, t, ns)
		if err != nil {
			return err
		}
		if ready {
			desired = desiredRoleBindings(t, ns)
		} else {
			s.waitingForQuota = append(s.waitingForQuota, ns)
		}
		keep := map[string]bool{}
		for _, rb := range desired {
			keep[rb.Name] = true
			if err := r.ensure(ctx, s, rb); err != nil {
				return err
			}
		}
		if err := r.deleteStale(ctx, ns, t.Name, &rbacv1.RoleBindingList{}, keep); err != nil {
			return err
		}
	}
	setRBACCondition(s)
	return nil
}

// quotaReady reports whether a namespace may be bound: always with quotaPolicy
// Optional, else once the tenant's ResourceQuota exists there.
func (r *Reconciler) quotaReady(ctx context.Context, t *platformv1alpha1.Tenant, ns string) (bool, error) {
	if t.Spec.QuotaPolicy == platformv1alpha1.QuotaOptional {
		return true, nil
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
		conditions.False(t, platformv1alpha1.TenantConditionRBACReady, platformv1alpha1.TenantReasonWaitingForQuota,
			fmt.Sprintf("waiting for TenantQuota %s to create ResourceQuota %s in %s: with quotaPolicy Required no principal is bound in a namespace without its quota",
				t.Name, naming.ResourceQuota, strings.Join(s.waitingForQuota, ", ")))
		return
	}
	conditions.True(t, platformv1alpha1.TenantConditionRBACReady, platformv1alpha1.ReasonReconciled,
		fmt.Sprintf("principals bound in %d namespaces", len(s.owned)))
}
