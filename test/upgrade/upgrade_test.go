// Package upgrade_test upgrades what the previous release made: the same
// objects without the records this release adds (owner UIDs, applied hashes,
// label records), installed without the guardrails this release adds, with
// use those guardrails would now refuse. It proves that an upgrade cuts no
// existing tenant off: nobody loses a binding, no key changes, nothing that
// runs is removed, a namespace retained by an earlier Tenant of the name is
// not handed over, and the new refusals apply to new requests only.
package upgrade_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{ControllerManager: true, ExtraControllers: "deployment,replicaset"})
}

// Annotations this release records and the previous one did not.
var newRecords = []string{platformv1alpha1.TenantUIDAnnotation, "platform.tenantai.io/labels", apply.AppliedAnnotation}

func TestUpgradeFromThePreviousRelease(t *testing.T) {
	env := testenv.Require(t)
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(60 * time.Second)
	g.SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctx := context.Background()
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())

	// An earlier Tenant "legacy", deleted with Retain before the upgrade,
	// left legacy-old behind: orphaned, recording no UID, older than the
	// Tenant of that name that exists now.
	g.Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "legacy-old", Labels: map[string]string{
		platformv1alpha1.TenantLabel: "legacy", platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue,
		platformv1alpha1.OrphanedLabel: "true"}}})).To(gomega.Succeed())
	time.Sleep(1100 * time.Millisecond) // creation timestamps have second granularity

	// The previous release's objects: made by an operator, then stripped of
	// what this release records.
	tn := MakeTenant("legacy").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectUser, "lee").Obj()
	quota := MakeTenantQuota("legacy").Hard(corev1.ResourcePods, "10").Hard(corev1.ResourceServicesNodePorts, "2").Obj()
	for _, o := range []client.Object{tn, quota} {
		g.Expect(env.Admin.Create(ctx, o)).To(gomega.Succeed())
	}
	_, stop, err := env.StartManager(ctx, testenv.TestConfig())
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Eventually(ready(env, "legacy")).Should(gomega.BeTrue())
	stop()
	stripNewRecords(t, g, env, admin)
	canonical := &corev1.Secret{}
	keyName := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret("legacy")}
	g.Expect(env.Admin.Get(ctx, keyName, canonical)).To(gomega.Succeed())
	bindingUIDs := bindings(g, env)
	g.Expect(bindingUIDs).To(gomega.HaveLen(2))

	// Use the previous release allowed and this one refuses for new requests,
	// made while its admission policies were not installed.
	staged := removeStagedBindings(t, g, env)
	gpu := gpuDeployment()
	g.Expect(env.Admin.Create(ctx, gpu)).To(gomega.Succeed())
	g.Eventually(podsOf(env, gpu)).Should(gomega.HaveLen(1), "the GPU pod of the previous release")
	nodePort := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy-prod", Name: "edge"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 8000}}}}
	g.Expect(env.Admin.Create(ctx, nodePort)).To(gomega.Succeed())
	// The previous release counted no Jobs: 60 of them (a cluster admin's,
	// since tenants could not make Jobs then), more than this release's
	// default of 50.
	stripCountDefaults(g, env, admin)
	for i := range 60 {
		g.Expect(env.Admin.Create(ctx, suspendedJob([]string{"legacy-prod", "legacy-dev"}[i%2], fmt.Sprintf("batch-%d", i)))).To(gomega.Succeed())
	}

	// The upgrade: this release's policies, then its operator, while watching
	// the tenant's RoleBindings.
	wc, err := client.NewWithWatch(env.AdminConfig, client.Options{Scheme: env.Admin.Scheme()})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := wc.Watch(watchCtx, &rbacv1.RoleBindingList{}, client.MatchingLabels{platformv1alpha1.TenantLabel: "legacy"})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	deletedBindings := make(chan string, 16)
	go func() {
		for e := range w.ResultChan() {
			if rb, ok := e.Object.(*rbacv1.RoleBinding); ok && e.Type == watch.Deleted {
				deletedBindings <- rb.Namespace + "/" + rb.Name
			}
		}
	}()
	for _, file := range staged {
		g.Expect(env.ApplyManifestFile(ctx, file)).To(gomega.Succeed())
	}
	_, stop, err = env.StartManager(ctx, testenv.TestConfig())
	g.Expect(err).NotTo(gomega.HaveOccurred())
	defer stop()

	t.Run("the tenant stays Ready and nobody loses a binding", func(t *testing.T) {
		g := gomega.NewWithT(t)
		g.Eventually(func() bool {
			ns := &corev1.Namespace{}
			return env.Admin.Get(ctx, client.ObjectKey{Name: "legacy-prod"}, ns) == nil &&
				ns.Annotations[platformv1alpha1.TenantUIDAnnotation] == uidOf(g, env) && ready(env, "legacy")()
		}, time.Minute).Should(gomega.BeTrue(), "the namespaces the live Tenant held were not recorded as its own")
		g.Consistently(deletedBindings, 2*time.Second).ShouldNot(gomega.Receive(), "a binding was removed by the upgrade")
		g.Expect(bindings(g, env)).To(gomega.Equal(bindingUIDs), "a binding was replaced by the upgrade")
	})

	t.Run("the data key keeps its material and is recorded as the tenant's", func(t *testing.T) {
		g := gomega.NewWithT(t)
		after := &corev1.Secret{}
		g.Expect(env.Admin.Get(ctx, keyName, after)).To(gomega.Succeed())
		g.Expect(after.UID).To(gomega.Equal(canonical.UID))
		g.Expect(after.Data).To(gomega.Equal(canonical.Data))
		g.Expect(after.Annotations).To(gomega.HaveKeyWithValue(platformv1alpha1.TenantUIDAnnotation, uidOf(g, env)))
	})

	t.Run("a namespace an earlier Tenant of the name retained is not handed over", func(t *testing.T) {
		g := gomega.NewWithT(t)
		old := &corev1.Namespace{}
		g.Expect(env.Admin.Get(ctx, client.ObjectKey{Name: "legacy-old"}, old)).To(gomega.Succeed())
		g.Expect(old.Labels).To(gomega.HaveKeyWithValue(platformv1alpha1.OrphanedLabel, "true"))
		g.Expect(old.Annotations).NotTo(gomega.HaveKey(platformv1alpha1.TenantUIDAnnotation))
		g.Expect(old.DeletionTimestamp).To(gomega.BeNil())
	})

	t.Run("what runs keeps running; the new refusals apply to new requests", func(t *testing.T) {
		g := gomega.NewWithT(t)
		g.Consistently(podsOf(env, gpu), 2*time.Second).Should(gomega.HaveLen(1), "the GPU pod was removed by the upgrade")
		pod := podsOf(env, gpu)()[0].DeepCopy()
		pod.Name, pod.ResourceVersion, pod.UID, pod.OwnerReferences = "another-gpu-pod", "", "", nil
		err := env.Admin.Create(ctx, pod, client.DryRunAll)
		g.Expect(err).To(gomega.HaveOccurred())
		g.Expect(err.Error()).To(gomega.ContainSubstring("ValidatingAdmissionPolicy 'tenantai-pods'"))
		g.Expect(err.Error()).To(gomega.ContainSubstring("the pod requests nvidia.com/gpu, which this tenant is not granted"))

		svc := &corev1.Service{}
		g.Expect(env.Admin.Get(ctx, client.ObjectKeyFromObject(nodePort), svc)).To(gomega.Succeed())
		svc.Labels = map[string]string{"edited": "after-upgrade"}
		g.Expect(env.Admin.Update(ctx, svc)).To(gomega.Succeed(), "a NodePort Service of the previous release cannot be edited")
		// The quota's count was the previous release's grant; it still is (one each).
		second := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "legacy-dev", Name: "edge-2"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 8000}}}}
		g.Expect(env.Admin.Create(ctx, second, client.DryRunAll)).To(gomega.Succeed())
	})

	t.Run("Jobs above the new count default stay; new ones wait until fewer remain", func(t *testing.T) {
		g := gomega.NewWithT(t)
		g.Eventually(func() string {
			rq := &corev1.ResourceQuota{}
			_ = env.Admin.Get(ctx, client.ObjectKey{Namespace: "legacy-prod", Name: naming.ResourceQuota}, rq)
			used := rq.Status.Used["count/jobs.batch"]
			return used.String()
		}).Should(gomega.Equal("30"), "kube-controller-manager to count the Jobs of the previous release")
		jobs := &batchv1.JobList{}
		g.Expect(env.Admin.List(ctx, jobs, client.InNamespace("legacy-prod"))).To(gomega.Succeed())
		g.Expect(jobs.Items).To(gomega.HaveLen(30), "the upgrade removed Jobs")
		err := env.Admin.Create(ctx, suspendedJob("legacy-prod", "one-more"), client.DryRunAll)
		g.Expect(err).To(gomega.HaveOccurred())
		g.Expect(err.Error()).To(gomega.ContainSubstring("exceeded quota: " + naming.ResourceQuota + ", requested: count/jobs.batch=1"))
	})

	t.Run("at rest after the upgrade, a reconcile writes nothing", func(t *testing.T) {
		g := gomega.NewWithT(t)
		g.Eventually(func() []string {
			env.Writes.Reset()
			time.Sleep(time.Second)
			return env.Writes.Writes()
		}, time.Minute).Should(gomega.BeEmpty())
	})
}

