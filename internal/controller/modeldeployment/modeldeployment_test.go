package modeldeployment_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// readSample decodes a ModelDeployment from config/samples.
func readSample(t *testing.T, env *testenv.Env, file string) *platformv1alpha1.ModelDeployment {
	t.Helper()
	objs, err := testenv.ReadObjects(filepath.Join(env.Root, "config", "samples", file))
	if err != nil || len(objs) != 1 {
		t.Fatalf("reading sample %s: %d objects, %v", file, len(objs), err)
	}
	md := &platformv1alpha1.ModelDeployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, md); err != nil {
		t.Fatal(err)
	}
	return md
}

// expectOwnedChild checks what every child carries: the tenant, managed-by and
// model labels and nothing of the ModelDeployment's own metadata, and one
// controller owner reference to it.
func expectOwnedChild(g gomega.Gomega, obj client.Object, md *platformv1alpha1.ModelDeployment, tenant string) {
	g.Expect(obj.GetLabels()).To(gomega.Equal(map[string]string{
		platformv1alpha1.TenantLabel: tenant, platformv1alpha1.ManagedByLabel: "tenantai", platformv1alpha1.ModelLabel: md.Name,
	}), "labels of %T %s", obj, obj.GetName())
	g.Expect(obj.GetAnnotations()).NotTo(gomega.HaveKey(gomega.HavePrefix("argocd.argoproj.io/")), "%T %s", obj, obj.GetName())
	g.Expect(obj.GetOwnerReferences()).To(gomega.Equal([]metav1.OwnerReference{{
		APIVersion: "platform.tenantai.io/v1alpha1", Kind: "ModelDeployment", Name: md.Name, UID: md.UID,
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}}), "owner of %T %s", obj, obj.GetName())
}

