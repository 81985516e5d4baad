package security_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

const (
	policyDefaults   = "tenantai-scheduling-defaults"
	policyScheduling = "tenantai-scheduling"
	policyExposure   = "tenantai-exposure"
)

var (
	greenTolerations = []corev1.Toleration{
		{Key: "pool.example.com/tenant", Operator: corev1.TolerationOpEqual, Value: "green", Effect: corev1.TaintEffectNoSchedule},
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	greenReady bool
)

// greenTenant makes a tenant with a node pool, classes and hostnames, once.
func greenTenant(t *testing.T) {
	t.Helper()
	if greenReady {
		return
	}
	ctx := context.Background()
	for name, value := range map[string]int32{"inference-high": 100000, "inference-low": 1000, "other-team-high": 500000} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
		if err := env.Admin.Create(ctx, pc); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"gvisor", "runc-privileged"} {
		rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Handler: strings.ReplaceAll(name, "-", "")}
		if err := env.Admin.Create(ctx, rc); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	green := MakeTenant("green").Namespaces("prod").Owner(platformv1alpha1.SubjectUser, "green-owner").
		QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	green.Spec.Scheduling = &platformv1alpha1.TenantScheduling{
		NodeSelector:    map[string]platformv1alpha1.LabelValue{"pool.example.com/tenant": "green"},
		Tolerations:     greenTolerations,
		PriorityClasses: []string{"inference-high", "inference-low"},
		RuntimeClasses:  []string{"gvisor"},
	}
	green.Spec.Exposure = &platformv1alpha1.TenantExposure{Hostnames: []string{"*.green.example"}}
	green.Spec.Storage = &platformv1alpha1.TenantStorage{Classes: []string{"fast"}}
	quota := MakeTenantQuota("green").Hard(corev1.ResourcePods, "10").Hard("requests.nvidia.com/gpu", "2").Obj()
	for _, o := range []client.Object{green, quota} {
		if err := env.Admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		cm := &corev1.ConfigMap{}
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: "green-prod", Name: naming.PolicyConfigMap}, cm) == nil &&
			cm.Data[naming.PolicyDefaultPriority] == "100000" && cm.Data[naming.PolicyAccelerators] == "nvidia.com/gpu"
	}, "green's policy to be published")
	waitFor(t, func() bool {
		rq := &corev1.ResourceQuota{}
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: "green-prod", Name: naming.ResourceQuota}, rq) == nil &&
			len(rq.Status.Hard) > 0
	}, "green's quota to be enforced")
	greenReady = true
}

func greenPod(name string) *corev1.Pod {
	p := compliantPod(name)
	p.Namespace = "green-prod"
	return p
}

