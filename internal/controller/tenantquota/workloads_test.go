package tenantquota_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// Batch under quota (docs/tenants.md#workloads), with kube-controller-
// manager's job and quota controllers: there is no kubelet, so the test
// marks running pods Succeeded, and no ReplicaSet controller, so it creates
// the model's pods itself, as its ReplicaSet would.

const gpu = corev1.ResourceName("nvidia.com/gpu")

// batchTenant makes a tenant with 4 GPUs, a model that needs 2 (replicas 2
// of 1 GPU) and, when batchClass is set, a batch PriorityClass.
func batchTenant(t *testing.T, g gomega.Gomega, env *testenv.Env, name, batchClass string) string {
	t.Helper()
	ctx := context.Background()
	for class, value := range map[string]int32{"serving-default": 10000, "batch-low": 100} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Value: value}
		if err := env.Admin.Create(ctx, pc); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	tn := MakeTenant(name).Namespaces("work").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	tn.Spec.Scheduling = &platformv1alpha1.TenantScheduling{PriorityClasses: []string{"serving-default", "batch-low"}, BatchPriorityClass: batchClass}
	create(t, env, tn)
	create(t, env, MakeTenantQuota(name).Hard("requests."+gpu, "4").Hard(corev1.ResourcePods, "20").Obj())
	ns := name + "-work"
	one := corev1.ResourceList{gpu: resource.MustParse("1")}
	create(t, env, MakeModelDeployment(ns, "chat").Replicas(2).Requests(one).Limits(one).Obj())
	tenantReady(t, g, env, name)
	g.Eventually(enforced(env, ns, "requests."+gpu)).Should(gomega.Equal("4/4"))
	return ns
}

// gpuPodSpec is a restricted pod asking for one GPU.
func gpuPodSpec() corev1.PodSpec {
	spec := restrictedPod("", "").Spec
	one := corev1.ResourceList{gpu: resource.MustParse("1")}
	spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: one, Limits: one}
	spec.RestartPolicy = corev1.RestartPolicyNever
	return spec
}

func gpuJob(ns, name string, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.JobSpec{Parallelism: ptr.To(parallelism), Completions: ptr.To(parallelism), BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: gpuPodSpec()}},
	}
}

// modelPod creates one pod of the model "chat", as its ReplicaSet would.
func modelPod(env *testenv.Env, ns string, i int) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("chat-%d", i),
		Labels: map[string]string{"app.kubernetes.io/instance": "chat"}}, Spec: gpuPodSpec()}
	return env.Admin.Create(context.Background(), pod)
}

// activePods lists a Job's pods that are not finished.
func activePods(env *testenv.Env, job *batchv1.Job) []corev1.Pod {
	list := &corev1.PodList{}
	_ = env.Admin.List(context.Background(), list, client.InNamespace(job.Namespace), client.MatchingLabels{"batch.kubernetes.io/job-name": job.Name})
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp.IsZero() {
			out = append(out, p)
		}
	}
	return out
}

// failedCreate is the message of the Job's latest FailedCreate Event.
func failedCreate(env *testenv.Env, job *batchv1.Job) func() string {
	return func() string {
		list := &corev1.EventList{}
		_ = env.Admin.List(context.Background(), list, client.InNamespace(job.Namespace))
		msg := ""
		for _, e := range list.Items {
			if e.Reason == "FailedCreate" && e.InvolvedObject.Kind == "Job" && e.InvolvedObject.Name == job.Name {
				msg = e.Message
			}
		}
		return msg
	}
}