// TestSampleRendersChildren applies config/samples' vLLM ModelDeployment
// (with Argo CD tracking metadata of its own) in a tenant namespace and checks
// every child and the status the HPA reads.
func TestSampleRendersChildren(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tenantNamespace(t, env, "acme", "acme-prod")
	md := readSample(t, env, "platform_v1alpha1_modeldeployment.yaml")
	md.Labels = map[string]string{"app.kubernetes.io/instance": "chat-app"}
	md.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "chat-app:platform.tenantai.io/ModelDeployment:acme-prod/chat"}
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)

	g.Eventually(observed(env, key)).Should(gomega.BeTrue())
	created := getMD(env, key)
	g.Expect(created.Status.Selector).To(gomega.Equal("platform.tenantai.io/model=chat,platform.tenantai.io/tenant=acme"))
	g.Expect(created.Status.Endpoint).To(gomega.Equal("chat.acme-prod.svc:8000"))
	g.Expect(created.Status.Versions).To(gomega.Equal([]platformv1alpha1.VersionStatus{{Version: "v3", Weight: 100}}))
	// No Deployment controller runs: the rollout is never observed.
	g.Expect(condition(env, key, platformv1alpha1.ConditionReconciling)()).To(gomega.Equal("True/" + platformv1alpha1.ModelReasonRollingOut))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("False/" + platformv1alpha1.ModelReasonDeploymentUnavailable))
	g.Expect(condition(env, key, platformv1alpha1.ConditionStalled)()).To(gomega.Equal("absent"))
	g.Expect(condition(env, key, platformv1alpha1.ModelConditionQuotaExceeded)()).To(gomega.Equal("False/" + platformv1alpha1.ModelReasonWithinQuota))
	g.Expect(condition(env, key, platformv1alpha1.ModelConditionScalingLimited)()).To(gomega.Equal("False/" + platformv1alpha1.ModelReasonWithinRange))

	d := &appsv1.Deployment{}
	g.Expect(env.Admin.Get(ctx, key, d)).To(gomega.Succeed())
	expectOwnedChild(g, d, created, "acme")
	g.Expect(d.Spec.Replicas).To(gomega.Equal(ptr.To[int32](1)))
	g.Expect(d.Spec.Selector.MatchLabels).To(gomega.Equal(map[string]string{
		platformv1alpha1.TenantLabel: "acme", platformv1alpha1.ModelLabel: "chat", platformv1alpha1.TrackLabel: "stable",
	}))
	g.Expect(d.Spec.Template.Labels).To(gomega.Equal(map[string]string{
		platformv1alpha1.TenantLabel: "acme", platformv1alpha1.ModelLabel: "chat",
		platformv1alpha1.VersionLabel: "v3", platformv1alpha1.TrackLabel: "stable",
	}), "pod labels: never managed-by, never the user's")
	pod := d.Spec.Template.Spec
	g.Expect(pod.ServiceAccountName).To(gomega.Equal("chat-model"))
	g.Expect(pod.AutomountServiceAccountToken).To(gomega.Equal(ptr.To(false)))
	g.Expect(pod.Tolerations).To(gomega.ContainElement(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))
	server := pod.Containers[0]
	g.Expect(server.Image).To(gomega.Equal("vllm/vllm-openai:v0.9.0"))
	g.Expect(server.Args).To(gomega.Equal([]string{"--model=s3://acme-models/llama/v3", "--port=8000",
		"--served-model-name=llama-3.1-8b-instruct", "--load-format=runai_streamer", "--max-model-len=8192"}))
	g.Expect(server.EnvFrom).To(gomega.Equal([]corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "model-store"}}}}))
	g.Expect(server.ReadinessProbe.HTTPGet.Path).To(gomega.Equal("/health"))

	sa := &corev1.ServiceAccount{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: "acme-prod", Name: "chat-model"}, sa)).To(gomega.Succeed())
	expectOwnedChild(g, sa, created, "acme")
	g.Expect(sa.AutomountServiceAccountToken).To(gomega.Equal(ptr.To(false)))

	svc := &corev1.Service{}
	g.Expect(env.Admin.Get(ctx, key, svc)).To(gomega.Succeed())
	expectOwnedChild(g, svc, created, "acme")
	g.Expect(svc.Spec.Type).To(gomega.Equal(corev1.ServiceTypeClusterIP))
	g.Expect(svc.Spec.Selector).To(gomega.Equal(map[string]string{platformv1alpha1.TenantLabel: "acme", platformv1alpha1.ModelLabel: "chat"}))
	g.Expect(svc.Spec.Ports).To(gomega.HaveLen(1))
	g.Expect(svc.Spec.Ports[0].Port).To(gomega.Equal(int32(8000)))
	g.Expect(svc.Spec.Ports[0].NodePort).To(gomega.BeZero())
	g.Expect(svc.Spec.ExternalIPs).To(gomega.BeEmpty())

	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	g.Expect(env.Admin.Get(ctx, key, hpa)).To(gomega.Succeed())
	expectOwnedChild(g, hpa, created, "acme")
	g.Expect(hpa.Spec.ScaleTargetRef).To(gomega.Equal(autoscalingv2.CrossVersionObjectReference{
		APIVersion: "platform.tenantai.io/v1alpha1", Kind: "ModelDeployment", Name: "chat"}))
	g.Expect(hpa.Spec.MinReplicas).To(gomega.Equal(ptr.To[int32](1)))
	g.Expect(hpa.Spec.MaxReplicas).To(gomega.Equal(int32(4)))
	g.Expect(hpa.Spec.Metrics).To(gomega.HaveLen(1))
	g.Expect(hpa.Spec.Metrics[0].Resource.Target.AverageUtilization).To(gomega.Equal(ptr.To[int32](70)))

	pdb := &policyv1.PodDisruptionBudget{}
	g.Expect(env.Admin.Get(ctx, key, pdb)).To(gomega.Succeed())
	expectOwnedChild(g, pdb, created, "acme")
	g.Expect(pdb.Spec.MaxUnavailable.IntValue()).To(gomega.Equal(1))
	g.Expect(pdb.Spec.Selector.MatchLabels).To(gomega.Equal(svc.Spec.Selector))

	// The HPA finds the model's pods through /scale, which reads status.
	scale := &autoscalingv1.Scale{}
	g.Expect(env.Admin.SubResource("scale").Get(ctx, created, scale)).To(gomega.Succeed())
	g.Expect(scale.Status.Selector).To(gomega.Equal("platform.tenantai.io/model=chat,platform.tenantai.io/tenant=acme"))
}