func TestH_SchedulingAndExposure(t *testing.T) {
	greenTenant(t)
	ctx := context.Background()

	t.Run("H32 a pod with no placement gets the tenant's pool, tolerations and default priority", func(t *testing.T) {
		// count is how often a toleration is present.
		count := func(pod *corev1.Pod, want corev1.Toleration) int {
			found := 0
			for _, got := range pod.Spec.Tolerations {
				if got.Key == want.Key && got.Operator == want.Operator && got.Value == want.Value && got.Effect == want.Effect {
					found++
				}
			}
			return found
		}
		pod := greenPod("plain")
		if err := admin.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if pod.Spec.NodeSelector["pool.example.com/tenant"] != "green" {
			t.Errorf("nodeSelector = %v, want the tenant's pool injected", pod.Spec.NodeSelector)
		}
		// The pool's taint once; the GPU taint only for pods that request a GPU.
		if n := count(pod, greenTolerations[0]); n != 1 {
			t.Errorf("pool toleration present %d times, want once: %v", n, pod.Spec.Tolerations)
		}
		if n := count(pod, greenTolerations[1]); n != 0 {
			t.Errorf("a pod that requests no GPU was given the GPU toleration: %v", pod.Spec.Tolerations)
		}
		gpu := gpuPod("gpu", "green-prod", "nvidia.com/gpu")
		if err := admin.Create(ctx, gpu, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		for _, want := range greenTolerations {
			if n := count(gpu, want); n != 1 {
				t.Errorf("GPU pod: toleration %s present %d times, want once: %v", want.Key, n, gpu.Spec.Tolerations)
			}
		}
		if pod.Spec.PriorityClassName != "inference-high" || pod.Spec.Priority == nil || *pod.Spec.Priority != 100000 {
			t.Errorf("priority = %q/%v, want inference-high/100000", pod.Spec.PriorityClassName, pod.Spec.Priority)
		}
		// Pods outside tenant namespaces are untouched.
		other := compliantPod("elsewhere")
		other.Namespace = "unmanaged"
		ensureNamespace(t, "unmanaged")
		if err := admin.Create(ctx, other, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if len(other.Spec.NodeSelector) != 0 || other.Spec.PriorityClassName != "" {
			t.Errorf("a pod outside tenant namespaces was mutated: %v %q", other.Spec.NodeSelector, other.Spec.PriorityClassName)
		}
	})

	t.Run("H33 another tenant's pool is unreachable", func(t *testing.T) {
		forged := greenPod("forged")
		forged.Spec.NodeSelector = map[string]string{"pool.example.com/tenant": "blue"}
		if err := admin.Create(ctx, forged, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if forged.Spec.NodeSelector["pool.example.com/tenant"] != "green" {
			t.Errorf("a forged pool selector survived: %v", forged.Spec.NodeSelector)
		}
		affinity := greenPod("affinity")
		affinity.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool.example.com/tenant", Operator: corev1.NodeSelectorOpIn, Values: []string{"blue"}}},
			}}},
		}}
		refused(t, admin.Create(ctx, affinity, client.DryRunAll), byPolicy(policyScheduling))
		tolerant := greenPod("tolerant")
		tolerant.Spec.Tolerations = []corev1.Toleration{{Key: "pool.example.com/tenant", Operator: corev1.TolerationOpEqual, Value: "blue", Effect: corev1.TaintEffectNoSchedule}}
		refused(t, admin.Create(ctx, tolerant, client.DryRunAll), byPolicy(policyScheduling))
		// A GPU pod, so that tenantai-pods (which refuses every-taint
		// tolerations on pods without accelerators, I47) lets it through.
		everything := gpuPod("everything", "green-prod", "nvidia.com/gpu")
		everything.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		refused(t, admin.Create(ctx, everything, client.DryRunAll), byPolicy(policyScheduling))
		pinned := greenPod("pinned")
		pinned.Spec.NodeName = "blue-node-1"
		refused(t, admin.Create(ctx, pinned, client.DryRunAll), byPolicy(policyScheduling))
	})

	t.Run("H34 priority and runtime classes outside the lists", func(t *testing.T) {
		for _, class := range []string{"system-cluster-critical", "other-team-high"} {
			pod := greenPod("greedy")
			pod.Spec.PriorityClassName = class
			err := admin.Create(ctx, pod, client.DryRunAll)
			refused(t, err, byPolicy(policyScheduling))
			if !strings.Contains(err.Error(), "PriorityClass "+class+" is not allowed for this tenant (allowed: inference-high, inference-low)") {
				t.Errorf("message: %v", err)
			}
		}
		ok := greenPod("low")
		ok.Spec.PriorityClassName = "inference-low"
		if err := admin.Create(ctx, ok, client.DryRunAll); err != nil {
			t.Errorf("an allowed PriorityClass was refused: %v", err)
		}
		runtime := greenPod("weak-runtime")
		runtime.Spec.RuntimeClassName = ptr.To("runc-privileged")
		refused(t, admin.Create(ctx, runtime, client.DryRunAll), byPolicy(policyScheduling))
		runtime.Spec.RuntimeClassName = ptr.To("gvisor")
		if err := admin.Create(ctx, runtime, client.DryRunAll); err != nil {
			t.Errorf("an allowed RuntimeClass was refused: %v", err)
		}
	})

	t.Run("H35 externalIPs, NodePort and LoadBalancer Services", func(t *testing.T) {
		svc := func(name string, mutate func(*corev1.Service)) *corev1.Service {
			s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "green-prod", Name: name},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8000}}}}
			mutate(s)
			return s
		}
		refused(t, admin.Create(ctx, svc("ext", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"203.0.113.10"} }), client.DryRunAll),
			byPolicy(policyExposure))
		// Not granted: refused whatever the quota says (I42 covers a tenant without one).
		refused(t, admin.Create(ctx, svc("np", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })),
			byPolicy(policyServiceTypes))
		refused(t, admin.Create(ctx, svc("lb", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })),
			byPolicy(policyServiceTypes))
		// Granted in the Tenant, the quota still counts them: 0 unless named.
		waitFor(t, func() bool {
			live := &platformv1alpha1.Tenant{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: "green"}, live); err != nil {
				return false
			}
			patch := client.MergeFrom(live.DeepCopy())
			live.Spec.Exposure.ServiceTypes = []platformv1alpha1.ExposedServiceType{platformv1alpha1.ServiceTypeNodePort, platformv1alpha1.ServiceTypeLoadBalancer}
			return env.Admin.Patch(ctx, live, patch) == nil
		}, "green to be granted NodePort and LoadBalancer")
		waitFor(t, func() bool {
			err := admin.Create(ctx, svc("np", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }))
			return byQuota("exceeded quota: tenantai-quota, requested: services.nodeports=1, used: services.nodeports=0, limited: services.nodeports=0").match(err)
		}, "a granted NodePort to be refused by quota (services.nodeports defaults to 0)")
		refused(t, admin.Create(ctx, svc("lb", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer })),
			byQuota("exceeded quota: tenantai-quota, requested: services.loadbalancers=1,services.nodeports=1"))
	})

	t.Run("H36 Ingress hostnames outside the tenant's domains; overlapping tenants", func(t *testing.T) {
		ingress := func(hosts ...string) *networkingv1.Ingress {
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "green-prod", Name: "web"}}
			for _, h := range hosts {
				ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{Host: h})
			}
			return ing
		}
		if err := admin.Create(ctx, ingress("chat.green.example"), client.DryRunAll); err != nil {
			t.Errorf("an allowed hostname was refused: %v", err)
		}
		for _, hosts := range [][]string{{"chat.blue.example"}, {"a.b.green.example"}, {"green.example"}, {""}, {"chat.green.example", "evil.example"}} {
			err := admin.Create(ctx, ingress(hosts...), client.DryRunAll)
			refused(t, err, byPolicy(policyExposure))
			if !strings.Contains(err.Error(), "is outside the tenant's exposure.hostnames (*.green.example)") {
				t.Errorf("%v: %v", hosts, err)
			}
		}
		teal := MakeTenant("teal").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
		teal.Spec.Exposure = &platformv1alpha1.TenantExposure{Hostnames: []string{"chat.green.example"}}
		if err := env.Admin.Create(ctx, teal); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			tn := &platformv1alpha1.Tenant{}
			_ = env.Admin.Get(ctx, client.ObjectKey{Name: "teal"}, tn)
			for _, c := range tn.Status.Conditions {
				if c.Type == platformv1alpha1.ConditionStalled && c.Reason == platformv1alpha1.TenantReasonHostnameConflict &&
					strings.Contains(c.Message, "chat.green.example (tenant green claims *.green.example)") {
					return true
				}
			}
			return false
		}, "teal to be Stalled with HostnameConflict")
		cm := &corev1.ConfigMap{}
		waitFor(t, func() bool {
			return env.Admin.Get(ctx, client.ObjectKey{Namespace: "teal-prod", Name: naming.PolicyConfigMap}, cm) == nil
		}, "teal's policy")
		if cm.Data[naming.PolicyHostnames] != "" {
			t.Errorf("a conflicting tenant was granted hostnames %q", cm.Data[naming.PolicyHostnames])
		}
	})

	t.Run("H+ the published policy is the operator's alone", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "green-prod", Name: naming.PolicyConfigMap}}
		for _, c := range []client.Client{admin} {
			refused(t, c.Delete(ctx, cm, client.DryRunAll), byPolicy(policyOwned))
		}
		greenOwner, err := env.UserClient("green-owner")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			err := greenOwner.Delete(ctx, cm, client.DryRunAll)
			return err != nil && byPolicy(policyOwned).match(err)
		}, fmt.Sprintf("the green owner (who may edit ConfigMaps) to be refused by %s", policyOwned))
	})
}

