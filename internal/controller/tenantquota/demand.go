package tenantquota

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/quota"
)

// demand estimates what a namespace wants beyond its use, so that Dynamic
// mode pulls headroom to it: the ModelDeployments' desired replicas × their
// requests, what its running Jobs' next pods need (jobDemand), and the
// amounts that quota admission refused the models (reported in their
// QuotaExceeded condition). A pod larger than an even share can then still
// fit.
func (r *Reconciler) demand(ctx context.Context, namespace string, used corev1.ResourceList) (corev1.ResourceList, error) {
	list := &platformv1alpha1.ModelDeploymentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	desired := corev1.ResourceList{}
	refused := corev1.ResourceList{}
	for i := range list.Items {
		md := &list.Items[i]
		desired = quotav1.Add(desired, desiredUsage(md))
		if c := conditions.Get(md, platformv1alpha1.ModelConditionQuotaExceeded); c != nil && c.Status == "True" {
			asked := quota.RequestedIn(c.Message)
			if len(asked) == 0 {
				// The message is Kubernetes' wording, which can change: without
				// it, a refused model still wants at least one more replica.
				asked = podUsage(md)
			}
			refused = quotav1.Add(refused, asked)
		}
	}
	jobs := &batchv1.JobList{}
	if err := r.Client.List(ctx, jobs, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	for i := range jobs.Items {
		desired = quotav1.Add(desired, jobDemand(&jobs.Items[i]))
	}
	wanted := corev1.ResourceList{}
	for name, q := range desired {
		unmet := q.DeepCopy()
		unmet.Sub(used[name])
		if unmet.Sign() > 0 {
			wanted[name] = unmet
		}
	}
	for name, q := range refused {
		if cur, ok := wanted[name]; !ok || cur.Cmp(q) < 0 {
			wanted[name] = q
		}
	}
	return wanted, nil
}

// desiredUsage is what a ModelDeployment's pods need at its desired replica
// count, in ResourceQuota keys.
func desiredUsage(md *platformv1alpha1.ModelDeployment) corev1.ResourceList {
	replicas := int64(1)
	if md.Spec.Replicas != nil {
		replicas = int64(*md.Spec.Replicas)
	}
	if a := md.Spec.Autoscaling; a != nil && a.MinReplicas != nil && int64(*a.MinReplicas) > replicas {
		replicas = int64(*a.MinReplicas)
	}
	return usage(md, replicas)
}

// podUsage is what one pod of a ModelDeployment needs, in ResourceQuota keys.
func podUsage(md *platformv1alpha1.ModelDeployment) corev1.ResourceList { return usage(md, 1) }

// usage is what replicas pods of a ModelDeployment need, in ResourceQuota keys.
func usage(md *platformv1alpha1.ModelDeployment, replicas int64) corev1.ResourceList {
	return podsUsage(md.Spec.Runtime.Resources.Requests, md.Spec.Runtime.Resources.Limits, replicas)
}