// TestCustomSamplePassesPodSecurity renders config/samples' custom
// ModelDeployment and has the API server admit its pod under
// enforce=restricted (dry run), with a negative control: the same pod with
// privilege escalation allowed is refused by Pod Security.
func TestCustomSamplePassesPodSecurity(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tenantNamespace(t, env, "acme", "acme-prod")
	md := readSample(t, env, "platform_v1alpha1_modeldeployment_custom.yaml")
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(replicas(env, "acme-prod", "ranker")).Should(gomega.Equal(int32(2)))
	g.Eventually(observed(env, key)).Should(gomega.BeTrue())
	g.Expect(getMD(env, key).Status.Endpoint).To(gomega.Equal("ranker.acme-prod.svc:9000"))

	d := deployment(env, "acme-prod", "ranker")
	server := d.Spec.Template.Spec.Containers[0]
	g.Expect(server.Image).To(gomega.Equal("registry.acme.example/ranker:1.4.2"))
	g.Expect(server.Args).To(gomega.Equal([]string{"--workers=2"}))
	g.Expect(server.Env).To(gomega.ContainElement(corev1.EnvVar{Name: "MODEL_URI", Value: "/models/ranker/2024-06"}))
	g.Expect(server.ReadinessProbe.TCPSocket).NotTo(gomega.BeNil(), "a custom server is probed by TCP")
	g.Expect(d.Spec.Template.Spec.Volumes).To(gomega.ContainElement(corev1.Volume{Name: "model", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "models", ReadOnly: true}}}))
	g.Eventually(exists(env, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "ranker"}})).
		Should(gomega.BeTrue(), "2 replicas get a PodDisruptionBudget")
	g.Expect(exists(env, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "ranker"}})()).
		To(gomega.BeFalse(), "no autoscaling, no HPA")

	podFrom := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ranker-dry-run", Namespace: "acme-prod", Labels: d.Spec.Template.Labels},
			Spec:       *d.Spec.Template.Spec.DeepCopy(),
		}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	g.Expect(env.Admin.Create(ctx, podFrom(nil), client.DryRunAll)).To(gomega.Succeed(), "the rendered pod is refused under restricted Pod Security")
	err := env.Admin.Create(ctx, podFrom(func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	}), client.DryRunAll)
	g.Expect(err).To(gomega.MatchError(gomega.ContainSubstring(`violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`)),
		"negative control: Pod Security is not enforced in the namespace, so the check above proves nothing")
}

// TestNotTenantNamespaceStalls: outside a tenant namespace a ModelDeployment
// gets no child and is Stalled; once the namespace becomes a tenant namespace
// (a namespace event, not a resync) it is served.
func TestNotTenantNamespaceStalls(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain-ns", Labels: map[string]string{
		// A tenant label alone, without managed-by, is not a tenant namespace.
		platformv1alpha1.TenantLabel: "beta",
	}}}
	g.Expect(breakGlass(t, env).Create(ctx, ns)).To(gomega.Succeed())
	tenantPolicy(t, env, "beta", "plain-ns")
	md := MakeModelDeployment("plain-ns", "chat").Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)

	g.Eventually(condition(env, key, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("True/" + platformv1alpha1.ModelReasonNotTenantNamespace))
	g.Expect(message(env, key, platformv1alpha1.ConditionStalled)()).To(gomega.Equal(
		"namespace plain-ns is not a tenant namespace (it lacks the platform.tenantai.io/tenant and app.kubernetes.io/managed-by=tenantai labels the Tenant controller sets): ModelDeployments are served in tenant namespaces only"))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("False/" + platformv1alpha1.ModelReasonNotTenantNamespace))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReconciling)()).To(gomega.Equal("absent"))
	g.Expect(getMD(env, key).Status.ObservedGeneration).To(gomega.Equal(getMD(env, key).Generation))
	g.Eventually(eventReasons(env, key)).Should(gomega.ContainElement(platformv1alpha1.ModelReasonNotTenantNamespace))
	for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ServiceAccountList{}} {
		g.Expect(env.Admin.List(ctx, list, client.InNamespace("plain-ns"), client.MatchingLabels{platformv1alpha1.ModelLabel: "chat"})).To(gomega.Succeed())
		g.Expect(meta(list)).To(gomega.BeZero(), "%T created outside a tenant namespace", list)
	}

	patch := client.MergeFrom(ns.DeepCopy())
	ns.Labels[platformv1alpha1.ManagedByLabel] = platformv1alpha1.ManagedByValue
	g.Expect(breakGlass(t, env).Patch(ctx, ns, patch)).To(gomega.Succeed())
	g.Eventually(replicas(env, "plain-ns", "chat")).Should(gomega.Equal(int32(1)))
	g.Eventually(condition(env, key, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("absent"))
	g.Expect(deployment(env, "plain-ns", "chat").Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.TenantLabel, "beta"))
}

func meta(list client.ObjectList) int {
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		return len(l.Items)
	case *corev1.ServiceList:
		return len(l.Items)
	case *corev1.ServiceAccountList:
		return len(l.Items)
	}
	return -1
}