// TestH33_ThroughAModelDeployment: a ModelDeployment's placement is merged
// with the tenant's policy; one that names another pool is Stalled
// (PlacementConflict) rather than rendering pods admission would refuse, and
// the pods it renders pass admission.
func TestH33_ThroughAModelDeployment(t *testing.T) {
	greenTenant(t)
	ctx := context.Background()
	md := MakeModelDeployment("green-prod", "chat").Obj()
	md.Spec.Placement = &platformv1alpha1.Placement{NodeSelector: map[string]string{"pool.example.com/tenant": "blue"}}
	if err := env.Admin.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		got := &platformv1alpha1.ModelDeployment{}
		_ = env.Admin.Get(ctx, client.ObjectKeyFromObject(md), got)
		for _, c := range got.Status.Conditions {
			if c.Type == platformv1alpha1.ConditionStalled && c.Reason == platformv1alpha1.ModelReasonPlacementConflict &&
				strings.Contains(c.Message, "contradicts the tenant's node pool pool.example.com/tenant=green") {
				return true
			}
		}
		return false
	}, "the ModelDeployment to be Stalled with PlacementConflict")

	live := &platformv1alpha1.ModelDeployment{}
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(md), live); err != nil {
		t.Fatal(err)
	}
	live.Spec.Placement = nil
	if err := env.Admin.Update(ctx, live); err != nil {
		t.Fatal(err)
	}
	deployment := &appsv1.Deployment{}
	waitFor(t, func() bool {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: "green-prod", Name: "chat"}, deployment) == nil
	}, "the Deployment")
	tmpl := deployment.Spec.Template
	if tmpl.Spec.NodeSelector["pool.example.com/tenant"] != "green" {
		t.Errorf("the rendered pods are not on the tenant's pool: %v", tmpl.Spec.NodeSelector)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "green-prod", Name: "from-template", Labels: tmpl.Labels}, Spec: tmpl.Spec}
	if err := admin.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("a pod from the rendered template is refused by admission: %v", err)
	}
}
