package plugin

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// snapshot is what the preflight read: one list per resource, empty when the
// caller may not list it.
type snapshot struct {
	namespaces   corev1.NamespaceList
	policies     corev1.ConfigMapList
	tokenSecrets metav1.PartialObjectMetadataList
	services     corev1.ServiceList
	claims       corev1.PersistentVolumeClaimList
	pods         corev1.PodList
	roleBindings rbacv1.RoleBindingList
	tenants      platformv1alpha1.TenantList
	quotas       platformv1alpha1.TenantQuotaList
	models       platformv1alpha1.ModelDeploymentList
	// Only the metadata of workloads: the count-default check counts them.
	jobs         metav1.PartialObjectMetadataList
	cronJobs     metav1.PartialObjectMetadataList
	statefulSets metav1.PartialObjectMetadataList
}

// source is one list the preflight reads, named as RBAC names the resource.
type source struct {
	resource string
	list     client.ObjectList
	opts     []client.ListOption
}

// sources are the lists of a snapshot, each across every namespace.
func (s *snapshot) sources() []source {
	// Only the metadata of token Secrets is read (the field selector keeps
	// the others out): the preflight never receives a token.
	s.tokenSecrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	s.jobs.SetGroupVersionKind(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "JobList"})
	s.cronJobs.SetGroupVersionKind(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJobList"})
	s.statefulSets.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSetList"})
	return []source{
		{resource: "namespaces", list: &s.namespaces},
		{resource: "configmaps", list: &s.policies,
			opts: []client.ListOption{client.MatchingFields{"metadata.name": naming.PolicyConfigMap}}},
		{resource: "secrets", list: &s.tokenSecrets,
			opts: []client.ListOption{client.MatchingFields{"type": string(corev1.SecretTypeServiceAccountToken)}}},
		{resource: "services", list: &s.services},
		{resource: "persistentvolumeclaims", list: &s.claims},
		{resource: "pods", list: &s.pods},
		{resource: "rolebindings", list: &s.roleBindings},
		{resource: "tenants", list: &s.tenants},
		{resource: "tenantquotas", list: &s.quotas},
		{resource: "modeldeployments", list: &s.models},
		{resource: "jobs", list: &s.jobs},
		{resource: "cronjobs", list: &s.cronJobs},
		{resource: "statefulsets", list: &s.statefulSets},
	}
}

// readSnapshot lists every source. A list the caller may not read (403) is
// returned as unreadable, naming the checks it skips, and the others still
// run; any other error ends the preflight.
func readSnapshot(ctx context.Context, kube client.Client) (*snapshot, []UnreadableResource, error) {
	s := &snapshot{}
	var unreadable []UnreadableResource
	for _, src := range s.sources() {
		err := kube.List(ctx, src.list, src.opts...)
		switch {
		case err == nil:
		case apierrors.IsForbidden(err):
			unreadable = append(unreadable, UnreadableResource{
				Resource: src.resource, Message: apiMessage(err), Skipped: checksNeeding(src.resource),
			})
		default:
			return nil, nil, readError(err, src.resource, "")
		}
	}
	return s, unreadable, nil
}