// TestChildConflictNeverTakesOver: a Deployment named like the child, made by
// someone else and invisible to the label-restricted cache, is never taken
// over; the ModelDeployment is Stalled naming it and writes no child at all.
// Once the object is gone, the ModelDeployment is served.
func TestChildConflictNeverTakesOver(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tenantNamespace(t, env, "gamma", "gamma-prod")
	labels := map[string]string{"app": "theirs"}
	theirs := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "gamma-prod"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	create(t, env, theirs)
	md := MakeModelDeployment("gamma-prod", "chat").Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)

	g.Eventually(condition(env, key, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("True/" + platformv1alpha1.ModelReasonChildConflict))
	g.Expect(message(env, key, platformv1alpha1.ConditionStalled)()).To(gomega.Equal(
		"Deployment chat already exists in namespace gamma-prod and is not owned by ModelDeployment chat; the operator never takes over an object it did not create: delete or rename it"))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("False/" + platformv1alpha1.ModelReasonChildConflict))
	g.Consistently(func() *appsv1.Deployment { return deployment(env, "gamma-prod", "chat") }).Should(gomega.SatisfyAll(
		gomega.HaveField("ObjectMeta.OwnerReferences", gomega.BeEmpty()),
		gomega.HaveField("ObjectMeta.Labels", gomega.BeEmpty()),
		gomega.HaveField("Spec.Replicas", gomega.Equal(ptr.To[int32](3))),
		gomega.HaveField("Spec.Template.Spec.Containers", gomega.HaveLen(1)),
	), "the conflicting Deployment was taken over")
	g.Expect(exists(env, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "gamma-prod", Name: "chat-model"}})()).
		To(gomega.BeFalse(), "a child was written although another one conflicts")
	g.Expect(exists(env, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "gamma-prod", Name: "chat"}})()).To(gomega.BeFalse())

	// The conflict is outside the cache, so nothing we watch says it went: an
	// annotation (or the periodic recheck) brings the ModelDeployment back.
	g.Expect(env.Admin.Delete(ctx, theirs)).To(gomega.Succeed())
	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) {
		m.Annotations = map[string]string{"test.tenantai.io/recheck": "1"}
	})
	g.Eventually(condition(env, key, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("absent"))
	g.Eventually(func() []metav1.OwnerReference {
		if d := deployment(env, "gamma-prod", "chat"); d != nil {
			return d.OwnerReferences
		}
		return nil
	}).Should(gomega.HaveLen(1))
}

// TestInvalidSpecStalls: an engine that cannot load the URI's scheme is a
// spec error, Stalled until the spec changes, and renders nothing.
func TestInvalidSpecStalls(t *testing.T) {
	env, g := setup(t)
	tenantNamespace(t, env, "delta", "delta-prod")
	md := MakeModelDeployment("delta-prod", "tgi").Engine(platformv1alpha1.EngineTGI).URI("s3://bucket/mistral").Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(condition(env, key, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonInvalidSpec))
	g.Expect(message(env, key, platformv1alpha1.ConditionStalled)()).To(gomega.Equal(
		"model.uri: engine tgi cannot load s3:// URIs; it loads hf:// (a Hugging Face model id) or pvc://<claim>/<path>"))
	g.Expect(deployment(env, "delta-prod", "tgi")).To(gomega.BeNil())

	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) { m.Spec.Model.URI = "hf://mistralai/Mistral-7B-v0.3" })
	g.Eventually(replicas(env, "delta-prod", "tgi")).Should(gomega.Equal(int32(1)))
	g.Eventually(condition(env, key, platformv1alpha1.ConditionStalled)).Should(gomega.Equal("absent"))
	g.Expect(deployment(env, "delta-prod", "tgi").Spec.Template.Spec.Containers[0].Args).To(gomega.ContainElement("--model-id=mistralai/Mistral-7B-v0.3"))
}

// TestScalePlaysTheHPA writes the ModelDeployment's /scale as the HPA does:
// the Deployments follow the split of the new total, the operator never
// writes spec.replicas back (nor anything of the ModelDeployment but its
// status), and a Deployment scaled directly is put back.
func TestScalePlaysTheHPA(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tenantNamespace(t, env, "eps", "eps-prod")
	md := MakeModelDeployment("eps-prod", "chat").Replicas(2).Autoscaling(1, 10).Canary("v2", 20).Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(replicas(env, "eps-prod", "chat")).Should(gomega.Equal(int32(1)))
	g.Eventually(replicas(env, "eps-prod", "chat-canary")).Should(gomega.Equal(int32(1)))
	settle(g, env)

	for _, step := range []struct{ total, stable, canary int32 }{{7, 6, 1}, {10, 8, 2}, {3, 2, 1}} {
		scale := &autoscalingv1.Scale{}
		g.Expect(env.Admin.SubResource("scale").Get(ctx, getMD(env, key), scale)).To(gomega.Succeed())
		scale.Spec.Replicas = step.total
		g.Expect(env.Admin.SubResource("scale").Update(ctx, getMD(env, key), client.WithSubResourceBody(scale))).To(gomega.Succeed())
		g.Eventually(replicas(env, "eps-prod", "chat")).Should(gomega.Equal(step.stable), "stable replicas for total %d", step.total)
		g.Eventually(replicas(env, "eps-prod", "chat-canary")).Should(gomega.Equal(step.canary), "canary replicas for total %d", step.total)
		g.Consistently(func() *int32 { return getMD(env, key).Spec.Replicas }).Should(gomega.Equal(ptr.To(step.total)),
			"spec.replicas was written back")
	}

	for _, w := range env.Writes.Writes() {
		if strings.Contains(w, "ModelDeployment") && !strings.HasPrefix(w, "patch/status ") {
			t.Errorf("the operator wrote the ModelDeployment itself: %s", w)
		}
	}
	for _, mf := range getMD(env, key).ManagedFields {
		if mf.Manager == platformv1alpha1.FieldManager && mf.Subresource != "status" {
			t.Errorf("the operator manages fields of the ModelDeployment outside its status: %+v", mf)
		}
	}

	// A scale of the Deployment itself (by a cluster admin: the admission
	// policies refuse anyone else) is drift: only the operator sets a model
	// Deployment's replicas.
	d := deployment(env, "eps-prod", "chat")
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr.To[int32](9)
	g.Expect(breakGlass(t, env).Patch(ctx, d, patch)).To(gomega.Succeed())
	g.Eventually(replicas(env, "eps-prod", "chat")).Should(gomega.Equal(int32(2)))
	g.Eventually(eventReasons(env, key)).Should(gomega.ContainElement("DriftRepaired"))
}

