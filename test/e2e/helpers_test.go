//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testutil"
)

const (
	gpu = corev1.ResourceName("nvidia.com/gpu")
	// requestsGPU is the quota key of GPU requests.
	requestsGPU = corev1.ResourceName("requests.nvidia.com/gpu")
	// poll is how often Eventually looks; the controllers under test act
	// within seconds.
	poll = 500 * time.Millisecond
	// quotaName is the native ResourceQuota tenantai keeps in each tenant namespace.
	quotaName = naming.ResourceQuota
)

// gpuToleration lets pods onto the fake GPU nodes (hack/local-cluster/nodes.yaml).
var gpuToleration = corev1.Toleration{Key: string(gpu), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// uniqueName gives each spec its own tenant, so that specs never share
// namespaces, quotas or leftovers of an earlier run on a reused cluster.
func uniqueName(prefix string) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 4)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return prefix + "-" + string(b)
}

// quota is a tenant total.
type quota map[corev1.ResourceName]string

// gpuQuota is a tenant total with room for CPU, memory and pods, and gpus GPUs.
func gpuQuota(gpus int) quota {
	return quota{
		requestsGPU:                fmt.Sprint(gpus),
		corev1.ResourceRequestsCPU: "64", corev1.ResourceRequestsMemory: "256Gi",
		corev1.ResourcePods: "30",
	}
}

// newTenant creates a Tenant with deletionPolicy Delete and its TenantQuota
// (Dynamic), waits until both are Ready, and deletes them when the spec ends.
// Namespace entry n becomes namespace "<name>-<n>".
func newTenant(ctx context.Context, name string, q quota, namespaces ...string) {
	GinkgoHelper()
	for _, n := range namespaces {
		specNamespaces = append(specNamespaces, name+"-"+n)
	}
	t := testutil.MakeTenant(name).Namespaces(namespaces...).DeletionPolicy(platformv1alpha1.DeletionDelete).Obj()
	// GPU pools are tainted; a tenant's pods may tolerate only the taints its
	// scheduling policy lists (enforced by admission policy).
	t.Spec.Scheduling = &platformv1alpha1.TenantScheduling{Tolerations: []corev1.Toleration{gpuToleration}}
	tq := testutil.MakeTenantQuota(name)
	for k, v := range q {
		tq.Hard(k, v)
	}
	By(fmt.Sprintf("creating tenant %s with namespaces %v and quota %v", name, namespaces, q))
	Expect(c.client.Create(ctx, t)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		err := c.client.Delete(ctx, &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}})
		Expect(client.IgnoreNotFound(err)).To(Succeed())
		err = c.client.Delete(ctx, &platformv1alpha1.TenantQuota{ObjectMeta: metav1.ObjectMeta{Name: name}})
		Expect(client.IgnoreNotFound(err)).To(Succeed())
	}, NodeTimeout(time.Minute))
	Expect(c.client.Create(ctx, tq.Obj())).To(Succeed())
	expectReady(ctx, &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}}, time.Minute)
	expectReady(ctx, &platformv1alpha1.TenantQuota{ObjectMeta: metav1.ObjectMeta{Name: name}}, time.Minute)
}

// gpuModel is a vLLM ModelDeployment whose pods ask for 1 CPU, 2Gi and one
// GPU (limits equal to requests).
func gpuModel(namespace, name string, replicas int32) *platformv1alpha1.ModelDeployment {
	res := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi"),
		gpu: resource.MustParse("1"),
	}
	md := testutil.MakeModelDeployment(namespace, name).Replicas(replicas).Requests(res).Obj()
	md.Spec.Runtime.Resources.Limits = res.DeepCopy()
	return md
}

// conditionsOf returns the kstatus conditions of a tenantai object.
func conditionsOf(obj client.Object) []metav1.Condition {
	switch o := obj.(type) {
	case *platformv1alpha1.Tenant:
		return o.Status.Conditions
	case *platformv1alpha1.TenantQuota:
		return o.Status.Conditions
	case *platformv1alpha1.ModelDeployment:
		return o.Status.Conditions
	}
	panic(fmt.Sprintf("no conditions on %T", obj))
}

func condition(obj client.Object, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conditionsOf(obj), typ)
}

// expectReady waits for Ready=True on the object's current generation.
func expectReady(ctx context.Context, obj client.Object, timeout time.Duration) {
	GinkgoHelper()
	expectReadyIn(ctx, c, obj, timeout)
}

