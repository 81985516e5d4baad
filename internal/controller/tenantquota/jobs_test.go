package tenantquota

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

func TestJobDemand(t *testing.T) {
	gpu := corev1.ResourceName("nvidia.com/gpu")
	job := func(mutate func(*batchv1.Job)) *batchv1.Job {
		j := &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](4), Completions: ptr.To[int32](10),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}},
				Containers: []corev1.Container{
					{Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{gpu: resource.MustParse("1"), corev1.ResourceCPU: resource.MustParse("1")},
						Limits:   corev1.ResourceList{gpu: resource.MustParse("1")}}},
					{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}},
				}}}}}
		if mutate != nil {
			mutate(j)
		}
		return j
	}
	list := func(kv ...string) corev1.ResourceList {
		out := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return out
	}
	cases := map[string]struct {
		job  *batchv1.Job
		want corev1.ResourceList
	}{
		// cpu: the init container's 3 is more than the containers' 1.5.
		"running: parallelism pods": {job(nil), list("pods", "4", "requests.nvidia.com/gpu", "4", "limits.nvidia.com/gpu", "4",
			"requests.cpu", "12", "cpu", "12")},
		"near the end: only the completions missing": {job(func(j *batchv1.Job) { j.Status.Succeeded = 8 }),
			list("pods", "2", "requests.nvidia.com/gpu", "2", "limits.nvidia.com/gpu", "2", "requests.cpu", "6", "cpu", "6")},
		"work queue: no completions": {job(func(j *batchv1.Job) { j.Spec.Completions = nil; j.Spec.Parallelism = ptr.To[int32](1) }),
			list("pods", "1", "requests.nvidia.com/gpu", "1", "limits.nvidia.com/gpu", "1", "requests.cpu", "3", "cpu", "3")},
		// A sidecar (an init container that keeps running) adds to the
		// containers, as quota admission counts it: 1.5 + 1 per pod.
		"a sidecar": {job(func(j *batchv1.Job) {
			j.Spec.Template.Spec.InitContainers = []corev1.Container{{RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}
		}), list("pods", "4", "requests.nvidia.com/gpu", "4", "limits.nvidia.com/gpu", "4", "requests.cpu", "10", "cpu", "10")},
		"suspended":     {job(func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }), nil},
		"all succeeded": {job(func(j *batchv1.Job) { j.Status.Succeeded = 10 }), nil},
		"complete": {job(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		}), nil},
		"failed": {job(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
		}), nil},
		"being deleted": {job(func(j *batchv1.Job) { now := metav1.Now(); j.DeletionTimestamp = &now }), nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := jobDemand(c.job)
			if diff := cmp.Diff(c.want, got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("jobDemand (-want +got):\n%s", diff)
			}
			// The cache keeps only what the demand reads: same answer.
			pruned, _ := PruneJob(c.job.DeepCopy())
			if diff := cmp.Diff(got, jobDemand(pruned.(*batchv1.Job)), cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("the pruned Job's demand differs (-full +pruned):\n%s", diff)
			}
		})
	}
}

// TestEffectiveHardDefaults: object counts and exposure are bounded unless
// spec.hard names them; a named key keeps its value, even 0 or more.
func TestEffectiveHardDefaults(t *testing.T) {
	tq := &platformv1alpha1.TenantQuota{Spec: platformv1alpha1.TenantQuotaSpec{Hard: corev1.ResourceList{
		"requests.cpu": resource.MustParse("8"), "count/jobs.batch": resource.MustParse("200"),
		corev1.ResourceServicesNodePorts: resource.MustParse("2"),
	}}}
	got := map[string]string{}
	for k, v := range effectiveHard(tq) {
		got[string(k)] = v.String()
	}
	want := map[string]string{
		"requests.cpu": "8", "count/jobs.batch": "200", "services.nodeports": "2",
		"services.loadbalancers": "0", "count/cronjobs.batch": "10", "count/statefulsets.apps": "10",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("effectiveHard (-want +got):\n%s", diff)
	}
}

// TestStaticSplitGetsTheCountDefaults: a Static split gives 0 to what it
// omits; the object-count defaults, which the user never wrote, are split
// evenly instead, unless spec.hard or an entry names them.
func TestStaticSplitGetsTheCountDefaults(t *testing.T) {
	static := map[string]corev1.ResourceList{
		"acme-dev":  {"requests.cpu": resource.MustParse("2")},
		"acme-prod": {"requests.cpu": resource.MustParse("6"), "count/statefulsets.apps": resource.MustParse("4")},
		"acme-test": {},
	}
	splitCountDefaults(static, corev1.ResourceList{"count/cronjobs.batch": resource.MustParse("3")})
	got := map[string]string{}
	for ns, list := range static {
		for k, v := range list {
			got[ns+" "+string(k)] = v.String()
		}
	}
	want := map[string]string{
		"acme-dev requests.cpu": "2", "acme-prod requests.cpu": "6",
		// 50 over three: 17, 17, 16.
		"acme-dev count/jobs.batch": "17", "acme-prod count/jobs.batch": "17", "acme-test count/jobs.batch": "16",
		// Named by an entry: the split as written (the others get 0).
		"acme-prod count/statefulsets.apps": "4",
		// count/cronjobs.batch is named in spec.hard: the split as written.
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("static split (-want +got):\n%s", diff)
	}
}