// TestAutoscalingOnAndOff: switching autoscaling on at 5 replicas never shows
// fewer than 5 on the Deployment (every event of a watch opened before the
// change), and switching it off applies the user's count again and removes
// the HPA; the PodDisruptionBudget goes once a single pod remains.
func TestAutoscalingOnAndOff(t *testing.T) {
	env, g := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tenantNamespace(t, env, "zeta", "zeta-prod")
	md := MakeModelDeployment("zeta-prod", "chat").Replicas(5).Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(replicas(env, "zeta-prod", "chat")).Should(gomega.Equal(int32(5)))
	g.Eventually(observed(env, key)).Should(gomega.BeTrue())

	wc, err := client.NewWithWatch(env.AdminConfig, client.Options{Scheme: env.Admin.Scheme()})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	w, err := wc.Watch(ctx, &appsv1.DeploymentList{}, client.InNamespace("zeta-prod"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	defer w.Stop()
	seen := make(chan int32, 1024)
	go func() {
		defer close(seen)
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Name == "chat" {
				seen <- ptr.Deref(d.Spec.Replicas, -1)
			}
		}
	}()

	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) {
		m.Spec.Autoscaling = &platformv1alpha1.Autoscaling{MinReplicas: ptr.To[int32](1), MaxReplicas: 8, TargetCPUUtilizationPercentage: ptr.To[int32](60)}
	})
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: "zeta-prod", Name: "chat"}}
	g.Eventually(exists(env, hpa)).Should(gomega.BeTrue())
	g.Eventually(observed(env, key)).Should(gomega.BeTrue())
	// The HPA (played here) raises the total; the Deployment follows upward.
	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) { m.Spec.Replicas = ptr.To[int32](6) })
	g.Eventually(replicas(env, "zeta-prod", "chat")).Should(gomega.Equal(int32(6)))
	w.Stop()
	var timeline []int32
	for n := range seen {
		timeline = append(timeline, n)
	}
	g.Expect(timeline).NotTo(gomega.BeEmpty(), "the watch saw nothing: it proves nothing")
	g.Expect(timeline).To(gomega.HaveEach(gomega.BeNumerically(">=", 5)), "the Deployment dipped below 5 replicas: %v", timeline)
	g.Expect(timeline).To(gomega.ContainElement(int32(6)))

	// Off: the user's manifest says 2 again; the HPA goes.
	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) {
		m.Spec.Autoscaling = nil
		m.Spec.Replicas = ptr.To[int32](2)
	})
	g.Eventually(replicas(env, "zeta-prod", "chat")).Should(gomega.Equal(int32(2)))
	g.Eventually(exists(env, hpa)).Should(gomega.BeFalse(), "the HPA outlived spec.autoscaling")
	g.Eventually(condition(env, key, platformv1alpha1.ModelConditionScalingLimited)).Should(gomega.Equal("absent"))
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: "zeta-prod", Name: "chat"}}
	g.Expect(exists(env, pdb)()).To(gomega.BeTrue(), "2 replicas keep their PodDisruptionBudget")
	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) { m.Spec.Replicas = ptr.To[int32](1) })
	g.Eventually(exists(env, pdb)).Should(gomega.BeFalse(), "a single pod kept a PodDisruptionBudget")
}

