package tenantquota

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// Jobs are demand like ModelDeployments (docs/quota.md): in Dynamic mode the
// headroom moves to the namespace whose Job waits for its next wave, so a
// pod larger than an even share still fits. Tenants' Jobs carry no label
// the cache could select on, so every Job of the cluster is cached, but only
// as much of it as jobDemand reads (PruneJob): about the size of its
// metadata.

// PruneJob is the cache transform of Jobs: the parallelism, completions,
// suspension, counts and finish of a Job, and its pod template's container
// resources; nothing else (no image, command, env or volumes).
func PruneJob(obj any) (any, error) {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return obj, nil
	}
	pruned := &batchv1.Job{TypeMeta: j.TypeMeta}
	pruned.Name, pruned.Namespace, pruned.UID = j.Name, j.Namespace, j.UID
	pruned.ResourceVersion, pruned.Generation = j.ResourceVersion, j.Generation
	pruned.DeletionTimestamp = j.DeletionTimestamp
	pruned.Spec.Parallelism, pruned.Spec.Completions, pruned.Spec.Suspend = j.Spec.Parallelism, j.Spec.Completions, j.Spec.Suspend
	// What resourcehelper.PodRequests reads: container resources, whether an
	// init container is a sidecar, and pod-level resources.
	resources := func(cs []corev1.Container) []corev1.Container {
		out := make([]corev1.Container, len(cs))
		for i := range cs {
			out[i].Resources, out[i].RestartPolicy = cs[i].Resources, cs[i].RestartPolicy
		}
		return out
	}
	pruned.Spec.Template.Spec.Containers = resources(j.Spec.Template.Spec.Containers)
	pruned.Spec.Template.Spec.InitContainers = resources(j.Spec.Template.Spec.InitContainers)
	pruned.Spec.Template.Spec.Resources = j.Spec.Template.Spec.Resources
	pruned.Status.Active, pruned.Status.Succeeded = j.Status.Active, j.Status.Succeeded
	for _, c := range j.Status.Conditions {
		if finishing(c) {
			pruned.Status.Conditions = append(pruned.Status.Conditions, batchv1.JobCondition{Type: c.Type, Status: c.Status})
		}
	}
	return pruned, nil
}

// finishing reports a condition that ends a Job's demand.
func finishing(c batchv1.JobCondition) bool {
	switch c.Type {
	case batchv1.JobComplete, batchv1.JobFailed, batchv1.JobSuccessCriteriaMet, batchv1.JobFailureTarget:
		return c.Status == corev1.ConditionTrue
	}
	return false
}

// jobDemand is what a Job's pods need while it runs, in ResourceQuota keys:
// as many pods as may run at once (parallelism, no more than the completions
// still missing) times one pod's requests. A finished, suspended or deleted
// Job wants nothing.
func jobDemand(j *batchv1.Job) corev1.ResourceList {
	if !j.DeletionTimestamp.IsZero() || (j.Spec.Suspend != nil && *j.Spec.Suspend) {
		return nil
	}
	for _, c := range j.Status.Conditions {
		if finishing(c) {
			return nil
		}
	}
	pods := int64(1)
	if j.Spec.Parallelism != nil {
		pods = int64(*j.Spec.Parallelism)
	}
	if c := j.Spec.Completions; c != nil && int64(*c)-int64(j.Status.Succeeded) < pods {
		pods = int64(*c) - int64(j.Status.Succeeded)
	}
	if pods <= 0 {
		return nil
	}
	// Counted as quota admission counts a pod (init containers, sidecars,
	// pod-level resources).
	pod := &corev1.Pod{Spec: j.Spec.Template.Spec}
	return podsUsage(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}),
		resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{}), pods)
}

// podsUsage is what n pods with these requests and limits count in
// ResourceQuota keys.
func podsUsage(requests, limits corev1.ResourceList, n int64) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(n, resource.DecimalSI)}
	add := func(key corev1.ResourceName, q resource.Quantity) {
		total := q.DeepCopy()
		total.Mul(n)
		sum := out[key]
		sum.Add(total)
		out[key] = sum
	}
	for name, q := range requests {
		add(corev1.ResourceName("requests."+string(name)), q)
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			add(name, q)
		}
	}
	for name, q := range limits {
		add(corev1.ResourceName("limits."+string(name)), q)
	}
	return out
}

// jobDemandChanged passes a Job's events only when its demand may have
// changed: a Job's status changes with every pod, its demand far less often.
type jobDemandChanged struct{ predicate.Funcs }

func (jobDemandChanged) Update(e event.UpdateEvent) bool {
	old, okOld := e.ObjectOld.(*batchv1.Job)
	cur, okNew := e.ObjectNew.(*batchv1.Job)
	if !okOld || !okNew {
		return true
	}
	return !equality.Semantic.DeepEqual(jobDemand(old), jobDemand(cur))
}
