package tenantquota

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// The serving reservation (docs/tenants.md#workloads): when the Tenant names
// a batch PriorityClass, each namespace gets a second ResourceQuota,
// tenantai-batch, scoped to pods of that class, whose hard is the namespace's
// quota minus what its ModelDeployments need at their minimum replicas. Quota
// admission then refuses a batch pod that would eat into the models' floor,
// while the models (default class) are limited only by tenantai-quota. Both
// are native objects: the API server enforces the reservation, with or
// without the operator running.
//
// It shapes how a tenant shares its own quota between serving and batch; it
// is not a boundary between tenants (each tenant's total is its
// tenantai-quota). A tenant that runs batch pods in its default class gives
// up the reservation for them.

// applyReservation writes (or removes) each namespace's batch quota. It runs
// once the split is enforced, so its hard follows the namespace's current one.
func (r *Reconciler) applyReservation(ctx context.Context, s *scope) (bool, error) {
	class := ""
	if sc := s.tenant.Spec.Scheduling; sc != nil {
		class = sc.BatchPriorityClass
	}
	for _, ns := range s.namespaces {
		if ns.Frozen {
			continue
		}
		if class == "" {
			if err := r.removeReservation(ctx, ns.Name); err != nil {
				return false, err
			}
			continue
		}
		floor, err := r.servingFloor(ctx, ns.Name)
		if err != nil {
			return false, err
		}
		desired := batchQuota(s.tenant.Name, ns.Name, class, s.targets[ns.Name], floor)
		if _, _, err := r.applier().Ensure(ctx, desired); err != nil {
			if apierrors.IsInvalid(err) {
				s.stall(platformv1alpha1.ReasonInvalidSpec, "the API server refuses the ResourceQuota "+naming.BatchResourceQuota+" of "+ns.Name+": "+err.Error())
				return false, errStalled
			}
			return false, err
		}
	}
	return true, nil
}

// batchQuota is the ResourceQuota that caps a namespace's batch pods: every
// pod-scoped key of the namespace's hard, less the models' floor (never below
// zero). Keys a PriorityClass-scoped quota cannot hold (object counts,
// Services, storage) stay with tenantai-quota alone.
func batchQuota(tenant, namespace, class string, hard, floor corev1.ResourceList) *corev1.ResourceQuota {
	batch := corev1.ResourceList{}
	for name, q := range hard {
		if !podScoped(name) {
			continue
		}
		left := q.DeepCopy()
		if f, ok := floor[name]; ok {
			left.Sub(f)
		}
		if left.Sign() < 0 {
			left = resource.MustParse("0")
		}
		batch[name] = left
	}
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: naming.BatchResourceQuota, Namespace: namespace, Labels: naming.TenantLabels(tenant)},
		Spec: corev1.ResourceQuotaSpec{
			Hard: batch,
			ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{{
				ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{class},
			}}},
		},
	}
}

// podScoped reports whether a ResourceQuota scoped to pods may hold a key:
// pods, compute resources and extended resources (requests.nvidia.com/gpu).
func podScoped(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	case corev1.ResourceRequestsStorage:
		return false
	}
	s := string(name)
	return strings.HasPrefix(s, "requests.") || strings.HasPrefix(s, "limits.") || strings.HasPrefix(s, "hugepages-")
}

// servingFloor is what a namespace's ModelDeployments need at their minimum:
// minReplicas when autoscaled, else replicas.
func (r *Reconciler) servingFloor(ctx context.Context, namespace string) (corev1.ResourceList, error) {
	list := &platformv1alpha1.ModelDeploymentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	floor := corev1.ResourceList{}
	for i := range list.Items {
		md := &list.Items[i]
		replicas := int64(1)
		if md.Spec.Replicas != nil {
			replicas = int64(*md.Spec.Replicas)
		}
		if a := md.Spec.Autoscaling; a != nil && a.MinReplicas != nil {
			replicas = int64(*a.MinReplicas)
		}
		floor = quotav1.Add(floor, usage(md, replicas))
	}
	return floor, nil
}

// removeReservation deletes a namespace's batch quota, if it has one (the
// Tenant dropped its batch class, or the TenantQuota is being deleted).
func (r *Reconciler) removeReservation(ctx context.Context, namespace string) error {
	rq := &corev1.ResourceQuota{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: naming.BatchResourceQuota}, rq)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := client.IgnoreNotFound(r.Client.Delete(ctx, rq)); err != nil {
		return fmt.Errorf("deleting ResourceQuota %s/%s: %w", namespace, naming.BatchResourceQuota, err)
	}
	return nil
}