// TestCanaryStartRollbackPromote walks a canary through its life: start
// (weight 20 of 5: canary 1, stable 4), rollback (the canary Deployment goes
// at once), start again, promote (the canary Deployment stays until the
// stable one runs the promoted version everywhere, then goes).
func TestCanaryStartRollbackPromote(t *testing.T) {
	env, g := setup(t)
	tenantNamespace(t, env, "eta", "eta-prod")
	md := MakeModelDeployment("eta-prod", "chat").Replicas(5).Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(replicas(env, "eta-prod", "chat")).Should(gomega.Equal(int32(5)))
	canary := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "eta-prod", Name: "chat-canary"}}
	version := func(name string) func() string {
		return func() string {
			if d := deployment(env, "eta-prod", name); d != nil {
				return d.Spec.Template.Labels[platformv1alpha1.VersionLabel]
			}
			return "absent"
		}
	}
	startCanary := func(wantVersions []platformv1alpha1.VersionStatus) {
		updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) {
			m.Spec.Canary = &platformv1alpha1.Canary{Version: "v2", URI: "s3://models/llama/v2", Weight: 20}
		})
		g.Eventually(replicas(env, "eta-prod", "chat-canary")).Should(gomega.Equal(int32(1)))
		g.Eventually(replicas(env, "eta-prod", "chat")).Should(gomega.Equal(int32(4)))
		g.Expect(version("chat-canary")()).To(gomega.Equal("v2"))
		g.Expect(version("chat")()).To(gomega.Equal("v1"))
		g.Expect(deployment(env, "eta-prod", "chat-canary").Spec.Template.Spec.Containers[0].Args).To(gomega.ContainElement("--model=s3://models/llama/v2"))
		g.Eventually(observed(env, key)).Should(gomega.BeTrue())
		g.Eventually(func() []platformv1alpha1.VersionStatus { return getMD(env, key).Status.Versions }).Should(gomega.Equal(wantVersions))
	}

	// Start. Nothing runs yet: the versions show the desired weights.
	startCanary([]platformv1alpha1.VersionStatus{{Version: "v1", Weight: 80}, {Version: "v2", Weight: 20}})
	g.Eventually(message(env, key, platformv1alpha1.ConditionReconciling)).Should(gomega.ContainSubstring("waiting for the Deployment controller"))
	markRolledOut(g, env, "eta-prod", "chat")
	markRolledOut(g, env, "eta-prod", "chat-canary")
	g.Eventually(message(env, key, platformv1alpha1.ConditionReconciling)).Should(gomega.Equal(
		"canary version v2 runs at weight 20%: set model.version to v2 to promote it, or remove spec.canary to roll back"))
	g.Eventually(func() []platformv1alpha1.VersionStatus { return getMD(env, key).Status.Versions }).Should(gomega.Equal([]platformv1alpha1.VersionStatus{
		{Version: "v1", Replicas: 4, ReadyReplicas: 4, Weight: 80}, {Version: "v2", Replicas: 1, ReadyReplicas: 1, Weight: 20}}))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))

	// Rollback: remove the canary; it goes at once, the stable gets all 5.
	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) { m.Spec.Canary = nil })
	g.Eventually(exists(env, canary)).Should(gomega.BeFalse(), "the canary Deployment outlived its rollback")
	g.Eventually(replicas(env, "eta-prod", "chat")).Should(gomega.Equal(int32(5)))
	g.Expect(version("chat")()).To(gomega.Equal("v1"))

	// Start again (the stable's 4 replicas still run, the canary's pod not
	// yet: the real split), then promote: model.version := v2 and the canary
	// removed.
	startCanary([]platformv1alpha1.VersionStatus{{Version: "v1", Replicas: 4, ReadyReplicas: 4, Weight: 100}, {Version: "v2", Weight: 0}})
	updateMD(g, env, key, func(m *platformv1alpha1.ModelDeployment) {
		m.Spec.Model.Version, m.Spec.Model.URI, m.Spec.Canary = "v2", "s3://models/llama/v2", nil
	})
	g.Eventually(version("chat")).Should(gomega.Equal("v2"))
	g.Eventually(replicas(env, "eta-prod", "chat")).Should(gomega.Equal(int32(5)))
	g.Eventually(message(env, key, platformv1alpha1.ConditionReconciling)).Should(gomega.ContainSubstring("promoting version v2"))
	g.Consistently(exists(env, canary)).Should(gomega.BeTrue(), "the canary Deployment went before the stable one ran the promoted version")
	markRolledOut(g, env, "eta-prod", "chat")
	g.Eventually(exists(env, canary)).Should(gomega.BeFalse(), "the promoted canary Deployment was never removed")
	g.Eventually(func() []platformv1alpha1.VersionStatus { return getMD(env, key).Status.Versions }).Should(gomega.Equal([]platformv1alpha1.VersionStatus{
		{Version: "v2", Replicas: 5, ReadyReplicas: 5, Weight: 100}}))
	g.Eventually(condition(env, key, platformv1alpha1.ConditionReconciling)).Should(gomega.Equal("absent"))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
}