// TestBatchWaitsWhileModelsKeepTheirFloor: a GPU Job twice the size of what
// the reservation leaves it runs in waves, refused by tenantai-batch while
// GPUs are free, and the model's pods are admitted into the floor the
// reservation kept. The negative control has no batch class: the Job takes
// every GPU and the model's pods are refused.
func TestBatchWaitsWhileModelsKeepTheirFloor(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	ns := batchTenant(t, g, env, "batchy", "batch-low")

	// The reservation: 4 GPUs less the model's 2.
	g.Eventually(func() string {
		rq := &corev1.ResourceQuota{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.BatchResourceQuota}, rq); err != nil {
			return err.Error()
		}
		h := rq.Status.Hard["requests."+gpu]
		return fmt.Sprintf("%s/%v", h.String(), rq.Spec.ScopeSelector.MatchExpressions[0].Values)
	}).Should(gomega.Equal("2/[batch-low]"))

	job := gpuJob(ns, "finetune", 4)
	create(t, env, job)
	g.Eventually(failedCreate(env, job)).Should(gomega.And(
		gomega.ContainSubstring("exceeded quota: "+naming.BatchResourceQuota),
		gomega.ContainSubstring("requested: requests.nvidia.com/gpu=1")))
	g.Consistently(func() int { return len(activePods(env, job)) }, "2s").Should(gomega.Equal(2))
	for _, p := range activePods(env, job) {
		if p.Spec.PriorityClassName != "batch-low" {
			t.Errorf("the Job's pod %s has PriorityClass %q, want the tenant's batch class", p.Name, p.Spec.PriorityClassName)
		}
	}

	// The model's pods arrive (a rollout, a drained node): the floor is theirs.
	for i := range 2 {
		if err := modelPod(env, ns, i); err != nil {
			t.Fatalf("the model's pod %d was refused although the reservation kept its floor: %v", i, err)
		}
	}

	// Waves: as batch pods finish, the next ones start, never more than 2.
	succeeded := 0
	g.Eventually(func() int32 {
		active := activePods(env, job)
		if len(active) > 2 {
			t.Fatalf("%d batch pods at once, want at most the 2 GPUs the reservation leaves", len(active))
		}
		for i := range active {
			p := &active[i]
			p.Status.Phase = corev1.PodSucceeded
			if err := env.Admin.Status().Update(ctx, p); err == nil {
				succeeded++
			}
		}
		got := &batchv1.Job{}
		_ = env.Admin.Get(ctx, client.ObjectKeyFromObject(job), got)
		return got.Status.Succeeded
	}, "120s", "500ms").Should(gomega.Equal(int32(4)))
	if succeeded < 4 {
		t.Errorf("marked %d pods Succeeded, want 4", succeeded)
	}
}

func TestWithoutABatchClassBatchTakesTheModelsFloor(t *testing.T) {
	env, g := setup(t)
	ns := batchTenant(t, g, env, "greedy", "")
	job := gpuJob(ns, "finetune", 4)
	create(t, env, job)
	g.Eventually(func() int { return len(activePods(env, job)) }).Should(gomega.Equal(4))
	err := modelPod(env, ns, 0)
	if err == nil || !strings.Contains(err.Error(), "exceeded quota: "+naming.ResourceQuota) {
		t.Fatalf("the model's pod: %v, want a refusal by %s (batch took the floor)", err, naming.ResourceQuota)
	}
	rq := &corev1.ResourceQuota{}
	if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: naming.BatchResourceQuota}, rq); !apierrors.IsNotFound(err) {
		t.Errorf("a tenant without a batch class has a %s: %v", naming.BatchResourceQuota, err)
	}
}

// TestJobDemandPullsHeadroom: in Dynamic mode a Job's pods count as demand,
// so a Job whose pods are larger than an even share still runs: 4 GPUs split
// over two namespaces give each 2, and a Job of two 2-GPU pods needs all 4 in
// one. Without the demand, the "one more unit" rule would stop at 3.
func TestJobDemandPullsHeadroom(t *testing.T) {
	env, g := setup(t)
	tn := MakeTenant("trainer").Namespaces("a", "b").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	create(t, env, tn)
	create(t, env, MakeTenantQuota("trainer").Hard("requests."+gpu, "4").Hard(corev1.ResourcePods, "10").Obj())
	tenantReady(t, g, env, "trainer")
	g.Eventually(enforced(env, "trainer-a", "requests."+gpu)).Should(gomega.Equal("2/2"))

	two := corev1.ResourceList{gpu: resource.MustParse("2")}
	job := gpuJob("trainer-a", "big", 2)
	job.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: two, Limits: two}
	create(t, env, job)
	g.Eventually(enforced(env, "trainer-a", "requests."+gpu), "60s").Should(gomega.Equal("4/4"))
	g.Eventually(func() int { return len(activePods(env, job)) }, "60s").Should(gomega.Equal(2))
	g.Expect(enforced(env, "trainer-b", "requests."+gpu)()).To(gomega.Equal("0/0"))
}