// stripCountDefaults removes the object counts this release adds to the
// tenant's ResourceQuotas, as the previous release wrote them.
func stripCountDefaults(g gomega.Gomega, env *testenv.Env, admin client.Client) {
	ctx := context.Background()
	list := &corev1.ResourceQuotaList{}
	g.Expect(env.Admin.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: "legacy"})).To(gomega.Succeed())
	for i := range list.Items {
		rq := &list.Items[i]
		for key := range platformv1alpha1.DefaultObjectCounts() {
			delete(rq.Spec.Hard, key)
		}
		g.Expect(admin.Update(ctx, rq)).To(gomega.Succeed())
	}
}

func suspendedJob(namespace, name string) *batchv1.Job {
	pod := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "work", Image: "example.com/work:1"}}}
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: batchv1.JobSpec{Suspend: ptr.To(true), Template: corev1.PodTemplateSpec{Spec: pod}}}
}

// stripNewRecords removes what this release records from the objects an
// operator made, leaving them as the previous release left them.
func stripNewRecords(t *testing.T, g gomega.Gomega, env *testenv.Env, admin client.Client) {
	t.Helper()
	ctx := context.Background()
	managed := client.MatchingLabels{platformv1alpha1.TenantLabel: "legacy"}
	lists := []client.ObjectList{&corev1.NamespaceList{}, &corev1.SecretList{}, &corev1.ConfigMapList{},
		&corev1.LimitRangeList{}, &corev1.ResourceQuotaList{}, &networkingv1.NetworkPolicyList{}, &rbacv1.RoleBindingList{}}
	stripped := 0
	for _, list := range lists {
		g.Expect(env.Admin.List(ctx, list, managed)).To(gomega.Succeed())
		items, err := metaItems(list)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		for _, o := range items {
			annotations := o.GetAnnotations()
			changed := false
			for _, key := range newRecords {
				if _, ok := annotations[key]; ok {
					delete(annotations, key)
					changed = true
				}
			}
			if !changed {
				continue
			}
			o.SetAnnotations(annotations)
			g.Expect(admin.Update(ctx, o)).To(gomega.Succeed(), "stripping %T %s", o, o.GetName())
			stripped++
		}
	}
	if stripped < 10 {
		t.Fatalf("stripped the new records from %d objects only: the fixture is not the previous release's", stripped)
	}
}