// quotaMessage is the API server's refusal as the ReplicaSet controller
// reports it (and the Deployment controller copies it).
const quotaMessage = `pods "chat-abc" is forbidden: exceeded quota: tenantai-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8`

// TestQuotaExceededCarriesTheAPIServerMessage: a quota refusal on the
// Deployment shows in the ModelDeployment with the API server's exact
// message and makes it not Ready, with an Event; it clears when the
// refusal does.
func TestQuotaExceededCarriesTheAPIServerMessage(t *testing.T) {
	env, g := setup(t)
	tenantNamespace(t, env, "theta", "theta-prod")
	md := MakeModelDeployment("theta-prod", "chat").Replicas(2).Requests(corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}).Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(replicas(env, "theta-prod", "chat")).Should(gomega.Equal(int32(2)))

	setFailure := func(status corev1.ConditionStatus) {
		g.Eventually(func() error {
			d := deployment(env, "theta-prod", "chat")
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
				Conditions: []appsv1.DeploymentCondition{
					{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."},
					{Type: appsv1.DeploymentReplicaFailure, Status: status, Reason: "FailedCreate", Message: quotaMessage},
				},
			}
			return env.Admin.Status().Update(context.Background(), d)
		}).Should(gomega.Succeed())
	}
	setFailure(corev1.ConditionTrue)
	g.Eventually(condition(env, key, platformv1alpha1.ModelConditionQuotaExceeded)).Should(gomega.Equal("True/" + platformv1alpha1.ModelReasonQuotaExceeded))
	g.Expect(message(env, key, platformv1alpha1.ModelConditionQuotaExceeded)()).To(gomega.Equal(quotaMessage))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("False/" + platformv1alpha1.ModelReasonQuotaExceeded))
	g.Expect(message(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal(quotaMessage))
	g.Expect(getMD(env, key).Status.Replicas).To(gomega.Equal(int32(1)), "status.replicas is what runs, not what is wanted")
	g.Eventually(eventReasons(env, key)).Should(gomega.ContainElement(platformv1alpha1.ModelReasonQuotaExceeded))

	setFailure(corev1.ConditionFalse)
	g.Eventually(condition(env, key, platformv1alpha1.ModelConditionQuotaExceeded)).Should(gomega.Equal("False/" + platformv1alpha1.ModelReasonWithinQuota))
}

// TestScalingLimitedMirrorsOnlyTooManyReplicas: the HPA held at maxReplicas
// shows on the ModelDeployment with the HPA's message and leaves it Ready;
// the HPA held at minReplicas (its idle state) does not show.
func TestScalingLimitedMirrorsOnlyTooManyReplicas(t *testing.T) {
	env, g := setup(t)
	tenantNamespace(t, env, "iota", "iota-prod")
	md := MakeModelDeployment("iota-prod", "chat").Replicas(1).Autoscaling(1, 2).Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(replicas(env, "iota-prod", "chat")).Should(gomega.Equal(int32(1)))
	markRolledOut(g, env, "iota-prod", "chat")
	g.Eventually(condition(env, key, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	g.Eventually(eventReasons(env, key)).Should(gomega.ContainElement("Ready"))

	setHPA := func(status corev1.ConditionStatus, reason, msg string) {
		g.Eventually(func() error {
			hpa := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := env.Admin.Get(context.Background(), key, hpa); err != nil {
				return err
			}
			hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
				CurrentReplicas: 1, DesiredReplicas: 1,
				Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale", Message: "recommended size matches current size"},
					{Type: autoscalingv2.ScalingLimited, Status: status, Reason: reason, Message: msg},
				},
			}
			return env.Admin.Status().Update(context.Background(), hpa)
		}).Should(gomega.Succeed())
	}
	setHPA(corev1.ConditionTrue, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
	g.Eventually(condition(env, key, platformv1alpha1.ModelConditionScalingLimited)).Should(gomega.Equal("True/" + platformv1alpha1.ModelReasonTooManyReplicas))
	g.Expect(message(env, key, platformv1alpha1.ModelConditionScalingLimited)()).To(gomega.Equal("the desired replica count is more than the maximum replica count"))
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("True/"+platformv1alpha1.ReasonReconciled), "ScalingLimited made Ready False")

	setHPA(corev1.ConditionTrue, "TooFewReplicas", "the desired replica count is less than the minimum replica count")
	g.Eventually(condition(env, key, platformv1alpha1.ModelConditionScalingLimited)).Should(gomega.Equal("False/" + platformv1alpha1.ModelReasonWithinRange))
	g.Expect(message(env, key, platformv1alpha1.ModelConditionScalingLimited)()).NotTo(gomega.ContainSubstring("minimum"), "TooFewReplicas was mirrored")
}

