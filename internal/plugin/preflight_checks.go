package plugin

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// The checks of `kubectl tenantai preflight`. Each one mirrors a rule of the
// upgrade, and its source of truth is that rule: the admission policies in
// config/policies (tenantai-credentials, -service-types, -storage, -pods,
// -reserved-names), the CEL rules of the CRDs in api/v1alpha1, and what the
// operator repairs or decides (internal/controller/tenant: token Secrets,
// squatted bindings, ownership of orphaned namespaces by UID). The texts tell
// what happens to the object and what to do; docs/kubectl-plugin.md lists them.

// The check names, in the order the output sorts them.
const (
	checkPolicyConfigMap       = "policy-configmap"
	checkTokenSecret           = "token-secret"
	checkSystemSubject         = "system-subject"
	checkServiceAccountSubject = "serviceaccount-subject"
	checkExternalName          = "service-externalname"
	checkServiceType           = "service-type"
	checkStorageClass          = "storage-class"
	checkPodAccelerator        = "pod-accelerator"
	checkPodToleration         = "pod-toleration"
	checkPodGPUEnv             = "pod-gpu-env"
	checkPodServiceAccount     = "pod-serviceaccount"
	checkPodToken              = "pod-token"
	checkModelGPUEnv           = "model-gpu-env"
	checkModelToleration       = "model-toleration"
	checkReservedRoleBinding   = "reserved-rolebinding"
	checkReleaseBinding        = "release-rolebinding"
	checkOrphanedNamespace     = "orphaned-namespace"
	checkQuotaServiceGrant     = "quota-service-grant"
	checkQuotaCountDefault     = "quota-count-default"
)

// preflightChecks are the checks in output order, each with the resources it
// must list: when one is unreadable, the check is skipped rather than run on
// half the picture. "configmaps" stands for the published grants.
var preflightChecks = []struct {
	name  string
	needs []string
}{
	{checkPolicyConfigMap, []string{"namespaces", "configmaps"}},
	{checkTokenSecret, []string{"namespaces", "secrets"}},
	{checkSystemSubject, []string{"tenants"}},
	{checkServiceAccountSubject, []string{"tenants"}},
	{checkExternalName, []string{"namespaces", "services"}},
	{checkServiceType, []string{"namespaces", "services", "configmaps"}},
	{checkStorageClass, []string{"namespaces", "persistentvolumeclaims", "configmaps"}},
	{checkPodAccelerator, []string{"namespaces", "pods", "configmaps"}},
	{checkPodToleration, []string{"namespaces", "pods", "configmaps"}},
	{checkPodGPUEnv, []string{"namespaces", "pods"}},
	{checkPodServiceAccount, []string{"namespaces", "pods", "configmaps"}},
	{checkPodToken, []string{"namespaces", "pods"}},
	{checkModelGPUEnv, []string{"modeldeployments"}},
	{checkModelToleration, []string{"modeldeployments"}},
	{checkReservedRoleBinding, []string{"namespaces", "rolebindings"}},
	{checkReleaseBinding, []string{"namespaces", "rolebindings", "tenants"}},
	{checkOrphanedNamespace, []string{"namespaces", "tenants"}},
	{checkQuotaServiceGrant, []string{"tenants", "tenantquotas"}},
	{checkQuotaCountDefault, []string{"namespaces", "tenantquotas", "jobs", "cronjobs", "statefulsets"}},
}

// checkIndex is a check's position in the output order.
func checkIndex(name string) int {
	for i, c := range preflightChecks {
		if c.name == name {
			return i
		}
	}
	return len(preflightChecks)
}

// checksNeeding are the checks that need a resource, in output order.
func checksNeeding(resource string) []string {
	var out []string
	for _, c := range preflightChecks {
		if slices.Contains(c.needs, resource) {
			out = append(out, c.name)
		}
	}
	return out
}

// grants are what the operator publishes for a tenant namespace in its
// policy ConfigMap, read as the admission policies read them.
type grants struct {
	serviceTypes        []string
	storageClasses      []string
	accelerators        []string
	acceleratorPrefixes []string
	serviceAccounts     []string
}

// grantKeys are the keys of the policy ConfigMap the checks read. This
// release's operator always writes every one of them (empty when nothing is
// granted); a ConfigMap without them was written by an earlier release.
var grantKeys = []string{
	naming.PolicyServiceTypes, naming.PolicyStorageClasses, naming.PolicyAccelerators,
	naming.PolicyAcceleratorPrefixes, naming.PolicyServiceAccounts,
}