// removeStagedBindings uninstalls the admission policies this release adds
// (the previous release had none of them) and returns their files.
func removeStagedBindings(t *testing.T, g gomega.Gomega, env *testenv.Env) []string {
	t.Helper()
	ctx := context.Background()
	list := &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{}
	g.Expect(env.Admin.List(ctx, list, client.MatchingLabels{"platform.tenantai.io/staged": "true"})).To(gomega.Succeed())
	g.Expect(len(list.Items)).To(gomega.BeNumerically(">=", 6))
	files := map[string]bool{}
	for i := range list.Items {
		g.Expect(env.Admin.Delete(ctx, &list.Items[i])).To(gomega.Succeed())
		files[env.Root+"/config/policies/"+strings.TrimPrefix(list.Items[i].Name, "tenantai-")+".yaml"] = true
	}
	out := []string{}
	for f := range files {
		out = append(out, f)
	}
	// Bindings disappear from admission a moment after their deletion.
	time.Sleep(2 * time.Second)
	return out
}

func gpuDeployment() *appsv1.Deployment {
	labels := map[string]string{"app": "trainer"}
	one := resource.MustParse("1")
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "legacy-prod", Name: "trainer"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{Name: "train", Image: "example.com/train:1",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/gpu": one}, Limits: corev1.ResourceList{"nvidia.com/gpu": one}},
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
				},
			},
		},
	}
}

func podsOf(env *testenv.Env, d *appsv1.Deployment) func() []corev1.Pod {
	return func() []corev1.Pod {
		list := &corev1.PodList{}
		if err := env.Admin.List(context.Background(), list, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
			return nil
		}
		return list.Items
	}
}

func ready(env *testenv.Env, name string) func() bool {
	return func() bool {
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
			return false
		}
		for _, c := range tn.Status.Conditions {
			if c.Type == platformv1alpha1.ConditionReady {
				return c.Status == metav1.ConditionTrue && tn.Status.ObservedGeneration == tn.Generation
			}
		}
		return false
	}
}

func uidOf(g gomega.Gomega, env *testenv.Env) string {
	tn := &platformv1alpha1.Tenant{}
	g.Expect(env.Admin.Get(context.Background(), client.ObjectKey{Name: "legacy"}, tn)).To(gomega.Succeed())
	return string(tn.UID)
}

// bindings maps the tenant's RoleBindings to their UIDs.
func bindings(g gomega.Gomega, env *testenv.Env) map[string]string {
	list := &rbacv1.RoleBindingList{}
	g.Expect(env.Admin.List(context.Background(), list, client.MatchingLabels{platformv1alpha1.TenantLabel: "legacy"})).To(gomega.Succeed())
	out := map[string]string{}
	for _, rb := range list.Items {
		out[rb.Namespace+"/"+rb.Name] = string(rb.UID)
	}
	return out
}

func metaItems(list client.ObjectList) ([]client.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(items))
	for _, item := range items {
		out = append(out, item.(client.Object))
	}
	return out, nil
}
