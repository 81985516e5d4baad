package tenant

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
)

// Pod Security labels. The version is "latest": a hostile tenant should meet
// the newest checks of the control plane it runs on, not those of the release
// the Tenant was written for.
const (
	psaEnforce        = "pod-security.kubernetes.io/enforce"
	psaEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	psaAudit          = "pod-security.kubernetes.io/audit"
	psaAuditVersion   = "pod-security.kubernetes.io/audit-version"
	psaWarn           = "pod-security.kubernetes.io/warn"
	psaWarnVersion    = "pod-security.kubernetes.io/warn-version"
	psaVersion        = "latest"
)

// namespaceLabels are all the labels a tenant namespace carries, set in the
// one request that creates it.
func namespaceLabels(t *platformv1alpha1.Tenant, entry platformv1alpha1.TenantNamespace) map[string]string {
	level := string(t.Spec.PodSecurity)
	if level == "" {
		level = string(platformv1alpha1.PodSecurityRestricted)
	}
	labels := map[string]string{}
	for k, v := range entry.Labels {
		labels[k] = string(v)
	}
	// The operator's labels win over the entry's (CEL refuses reserved keys,
	// but the operator does not rely on it).
	maps.Copy(labels, naming.TenantLabels(t.Name))
	maps.Copy(labels, map[string]string{
		psaEnforce: level, psaEnforceVersion: psaVersion,
		psaAudit: level, psaAuditVersion: psaVersion,
		psaWarn: level, psaWarnVersion: psaVersion,
	})
	return labels
}

func desiredNamespace(t *platformv1alpha1.Tenant, entry platformv1alpha1.TenantNamespace) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   t.NamespaceName(entry.Name),
		Labels: namespaceLabels(t, entry),
	}}
}

// reconcileNamespaces creates each declared namespace with all its labels in
// one request, adopts one only if it already carries this tenant's label, and
// repairs the labels of the tenant's namespaces.
func (r *Reconciler) reconcileNamespaces(ctx context.Context, s *scope) error {
	for _, entry := range s.tenant.Spec.Namespaces {
		desired := desiredNamespace(s.tenant, entry)
		if r.CostTeamLabel != "" {
			desired.Labels[r.CostTeamLabel] = s.tenant.Name
		}
		if err := r.reconcileNamespace(ctx, s, desired); err != nil {
			return err
		}
	}
	r.setNamespacesCondition(s)
	return nil
}

func (r *Reconciler) reconcileNamespace(ctx context.Context, s *scope, desired *corev1.Namespace) error {
	current := &corev1.Namespace{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), current)
	if apierrors.IsNotFound(err) {
		// Not in the cache (which holds managed namespaces only): create it,
		// or find out whose it is.
		current, err = r.createNamespace(ctx, desired)
	}
	if err != nil {
		return err
	}
	if owner := current.Labels[platformv1alpha1.TenantLabel]; owner != s.tenant.Name {
		s.conflicts = append(s.conflicts, desired.Name)
		return nil
	}
	if !current.DeletionTimestamp.IsZero() {
		s.terminating = append(s.terminating, desired.Name)
		return nil
	}
	if _, orphaned := current.Labels[platformv1alpha1.OrphanedLabel]; orphaned {
		// Retained earlier and declared again: the tenant takes it back.
		if err := r.setOrphaned(ctx, current, false); err != nil {
			return err
		}
	}
	if !apply.Matches(current, desired) {
		if err := r.applier().Apply(ctx, desired); err != nil {
			return err
		}
		r.recordDrift(s, "Namespace", desired.Name, "labels")
	}
	s.owned = append(s.owned, desired.Name)
	return nil
}

// createNamespace creates desired; when the name is taken it reads the
// namespace from the API server (the cache holds only managed ones) so that
// the caller can adopt it only if it carries this tenant's label — a restart
// between create and the next reconcile — and report a conflict otherwise.
func (r *Reconciler) createNamespace(ctx context.Context, desired *corev1.Namespace) (*corev1.Namespace, error) {
	ns := desired.DeepCopy()
	err := r.Client.Create(ctx, ns, client.FieldOwner(platformv1alpha1.FieldManager))
	if err == nil {
		return ns, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %w", desired.Name, err)
	}
	existing := &corev1.Namespace{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(desired), existing); err != nil {
		return nil, fmt.Errorf("reading existing namespace %s: %w", desired.Name, err)
	}
	return existing, nil
}

func (r *Reconciler) setNamespacesCondition(s *scope) {
	t := s.tenant
	s.tenant.Status.Namespaces = s.owned
	switch {
	case len(s.conflicts) > 0:
		msg := fmt.Sprintf("namespace %s already exists and does not belong to tenant %s; it is never adopted: remove it or rename the entry",
			strings.Join(s.conflicts, ", "), t.Name)
		conditions.False(t, platformv1alpha1.TenantConditionNamespacesReady, platformv1alpha1.TenantReasonNamespaceConflict, msg)
		s.requeue(conflictRecheck)
	case len(s.terminating) > 0:
		conditions.False(t, platformv1alpha1.TenantConditionNamespacesReady, platformv1alpha1.TenantReasonNamespaceTerminating,
			fmt.Sprintf("namespace %s is being deleted; it is recreated once it is gone", strings.Join(s.terminating, ", ")))
		s.requeue(terminatingRecheck)
	default:
		conditions.True(t, platformv1alpha1.TenantConditionNamespacesReady, platformv1alpha1.ReasonReconciled,
			fmt.Sprintf("%d namespaces ready", len(s.owned)))
	}
}