// tenantNamespace is a namespace labelled for a tenant, which the tenant
// admission policies select.
type tenantNamespace struct {
	name   string
	tenant string
	// grants are nil when the namespace has no usable policy ConfigMap: the
	// checks that need them are skipped there.
	grants *grants
}

// findings runs every check on the snapshot (preflightOutput drops those of
// checks whose reads failed).
func (s *snapshot) findings() []PreflightFinding {
	tenants := map[string]*platformv1alpha1.Tenant{}
	for i := range s.tenants.Items {
		tenants[s.tenants.Items[i].Name] = &s.tenants.Items[i]
	}
	policies := map[string]*corev1.ConfigMap{}
	for i := range s.policies.Items {
		policies[s.policies.Items[i].Namespace] = &s.policies.Items[i]
	}
	var out []PreflightFinding
	namespaces := map[string]tenantNamespace{}
	for i := range s.namespaces.Items {
		ns := &s.namespaces.Items[i]
		tenant, labelled := ns.Labels[platformv1alpha1.TenantLabel]
		// A terminating namespace takes its objects with it.
		if !labelled || ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		g, f := policyFinding(ns.Name, tenant, policies[ns.Name])
		namespaces[ns.Name] = tenantNamespace{name: ns.Name, tenant: tenant, grants: g}
		out = appendFinding(out, f)
		out = appendFinding(out, orphanFinding(ns, tenants[tenant]))
	}
	out = append(out, s.namespacedFindings(namespaces)...)
	for i := range s.tenants.Items {
		out = append(out, subjectFindings(&s.tenants.Items[i])...)
	}
	for i := range s.models.Items {
		out = append(out, modelFindings(&s.models.Items[i])...)
	}
	counts := s.objectCounts(namespaces)
	for i := range s.quotas.Items {
		tq := &s.quotas.Items[i]
		out = append(out, quotaGrantFindings(tenants[tq.Spec.TenantRef.Name], tq)...)
		out = append(out, quotaCountFindings(tq, counts[tq.Spec.TenantRef.Name])...)
	}
	return out
}

// namespacedFindings checks the objects of tenant namespaces; the rules
// that flag them apply there only.
func (s *snapshot) namespacedFindings(namespaces map[string]tenantNamespace) []PreflightFinding {
	var out []PreflightFinding
	for i := range s.tokenSecrets.Items {
		if _, ok := namespaces[s.tokenSecrets.Items[i].Namespace]; ok {
			out = append(out, tokenSecretFinding(&s.tokenSecrets.Items[i]))
		}
	}
	for i := range s.services.Items {
		if tn, ok := namespaces[s.services.Items[i].Namespace]; ok {
			out = appendFinding(out, serviceFinding(&s.services.Items[i], tn))
		}
	}
	for i := range s.claims.Items {
		if tn, ok := namespaces[s.claims.Items[i].Namespace]; ok {
			out = appendFinding(out, claimFinding(&s.claims.Items[i], tn))
		}
	}
	var pods []PreflightFinding
	for i := range s.pods.Items {
		if tn, ok := namespaces[s.pods.Items[i].Namespace]; ok {
			pods = append(pods, podFindings(&s.pods.Items[i], tn)...)
		}
	}
	out = append(out, groupPodFindings(pods)...)
	releasing := s.toBeReleased()
	for i := range s.roleBindings.Items {
		rb := &s.roleBindings.Items[i]
		if _, ok := namespaces[rb.Namespace]; ok {
			out = appendFinding(out, roleBindingFinding(rb))
		}
		if releasing[rb.Namespace] {
			out = appendFinding(out, releaseBindingFinding(rb))
		}
	}
	return out
}

// toBeReleased are the namespaces the operator will release (again) under
// this release's rules: retained ones that lack the access-revoked mark (an
// earlier release retained them and left planted bindings, token Secrets and
// allow policies), and those whose Tenant is gone without releasing them.
func (s *snapshot) toBeReleased() map[string]bool {
	tenants := map[string]bool{}
	for i := range s.tenants.Items {
		tenants[s.tenants.Items[i].Name] = true
	}
	out := map[string]bool{}
	for i := range s.namespaces.Items {
		ns := &s.namespaces.Items[i]
		tenant, labelled := ns.Labels[platformv1alpha1.TenantLabel]
		if !labelled || ns.Status.Phase == corev1.NamespaceTerminating ||
			ns.Annotations[platformv1alpha1.AccessRevokedAnnotation] == "true" {
			continue
		}
		if ns.Labels[platformv1alpha1.OrphanedLabel] == "true" || !tenants[tenant] {
			out[ns.Name] = true
		}
	}
	return out
}