// TestSecondReconcileWritesNothing counts writes through a wrapper around the
// manager's client: the first pass writes, a forced second pass of the
// unchanged ModelDeployment (proved to have run by the reconcile counter)
// writes nothing, children and status alike. The ModelDeployment uses every
// kind of child and fields the API server rewrites (16384Mi becomes 16Gi) or
// defaults, which a naive comparison would re-apply on every pass.
func TestSecondReconcileWritesNothing(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tenantNamespace(t, env, "kappa", "kappa-prod")
	env.Writes.Reset()
	md := MakeModelDeployment("kappa-prod", "chat").Replicas(3).Autoscaling(2, 6).Canary("v2", 30).
		Requests(corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("8Gi"), "nvidia.com/gpu": resource.MustParse("1")}).
		Limits(corev1.ResourceList{"memory": resource.MustParse("16384Mi")}).
		Args("--max-model-len=8192", "--enable-prefix-caching").
		Labels(map[string]string{"app.kubernetes.io/instance": "chat"}).
		Annotations(map[string]string{"argocd.argoproj.io/sync-wave": "2"}).Obj()
	md.Spec.Model.CredentialsSecretRef = &platformv1alpha1.LocalObjectReference{Name: "model-store"}
	md.Spec.Placement = &platformv1alpha1.Placement{NodeSelector: map[string]string{"pool": "kappa"}}
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(replicas(env, "kappa-prod", "chat-canary")).Should(gomega.Equal(int32(1)))
	g.Eventually(observed(env, key)).Should(gomega.BeTrue())
	g.Expect(env.Writes.About("kappa-prod")).NotTo(gomega.BeEmpty(), "the counter saw no write on the first pass: it counts nothing")

	settle(g, env)
	before := reconcileCount(t)
	latest := getMD(env, key)
	patch := client.MergeFrom(latest.DeepCopy())
	latest.Annotations = map[string]string{"test.tenantai.io/poke": "1"}
	g.Expect(env.Admin.Patch(ctx, latest, patch)).To(gomega.Succeed())
	g.Eventually(func() float64 { return reconcileCount(t) }).Should(gomega.BeNumerically(">", before), "no second reconcile ran")
	g.Consistently(func() []string { return env.Writes.About("kappa-prod") }).Should(gomega.BeEmpty(), "a reconcile of an unchanged ModelDeployment wrote")
}

// TestPodTemplateDriftIsRepaired: every edit of a model Deployment's pod
// template by anyone is seen and reverted: a changed image, a removed
// argument, and a container added by another writer, which server-side
// apply alone leaves in place (this case failed before overwriteSpec). A
// break-glass admin does the edits (tenants cannot write Deployments). The
// cache keeps Deployments without their template (apply.Verified): the
// edits are seen by the generation they raise.
func TestPodTemplateDriftIsRepaired(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tenantNamespace(t, env, "lambda", "lambda-prod")
	md := MakeModelDeployment("lambda-prod", "chat").Args("--max-model-len=8192").Obj()
	create(t, env, md)
	g.Eventually(observed(env, client.ObjectKeyFromObject(md))).Should(gomega.BeTrue())
	original := deployment(env, "lambda-prod", "chat")
	g.Expect(original).NotTo(gomega.BeNil())
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())

	edits := map[string]func(*corev1.PodSpec){
		"image changed": func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/attacker:latest" },
		"container added": func(p *corev1.PodSpec) {
			p.Containers = append(p.Containers, corev1.Container{Name: "sidecar", Image: "registry.example/sidecar:1"})
		},
		"argument removed": func(p *corev1.PodSpec) { p.Containers[0].Args = p.Containers[0].Args[:len(p.Containers[0].Args)-1] },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			g := gomega.NewWithT(t)
			live := deployment(env, "lambda-prod", "chat")
			patch := client.MergeFrom(live.DeepCopy())
			edit(&live.Spec.Template.Spec)
			g.Expect(admin.Patch(ctx, live, patch)).To(gomega.Succeed())
			g.Eventually(func() []corev1.Container {
				return deployment(env, "lambda-prod", "chat").Spec.Template.Spec.Containers
			}, timeout, interval).Should(gomega.Equal(original.Spec.Template.Spec.Containers), "the template edit was not reverted")
		})
	}
}
