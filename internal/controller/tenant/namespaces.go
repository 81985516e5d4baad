package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
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

func desiredNamespace(t *platformv1alpha1.Tenant, entry platformv1alpha1.TenantNamespace, costTeamLabel string) *corev1.Namespace {
	labels := namespaceLabels(t, entry)
	if costTeamLabel != "" {
		labels[costTeamLabel] = t.Name
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   t.NamespaceName(entry.Name),
		Labels: labels,
		Annotations: map[string]string{
			labelsAnnotation:                     labelKeys(labels),
			platformv1alpha1.TenantUIDAnnotation: string(t.UID),
		},
	}}
}

// labelsAnnotation records on a tenant namespace the keys of the labels the
// operator set, so that a label it no longer sets (an entry's label removed
// from the Tenant) is removed, while labels others added stay. The
// namespace is created with Create, not apply, so server-side apply's own
// record of ownership cannot be relied on for this.
const labelsAnnotation = "platform.tenantai.io/labels"

func labelKeys(labels map[string]string) string {
	return strings.Join(slices.Sorted(maps.Keys(labels)), ",")
}

// metadataPatch returns the JSON merge patch that gives current the labels
// and annotations of desired and removes the labels the operator set before
// (labelsAnnotation) and no longer sets; nil when there is nothing to change.
func metadataPatch(current, desired *corev1.Namespace) ([]byte, error) {
	labels := map[string]any{}
	for k, v := range desired.Labels {
		if got, ok := current.Labels[k]; !ok || got != v {
			labels[k] = v
		}
	}
	if recorded := current.Annotations[labelsAnnotation]; recorded != "" {
		for _, k := range strings.Split(recorded, ",") {
			if _, keep := desired.Labels[k]; !keep {
				if _, present := current.Labels[k]; present {
					labels[k] = nil
				}
			}
		}
	}
	annotations := map[string]any{}
	for k, v := range desired.Annotations {
		if got, ok := current.Annotations[k]; !ok || got != v {
			annotations[k] = v
		}
	}
	if len(labels) == 0 && len(annotations) == 0 {
		return nil, nil
	}
	meta := map[string]any{}
	if len(labels) > 0 {
		meta["labels"] = labels
	}
	if len(annotations) > 0 {
		meta["annotations"] = annotations
	}
	return json.Marshal(map[string]any{"metadata": meta})
}

// reconcileNamespaces creates each declared namespace with all its labels in
// one request and repairs the labels of the tenant's namespaces. A declared
// namespace that exists is taken only if this Tenant holds it (its UID), or
// through an explicit adoption of an earlier Tenant's (see ownership.go).
func (r *Reconciler) reconcileNamespaces(ctx context.Context, s *scope) error {
	for _, entry := range s.tenant.Spec.Namespaces {
		desired := desiredNamespace(s.tenant, entry, r.CostTeamLabel)
		if err := r.reconcileNamespace(ctx, s, desired); err != nil {
			s.fail(desired.Name, err)
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
	if holder := namespaceHolder(current, s.tenant); holder != "" {
		if !s.adoptable(holder) {
			return r.requireAdoption(ctx, s, current, holder)
		}
		r.event(s, corev1.EventTypeNormal, platformv1alpha1.EventReasonNamespaceAdopted, platformv1alpha1.EventActionAdopt,
			"namespace %s, retained by an earlier Tenant %s (UID %s), adopted through %s", current.Name, s.tenant.Name, holder,
			platformv1alpha1.AdoptFromAnnotation)
	}
	if orphaned(current) {
		// Retained earlier and declared again by the same Tenant (or adopted).
		if err := r.setOrphaned(ctx, current, false); err != nil {
			return err
		}
	}
	patch, err := metadataPatch(current, desired)
	if err != nil {
		return err
	}
	if patch != nil {
		if err := r.Client.Patch(ctx, current, client.RawPatch(types.MergePatchType, patch),
			client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
			return fmt.Errorf("labelling namespace %s: %w", desired.Name, err)
		}
		r.recordDrift(s, "Namespace", desired.Name, "labels")
	}
	s.owned = append(s.owned, desired.Name)
	s.namespaceUIDs[desired.Name] = current.UID
	return nil
}

// requireAdoption handles a declared namespace held by an earlier Tenant of
// the same name: nothing of it is given to this Tenant. If the earlier
// Tenant never released it (its finalizer was removed by hand), it is
// released now, so that no principal of that Tenant keeps access.
func (r *Reconciler) requireAdoption(ctx context.Context, s *scope, ns *corev1.Namespace, holder string) error {
	s.adoptionRequired = append(s.adoptionRequired, heldNamespace{name: ns.Name, uid: holder})
	if orphaned(ns) {
		return nil
	}
	return r.retain(ctx, s, ns)
}

// createNamespace creates desired; when the name is taken it reads the
// namespace from the API server (the cache holds only managed ones) so that
// the caller can take it only if it carries this tenant's label and UID — a
// restart between create and the next reconcile — and report a conflict
// otherwise.
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
	case len(s.adoptionRequired) > 0:
		conditions.False(t, platformv1alpha1.TenantConditionNamespacesReady, platformv1alpha1.TenantReasonAdoptionRequired,
			adoptionMessage(t, s.adoptionRequired))
	case len(s.terminating) > 0:
		conditions.False(t, platformv1alpha1.TenantConditionNamespacesReady, platformv1alpha1.TenantReasonNamespaceTerminating,
			fmt.Sprintf("namespace %s is being deleted; it is recreated once it is gone", strings.Join(s.terminating, ", ")))
		s.requeue(terminatingRecheck)
	default:
		conditions.True(t, platformv1alpha1.TenantConditionNamespacesReady, platformv1alpha1.ReasonReconciled,
			fmt.Sprintf("%d namespaces ready", len(s.owned)))
	}
}

// adoptionMessage says which namespaces an earlier Tenant retained and the
// one command that gives them to this Tenant.
func adoptionMessage(t *platformv1alpha1.Tenant, held []heldNamespace) string {
	names := make([]string, 0, len(held))
	uids := []string{}
	for _, h := range held {
		names = append(names, h.name)
		if !slices.Contains(uids, h.uid) {
			uids = append(uids, h.uid)
		}
	}
	return fmt.Sprintf("namespace %s was retained by an earlier Tenant %s (UID %s) and is not given to this one by name: "+
		"if it is the same team's, adopt it with: kubectl annotate tenant %s %s=%s; otherwise rename the entry",
		strings.Join(names, ", "), t.Name, strings.Join(uids, ", "), t.Name, platformv1alpha1.AdoptFromAnnotation, strings.Join(uids, ","))
}