// releaseBindingFinding: releasing a namespace removes every RoleBinding not
// marked to survive release (recorded first in the operator namespace).
func releaseBindingFinding(rb *rbacv1.RoleBinding) *PreflightFinding {
	if rb.Labels[platformv1alpha1.SurviveReleaseLabel] == "true" {
		return nil
	}
	return &PreflightFinding{
		Check: checkReleaseBinding, Namespace: rb.Namespace, Kind: "RoleBinding", Name: rb.Name,
		Finding: fmt.Sprintf("binds %s %s in a namespace the operator releases under this release's rules (no tenant access is left): "+
			"it is removed, after being recorded in %s/%s", rb.RoleRef.Kind, rb.RoleRef.Name,
			platformv1alpha1.OperatorNamespace, naming.ReleasedBindingsConfigMap(rb.Namespace)),
		Action: fmt.Sprintf("if it must stay (GitOps, monitoring, backup), label it %s=true as break-glass before the upgrade",
			platformv1alpha1.SurviveReleaseLabel),
	}
}

func appendFinding(out []PreflightFinding, f *PreflightFinding) []PreflightFinding {
	if f == nil {
		return out
	}
	return append(out, *f)
}

// policyFinding reads the grants published in a tenant namespace. Without
// them (no ConfigMap, or one from an earlier release) the admission policies
// refuse differently than the checks could tell, so those checks are skipped
// there and the finding says so.
func policyFinding(namespace, tenant string, cm *corev1.ConfigMap) (*grants, *PreflightFinding) {
	f := &PreflightFinding{Check: checkPolicyConfigMap, Namespace: namespace, Kind: "ConfigMap", Name: naming.PolicyConfigMap}
	if cm == nil {
		f.Finding = fmt.Sprintf("missing: every pod and Service created or changed here is refused until the operator publishes "+
			"tenant %s's grants; the checks that need them were skipped here", tenant)
		f.Action = fmt.Sprintf("make sure Tenant %[1]s exists and is Ready (kubectl get tenant %[1]s): the operator publishes the ConfigMap "+
			"in every namespace the Tenant holds; then run preflight again", tenant)
		return nil, f
	}
	var missing []string
	for _, key := range grantKeys {
		if _, ok := cm.Data[key]; !ok {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		f.Finding = fmt.Sprintf("published by an earlier tenantai (no %s): the checks that need the grants were skipped here",
			strings.Join(missing, ", "))
		f.Action = "run this release's operator (with the guardrails in Warn mode), which publishes every grant; then run preflight again"
		return nil, f
	}
	return &grants{
		serviceTypes:        splitGrant(cm.Data[naming.PolicyServiceTypes]),
		storageClasses:      splitGrant(cm.Data[naming.PolicyStorageClasses]),
		accelerators:        splitGrant(cm.Data[naming.PolicyAccelerators]),
		acceleratorPrefixes: splitGrant(cm.Data[naming.PolicyAcceleratorPrefixes]),
		serviceAccounts:     splitGrant(cm.Data[naming.PolicyServiceAccounts]),
	}, nil
}

// splitGrant splits a comma-separated grant as the policies do: an empty
// value grants nothing.
func splitGrant(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// grantedCell lists a grant, or says none.
func grantedCell(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// tokenSecretFinding: tenantai-credentials refuses Secrets of type
// kubernetes.io/service-account-token in tenant namespaces (their token never
// expires) and the operator deletes those that exist. Only Secrets of that
// type are listed, metadata only.
func tokenSecretFinding(s *metav1.PartialObjectMetadata) PreflightFinding {
	account := s.Annotations[corev1.ServiceAccountNameKey]
	if account == "" {
		account = "(none named)"
	}
	return PreflightFinding{
		Check: checkTokenSecret, Namespace: s.Namespace, Kind: "Secret", Name: s.Name,
		Finding: fmt.Sprintf("holds a token of service account %s that never expires: the operator deletes it "+
			"(in Warn mode: reports it) and new ones are refused", account),
		Action: fmt.Sprintf("give its users tokens that expire (TokenRequest: kubectl create token %s -n %s), then delete the Secret",
			account, s.Namespace),
	}
}

// subjectFindings: the CRD refuses User and Group names starting with
// system: (the operator never binds them), and ServiceAccounts outside the
// tenant's own namespaces (a rule on the whole Tenant, so every change to it
// is refused until it holds).
func subjectFindings(t *platformv1alpha1.Tenant) []PreflightFinding {
	var out []PreflightFinding
	check := func(field string, s platformv1alpha1.Subject) {
		f := PreflightFinding{Kind: "Tenant", Name: t.Name}
		switch {
		case s.Kind != platformv1alpha1.SubjectServiceAccount && strings.HasPrefix(s.Name, "system:"):
			f.Check = checkSystemSubject
			f.Finding = fmt.Sprintf("%s names %s %s: the operator never binds it, and changes to %s are refused while it is there",
				field, s.Kind, s.Name, field)
			f.Action = fmt.Sprintf("remove %s %s from %s; name the tenant's own users or groups", s.Kind, s.Name, field)
		case s.Kind == platformv1alpha1.SubjectServiceAccount && !declaresNamespace(t, s.Namespace):
			f.Check = checkServiceAccountSubject
			f.Finding = fmt.Sprintf("%s names ServiceAccount %s/%s, outside the tenant's namespaces (%s): "+
				"every change to this Tenant is refused until it is fixed", field, s.Namespace, s.Name, tenantNamespacesCell(t))
			f.Action = fmt.Sprintf("name a ServiceAccount that lives in one of the tenant's namespaces (%s-<entry>), or remove %s/%s from %s",
				t.Name, s.Namespace, s.Name, field)
		default:
			return
		}
		out = append(out, f)
	}
	for _, o := range t.Spec.Owners {
		check("spec.owners", o)
	}
	for _, m := range t.Spec.Members {
		check("spec.members", m.Subject)
	}
	return out
}

func declaresNamespace(t *platformv1alpha1.Tenant, namespace string) bool {
	for _, e := range t.Spec.Namespaces {
		if t.NamespaceName(e.Name) == namespace {
			return true
		}
	}
	return false
}

func tenantNamespacesCell(t *platformv1alpha1.Tenant) string {
	if len(t.Spec.Namespaces) == 0 {
		return "it declares none"
	}
	names := make([]string, 0, len(t.Spec.Namespaces))
	for _, e := range t.Spec.Namespaces {
		names = append(names, t.NamespaceName(e.Name))
	}
	return strings.Join(names, ", ")
}

// serviceFinding: tenantai-service-types refuses ExternalName on every create
// and update, and NodePort or LoadBalancer unless granted; a Service that
// already has its type keeps it.
func serviceFinding(svc *corev1.Service, tn tenantNamespace) *PreflightFinding {
	typ := svc.Spec.Type
	f := &PreflightFinding{Namespace: svc.Namespace, Kind: "Service", Name: svc.Name}
	switch {
	case typ == corev1.ServiceTypeExternalName:
		f.Check = checkExternalName
		f.Finding = "type ExternalName: refused in tenant namespaces on every create and update " +
			"(it aliases any DNS name, other tenants' Services and kubernetes.default included)"
		f.Action = "replace it with a ClusterIP Service; as it is, it can no longer be changed"
	case (typ == corev1.ServiceTypeNodePort || typ == corev1.ServiceTypeLoadBalancer) &&
		tn.grants != nil && !slices.Contains(tn.grants.serviceTypes, string(typ)):
		f.Check = checkServiceType
		f.Finding = fmt.Sprintf("type %s is not granted to tenant %s (granted: %s): this Service keeps its type, "+
			"but new %s Services are refused", typ, tn.tenant, grantedCell(tn.grants.serviceTypes), typ)
		f.Action = fmt.Sprintf("a cluster admin adds %s to Tenant %s's spec.exposure.serviceTypes, or change the Service to ClusterIP",
			typ, tn.tenant)
	default:
		return nil
	}
	return f
}

// claimFinding: tenantai-storage refuses, on create, a claim whose class the
// tenant is not allowed (or that names none); existing claims keep working.
func claimFinding(pvc *corev1.PersistentVolumeClaim, tn tenantNamespace) *PreflightFinding {
	if tn.grants == nil {
		return nil
	}
	class := ptr.Deref(pvc.Spec.StorageClassName, "")
	if class != "" && slices.Contains(tn.grants.storageClasses, class) {
		return nil
	}
	allowed := grantedCell(tn.grants.storageClasses)
	f := &PreflightFinding{Check: checkStorageClass, Namespace: pvc.Namespace, Kind: "PersistentVolumeClaim", Name: pvc.Name}
	if class == "" {
		f.Finding = fmt.Sprintf("names no StorageClass (allowed for tenant %s: %s): this claim keeps working, "+
			"but new claims must name an allowed class", tn.tenant, allowed)
		f.Action = fmt.Sprintf("new claims set spec.storageClassName to a class in Tenant %s's spec.storage.classes", tn.tenant)
		return f
	}
	f.Finding = fmt.Sprintf("StorageClass %s is not allowed for tenant %s (allowed: %s): this claim keeps working, "+
		"but new claims of that class are refused", class, tn.tenant, allowed)
	f.Action = fmt.Sprintf("a cluster admin lists %s in Tenant %s's spec.storage.classes, or new claims use an allowed class", class, tn.tenant)
	return f
}

// roleBindingFinding: tenantai-reserved-names refuses tenantai-* names in
// tenant namespaces, and the operator deletes a RoleBinding that took one
// without being its own (made before the policy, or by a cluster admin).
func roleBindingFinding(rb *rbacv1.RoleBinding) *PreflightFinding {
	if !strings.HasPrefix(rb.Name, naming.ReservedPrefix) ||
		rb.Labels[platformv1alpha1.ManagedByLabel] == platformv1alpha1.ManagedByValue {
		return nil
	}
	return &PreflightFinding{
		Check: checkReservedRoleBinding, Namespace: rb.Namespace, Kind: "RoleBinding", Name: rb.Name,
		Finding: fmt.Sprintf("binds %s %s under a name reserved for tenantai (%s*) without %s=%s: the operator deletes it, "+
			"and new ones are refused", rb.RoleRef.Kind, rb.RoleRef.Name, naming.ReservedPrefix,
			platformv1alpha1.ManagedByLabel, platformv1alpha1.ManagedByValue),
		Action: fmt.Sprintf("recreate the binding under a name that does not start with %s, then delete this one", naming.ReservedPrefix),
	}
}

// orphanFinding: the operator decides which Tenant holds an orphaned
// (retained) namespace by the UID it records, never by name alone. One that
// records no UID (left by a release that did not record them) goes to a
// Tenant of its name created after it only through adopt-from: legacy; one
// that records another UID than the live Tenant's only through adopt-from:
// <uid>. t is the Tenant of the namespace's name, or nil.
func orphanFinding(ns *corev1.Namespace, t *platformv1alpha1.Tenant) *PreflightFinding {
	if ns.Labels[platformv1alpha1.OrphanedLabel] != "true" {
		return nil
	}
	tenant := ns.Labels[platformv1alpha1.TenantLabel]
	uid := ns.Annotations[platformv1alpha1.TenantUIDAnnotation]
	f := &PreflightFinding{Check: checkOrphanedNamespace, Namespace: ns.Name, Kind: "Namespace", Name: ns.Name}
	switch {
	case uid == "" && t == nil:
		f.Finding = fmt.Sprintf("retained from tenant %s by a release that recorded no owner UID: a new Tenant %s "+
			"takes it only through the annotation %s=%s", tenant, tenant, platformv1alpha1.AdoptFromAnnotation, platformv1alpha1.AdoptLegacy)
		f.Action = fmt.Sprintf("if it is the same team's, once Tenant %s exists: %s; otherwise leave it retained or delete it",
			tenant, adoptCommand(tenant, platformv1alpha1.AdoptLegacy))
	case uid == "":
		// The Tenant created it (then released it), or adopts legacy ones.
		if !ns.CreationTimestamp.Before(&t.CreationTimestamp) || adopts(t, platformv1alpha1.AdoptLegacy) {
			return nil
		}
		f.Finding = fmt.Sprintf("retained from an earlier tenant %s by a release that recorded no owner UID: Tenant %s, "+
			"created after it, no longer takes it by name", tenant, tenant)
		f.Action = fmt.Sprintf("if it is the same team's: %s; otherwise leave it retained or delete it",
			adoptCommand(tenant, platformv1alpha1.AdoptLegacy))
	case t == nil || uid == string(t.UID) || adopts(t, uid):
		return nil
	default:
		f.Finding = fmt.Sprintf("retained by an earlier Tenant %s (UID %s): the current Tenant %s, another UID, takes it only by adoption",
			tenant, uid, tenant)
		f.Action = fmt.Sprintf("if it is the same team's: %s; otherwise leave it retained or delete it", adoptCommand(tenant, uid))
	}
	return f
}

func adoptCommand(tenant, from string) string {
	return fmt.Sprintf("kubectl annotate tenant %s %s=%s", tenant, platformv1alpha1.AdoptFromAnnotation, from)
}

// adopts reports whether a Tenant's adopt-from annotation names from.
func adopts(t *platformv1alpha1.Tenant, from string) bool {
	return slices.Contains(strings.Split(t.Annotations[platformv1alpha1.AdoptFromAnnotation], ","), from)
}

// quotaGrantFindings: the operator still grants NodePort and LoadBalancer to
// a tenant whose TenantQuota gives them a count, as earlier releases did;
// Tenant spec.exposure.serviceTypes is the grant from now on. Informational.
func quotaGrantFindings(t *platformv1alpha1.Tenant, tq *platformv1alpha1.TenantQuota) []PreflightFinding {
	if t == nil {
		return nil
	}
	var listed []platformv1alpha1.ExposedServiceType
	if t.Spec.Exposure != nil {
		listed = t.Spec.Exposure.ServiceTypes
	}
	var out []PreflightFinding
	for _, g := range []struct {
		resource corev1.ResourceName
		typ      platformv1alpha1.ExposedServiceType
	}{
		{corev1.ResourceServicesNodePorts, platformv1alpha1.ServiceTypeNodePort},
		{corev1.ResourceServicesLoadBalancers, platformv1alpha1.ServiceTypeLoadBalancer},
	} {
		q, ok := tq.Spec.Hard[g.resource]
		if !ok || q.Sign() <= 0 || slices.Contains(listed, g.typ) {
			continue
		}
		out = append(out, PreflightFinding{
			Check: checkQuotaServiceGrant, Kind: "Tenant", Name: t.Name, Informational: true,
			Finding: fmt.Sprintf("TenantQuota %s gives %s %s, but spec.exposure.serviceTypes does not list %s: "+
				"it stays granted through the quota for compatibility", tq.Name, g.resource, q.String(), g.typ),
			Action: fmt.Sprintf("add %s to spec.exposure.serviceTypes: that field is the grant from now on", g.typ),
		})
	}
	return out
}

// objectCounts are, per tenant, its Jobs, CronJobs and StatefulSets, by the
// quota key that counts them.
func (s *snapshot) objectCounts(namespaces map[string]tenantNamespace) map[string]map[corev1.ResourceName]int64 {
	out := map[string]map[corev1.ResourceName]int64{}
	for key, list := range map[corev1.ResourceName]*metav1.PartialObjectMetadataList{
		"count/jobs.batch": &s.jobs, "count/cronjobs.batch": &s.cronJobs, "count/statefulsets.apps": &s.statefulSets,
	} {
		for i := range list.Items {
			tn, ok := namespaces[list.Items[i].Namespace]
			if !ok {
				continue
			}
			if out[tn.tenant] == nil {
				out[tn.tenant] = map[corev1.ResourceName]int64{}
			}
			out[tn.tenant][key]++
		}
	}
	return out
}

// quotaCountFindings: the TenantQuota now enforces object counts that
// spec.hard does not name (v1alpha1.DefaultObjectCounts). A tenant already
// above one keeps its objects, but quota admission refuses new ones until it
// is below (finished Jobs count until they are deleted).
func quotaCountFindings(tq *platformv1alpha1.TenantQuota, counts map[corev1.ResourceName]int64) []PreflightFinding {
	var out []PreflightFinding
	defaults := platformv1alpha1.DefaultObjectCounts()
	for _, key := range slices.Sorted(maps.Keys(defaults)) {
		limit := defaults[key]
		if _, named := tq.Spec.Hard[key]; named || counts[key] <= limit.Value() {
			continue
		}
		out = append(out, PreflightFinding{
			Check: checkQuotaCountDefault, Kind: "TenantQuota", Name: tq.Name,
			Finding: fmt.Sprintf("the tenant's namespaces hold %d objects counted by %s, and this release enforces %s %s when spec.hard does not name it: "+
				"existing ones stay, new ones are refused until fewer remain (finished Jobs count until deleted)",
				counts[key], key, key, limit.String()),
			Action: fmt.Sprintf("name %s in TenantQuota %s's spec.hard with the number the tenant needs, or delete what it no longer uses", key, tq.Name),
		})
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// without is list minus the members of drop.
func without(list, drop []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