// expectReadyIn is expectReady in a given cluster.
func expectReadyIn(ctx context.Context, cl *cluster, obj client.Object, timeout time.Duration) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(cl.client.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		ready := condition(obj, platformv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil(), "no Ready condition yet")
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "Ready: %s: %s", ready.Reason, ready.Message)
		g.Expect(ready.ObservedGeneration).To(Equal(obj.GetGeneration()))
	}).WithContext(ctx).WithTimeout(timeout).WithPolling(poll).Should(Succeed(),
		"%T %s never became Ready", obj, client.ObjectKeyFromObject(obj))
}

// modelPods lists the pods of a ModelDeployment.
func modelPods(ctx context.Context, g Gomega, namespace, model string) []corev1.Pod {
	pods := &corev1.PodList{}
	g.Expect(c.client.List(ctx, pods, client.InNamespace(namespace),
		client.MatchingLabels{platformv1alpha1.ModelLabel: model})).To(Succeed())
	return pods.Items
}

// runningReady counts the pods that run and are Ready (kwok plays the
// kubelet: it starts nothing, but reports the pod lifecycle).
func runningReady(pods []corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func getModel(ctx context.Context, g Gomega, namespace, name string) *platformv1alpha1.ModelDeployment {
	md := &platformv1alpha1.ModelDeployment{}
	g.Expect(c.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, md)).To(Succeed())
	return md
}

func getDeployment(ctx context.Context, g Gomega, namespace, name string) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	g.Expect(c.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, d)).To(Succeed())
	return d
}

// namespaceQuota is the native ResourceQuota tenantai keeps in a tenant
// namespace.
func namespaceQuota(ctx context.Context, g Gomega, namespace string) *corev1.ResourceQuota {
	rq := &corev1.ResourceQuota{}
	g.Expect(c.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: quotaName}, rq)).To(Succeed())
	return rq
}

// quotaMessage is the API server's refusal when a pod asks for one more GPU
// than a namespace's quota leaves (quota admission, not the operator, wrote it).
func quotaMessage(used, limited int) string {
	return fmt.Sprintf("exceeded quota: %s, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=%d, limited: requests.nvidia.com/gpu=%d",
		quotaName, used, limited)
}

// probePod is a restricted-compliant pod asking for one GPU, created directly
// (not by the operator) to meet quota admission first hand.
func probePod(namespace, name string) *corev1.Pod {
	res := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		gpu: resource.MustParse("1"),
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Tolerations: []corev1.Toleration{gpuToleration},
			Containers: []corev1.Container{{
				Name: "probe", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: res, Limits: res},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// clusterResourceUsage is kwok's ClusterResourceUsage: the CPU and memory kwok
// reports (as a kubelet would) for the pods it selects.
var clusterResourceUsage = schema.GroupVersionKind{Group: "kwok.x-k8s.io", Version: "v1alpha1", Kind: "ClusterResourceUsage"}

// setLoad makes every pod of a namespace, present and future, use cpu (e.g.
// "2" or "100m") as kwok reports it to metrics-server: a ClusterResourceUsage
// selecting that namespace alone (kwok takes the first match, in no defined
// order, so selectors never overlap). It is deleted when the spec ends.
func setLoad(ctx context.Context, namespace, cpu string) {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(clusterResourceUsage)
	u.SetName("e2e-load-" + namespace)
	u.Object["spec"] = map[string]any{
		"selector": map[string]any{"matchNamespaces": []any{namespace}},
		"usages": []any{map[string]any{"usage": map[string]any{
			"cpu":    map[string]any{"value": cpu},
			"memory": map[string]any{"value": "1Gi"},
		}}},
	}
	By(fmt.Sprintf("emulating a CPU use of %s per pod in %s (kwok ClusterResourceUsage)", cpu, namespace))
	Expect(c.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("tenantai-e2e"), client.ForceOwnership)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(c.client.Delete(ctx, u))).To(Succeed())
	}, NodeTimeout(30*time.Second))
}

// isGPUNode reports whether a node offers GPUs (a fake GPU node of
// hack/local-cluster/nodes.yaml).
func isGPUNode(ctx context.Context, g Gomega, name string) bool {
	node := &corev1.Node{}
	g.Expect(c.client.Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
	q, ok := node.Status.Allocatable[gpu]
	return ok && !q.IsZero()
}

// gone reports whether the object no longer exists.
func gone(ctx context.Context, obj client.Object) func() bool {
	return goneIn(ctx, c, obj)
}

// goneIn is gone in a given cluster.
func goneIn(ctx context.Context, cl *cluster, obj client.Object) func() bool {
	return func() bool {
		err := cl.client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err)
	}
}
