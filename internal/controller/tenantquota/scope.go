package tenantquota

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/quota"
)

// scope is what the phases of one reconcile share.
type scope struct {
	tq     *platformv1alpha1.TenantQuota
	before *platformv1alpha1.TenantQuotaStatus

	tenant *platformv1alpha1.Tenant
	// hard is spec.hard with the exposure defaults added.
	hard corev1.ResourceList
	// namespaces are the tenant's namespaces with their quotas and use.
	namespaces []quota.Namespace
	// reserved are declared namespaces the Tenant has not created yet; in
	// the Dynamic split they hold their share (see reserveMissing).
	reserved map[string]bool
	// quotas are the current ResourceQuotas by namespace.
	quotas map[string]*corev1.ResourceQuota
	// fresh, once set, are the tenant's ResourceQuotas as the API server
	// listed them for this reconcile's decisions (see freshen).
	fresh map[string]*corev1.ResourceQuota
	// targets is the split to reach.
	targets map[string]corev1.ResourceList

	// stalled is set when the spec cannot be applied as it is.
	stalled bool
	// deleting is set while a TenantQuota being deleted waits for the
	// tenant's access to be revoked: its status is written.
	deleting     bool
	deleted      bool
	completed    bool
	requeueAfter time.Duration
}

func newScope(tq *platformv1alpha1.TenantQuota) *scope {
	return &scope{tq: tq, before: tq.Status.DeepCopy(), quotas: map[string]*corev1.ResourceQuota{}, reserved: map[string]bool{}}
}
