package security_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// Section J: the workloads tenants run themselves (docs/tenants.md). The
// cases of sections D, H and I again, with the tenant's own identities
// creating real pods through every vehicle a tenant has: a Pod, a Deployment
// (the ReplicaSet controller creates the pods, so the refusal is its
// FailedCreate Event), a Job, a CronJob, an ephemeral container, and exec.
// kube-controller-manager runs the deployment, replicaset, job and cronjob
// controllers (suite_test.go).

const (
	violetNS     = "violet-work"
	violetDev    = "violet-dev"
	violetViewer = "violet-viewer"
	violetRunner = "runner" // a service account named as violet's admin
)

var violetReady bool

// violetTenant makes a tenant for workloads, once: a developer, a viewer and
// a service account admin; quota for 20 pods and no accelerator.
func violetTenant(t *testing.T) {
	t.Helper()
	if violetReady {
		return
	}
	ctx := context.Background()
	tn := MakeTenant("violet").Namespaces("work").Owner(platformv1alpha1.SubjectUser, "violet-owner").
		Member(platformv1alpha1.SubjectUser, violetDev, "", platformv1alpha1.RoleDeveloper).
		Member(platformv1alpha1.SubjectUser, violetViewer, "", platformv1alpha1.RoleViewer).
		Member(platformv1alpha1.SubjectServiceAccount, violetRunner, violetNS, platformv1alpha1.RoleAdmin).Obj()
	quota := MakeTenantQuota("violet").Hard(corev1.ResourcePods, "20").Hard("requests.cpu", "10").Obj()
	for _, o := range []client.Object{tn, quota} {
		if err := env.Admin.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		rq := &corev1.ResourceQuota{}
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: violetNS, Name: naming.ResourceQuota}, rq) == nil &&
			len(rq.Status.Hard) > 0 && rq.Status.Hard.Pods().Value() > 0
	}, "violet's quota to be enforced")
	waitFor(t, func() bool {
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: violetNS, Name: "tenantai-tenant-developer"}, &rbacv1.RoleBinding{}) == nil
	}, "violet's developer RoleBinding")
	violetReady = true
}

// workloadCase is a pod the guardrails refuse, and who refuses it.
type workloadCase struct {
	name   string
	mutate func(*corev1.PodSpec)
	by     mechanism
}

func workloadCases() []workloadCase {
	gpu := resource.MustParse("1")
	return []workloadCase{
		{"D18 privileged", func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.Privileged = ptr.To(true)
			s.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		}, byPodSecurity()},
		{"D18 hostPath", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}, byPodSecurity()},
		{"D19 root", func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot, s.SecurityContext.RunAsUser = ptr.To(false), ptr.To[int64](0)
		}, byPodSecurity()},
		{"H33 nodeName", func(s *corev1.PodSpec) { s.NodeName = "someone-elses-node" },
			withMessage(byPolicy(policyScheduling), "may not set spec.nodeName")},
		{"H33 another pool's toleration", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "pool.example.com/tenant", Operator: corev1.TolerationOpEqual, Value: "green", Effect: corev1.TaintEffectNoSchedule}}
		}, withMessage(byPolicy(policyScheduling), "tenants may tolerate only the taints of their own node pool")},
		{"H34 PriorityClass", func(s *corev1.PodSpec) { s.PriorityClassName = "system-cluster-critical" },
			withMessage(byPolicy(policyScheduling), "PriorityClass system-cluster-critical is not allowed for this tenant (allowed: none)")},
		{"I38 a principal's service account", func(s *corev1.PodSpec) { s.ServiceAccountName = violetRunner },
			withMessage(byPolicy(policyPods), "the pod runs as service account runner, which the Tenant names as an owner or member")},
		{"I43 an ungranted GPU", func(s *corev1.PodSpec) {
			s.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"nvidia.com/gpu": gpu}, Limits: corev1.ResourceList{"nvidia.com/gpu": gpu}}
		}, withMessage(byPolicy(policyPods), "the pod requests nvidia.com/gpu, which this tenant is not granted")},
		{"I47 GPU visibility env", func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
		}, withMessage(byPolicy(policyPods), "through env: the container runtime would show it GPUs it did not request")},
		{"I47 GPU toleration without a GPU", func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		}, withMessage(byPolicy(policyPods), "the pod requests no accelerator but tolerates nvidia.com/gpu")},
	}
}

// workloadTemplate is a restricted-compliant pod template.
func workloadTemplate(app string) corev1.PodTemplateSpec {
	p := compliantPod(app)
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: p.Spec}
}

// vehicle creates the pod spec as the tenant would, and returns the refusal
// the pod met (nil when a pod was created).
type vehicle func(t *testing.T, c client.Client, name string, tpl corev1.PodTemplateSpec) error

func TestJ_TenantWorkloads(t *testing.T) {
	violetTenant(t)
	dev, err := env.UserClient(violetDev)
	if err != nil {
		t.Fatal(err)
	}
	vehicles := map[string]vehicle{"Pod": throughPod, "Deployment": throughDeployment, "Job": throughJob}

	t.Run("negative controls: a compliant pod runs through every vehicle", func(t *testing.T) {
		for kind, create := range vehicles {
			t.Run(kind, func(t *testing.T) {
				t.Parallel()
				name := "ok-" + strings.ToLower(kind)
				if err := create(t, dev, name, workloadTemplate(name)); err != nil {
					t.Fatalf("a compliant pod through a %s was refused: %v", kind, err)
				}
			})
		}
	})

	for i, c := range workloadCases() {
		t.Run(c.name, func(t *testing.T) {
			for kind, create := range vehicles {
				t.Run(kind, func(t *testing.T) {
					t.Parallel()
					tpl := workloadTemplate(fmt.Sprintf("bad-%d-%s", i, strings.ToLower(kind)))
					c.mutate(&tpl.Spec)
					refused(t, create(t, dev, tpl.Labels["app"], tpl), c.by)
				})
			}
		})
	}

	t.Run("a CronJob's pods meet the same guardrails", func(t *testing.T) {
		// One schedule for both: the cronjob controller starts them at the next
		// minute (the case costs up to a minute).
		good, bad := workloadTemplate("cron-ok"), workloadTemplate("cron-bad")
		bad.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
		errs := make(chan error, 2)
		for _, tpl := range []corev1.PodTemplateSpec{good, bad} {
			go func() { errs <- throughCronJob(t, dev, tpl.Labels["app"], tpl) }()
		}
		results := map[bool]error{}
		for range 2 {
			err := <-errs
			results[err == nil] = err
		}
		if _, ok := results[true]; !ok {
			t.Errorf("the compliant CronJob's pod was refused: %v", results[false])
		}
		refused(t, results[false], withMessage(byPolicy(policyPods), "NVIDIA_VISIBLE_DEVICES through env"))
	})

	t.Run("ephemeral containers", func(t *testing.T) {
		ctx := context.Background()
		target := compliantPod("debug-me")
		target.Namespace = violetNS
		if err := dev.Create(ctx, target); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Admin.Delete(ctx, target) })
		debug := func(mutate func(*corev1.EphemeralContainer)) error {
			pod := &corev1.Pod{}
			if err := dev.Get(ctx, client.ObjectKeyFromObject(target), pod); err != nil {
				return err
			}
			ec := corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: fmt.Sprintf("debug-%d", len(pod.Spec.EphemeralContainers)), Image: "example.com/debug:1",
				SecurityContext: target.Spec.Containers[0].SecurityContext.DeepCopy(),
			}}
			mutate(&ec)
			pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, ec)
			return dev.SubResource("ephemeralcontainers").Update(ctx, pod)
		}
		refused(t, debug(func(c *corev1.EphemeralContainer) {
			c.SecurityContext.Privileged, c.SecurityContext.AllowPrivilegeEscalation = ptr.To(true), nil
		}), byPodSecurity())
		refused(t, debug(func(c *corev1.EphemeralContainer) {
			c.Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
		}), withMessage(byPolicy(policyPods), "through env"))
		if err := debug(func(*corev1.EphemeralContainer) {}); err != nil {
			t.Errorf("a compliant debug container was refused: %v", err)
		}
	})

	t.Run("I47 a GPU toleration added to a running pod, by every verb and patch type", func(t *testing.T) {
		ctx := context.Background()
		target := compliantPod("tolerate-later")
		target.Namespace = violetNS
		if err := dev.Create(ctx, target); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Admin.Delete(ctx, target) })
		deny := withMessage(byPolicy(policyPods), "the pod requests no accelerator but tolerates nvidia.com/gpu")
		gpuToleration := `{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}`
		for name, patch := range map[string]client.Patch{
			"merge":     client.RawPatch(types.MergePatchType, []byte(`{"spec":{"tolerations":[`+gpuToleration+`]}}`)),
			"strategic": client.RawPatch(types.StrategicMergePatchType, []byte(`{"spec":{"tolerations":[`+gpuToleration+`]}}`)),
			"json":      client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/tolerations/-","value":`+gpuToleration+`}]`)),
		} {
			refused(t, dev.Patch(ctx, target.DeepCopy(), patch), deny)
			_ = name
		}
		live := &corev1.Pod{}
		if err := dev.Get(ctx, client.ObjectKeyFromObject(target), live); err != nil {
			t.Fatal(err)
		}
		updated := live.DeepCopy()
		updated.Spec.Tolerations = append(updated.Spec.Tolerations,
			corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
		refused(t, dev.Update(ctx, updated), deny)
		refused(t, admin.Update(ctx, updated.DeepCopy(), client.DryRunAll), deny)
		// Negative control: what an update may change otherwise passes.
		live.Labels = map[string]string{"team": "research"}
		if err := dev.Update(ctx, live); err != nil {
			t.Errorf("relabelling a running pod was refused: %v", err)
		}
	})

	t.Run("exec, attach and port-forward", func(t *testing.T) {
		ctx := context.Background()
		target := compliantPod("shell")
		target.Namespace = violetNS
		if err := env.Admin.Create(ctx, target); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Admin.Delete(ctx, target) })
		for _, sub := range []string{"exec", "attach", "portforward"} {
			// The developer passes authorization and admission: the API server
			// then finds no node to stream from (there is no kubelet).
			err := connect(t, violetDev, violetNS, "shell", sub)
			if err == nil || !strings.Contains(err.Error(), "does not have a host assigned") {
				t.Errorf("developer %s: %v, want the API server to find no node (the request was authorized)", sub, err)
			}
			refused(t, connect(t, violetViewer, violetNS, "shell", sub), withMessage(byRBAC(), `cannot create resource "pods/`+sub+`"`))
			// Another tenant's pod: blue's developer holds no role in violet.
			refused(t, connect(t, blueDev, violetNS, "shell", sub), withMessage(byRBAC(), `cannot create resource "pods/`+sub+`"`))
		}
	})

	t.Run("the operator's objects stay the operator's", func(t *testing.T) {
		ctx := context.Background()
		forged := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: violetNS, Name: "forged",
				Labels: map[string]string{"app.kubernetes.io/managed-by": "tenantai"}},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "forged"}},
				Template: workloadTemplate("forged")},
		}
		refused(t, dev.Create(ctx, forged, client.DryRunAll), byPolicy(policyOwned))
		// Scale subresources carry no labels, so they are not granted at all.
		for _, r := range []string{"deployments", "statefulsets"} {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: violetNS, Group: "apps",
					Resource: r, Subresource: "scale", Verb: "update"}}}
			if err := dev.Create(ctx, review); err != nil {
				t.Fatal(err)
			}
			if review.Status.Allowed {
				t.Errorf("the developer may update %s/scale", r)
			}
		}
	})

	t.Run("service-account tokens are not mounted unless the pod asks", func(t *testing.T) {
		ctx := context.Background()
		// envtest runs without the ServiceAccount admission plugin, so the
		// pod arrives carrying the volume that plugin injects (test/e2e checks
		// the real plugin on the local cluster).
		withToken := func(name string) *corev1.Pod {
			p := compliantPod(name)
			p.Namespace = violetNS
			p.Spec.ServiceAccountName = "default"
			p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-x7k2q", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
				{Name: "kube-api-access-x7k2q", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
				{Name: "data", MountPath: "/data"}}
			return p
		}
		plain := withToken("no-token")
		if err := dev.Create(ctx, plain, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if plain.Spec.AutomountServiceAccountToken == nil || *plain.Spec.AutomountServiceAccountToken {
			t.Errorf("automountServiceAccountToken = %v, want false", plain.Spec.AutomountServiceAccountToken)
		}
		if got := volumeNames(plain); got != "data" || mountNames(plain) != "data" {
			t.Errorf("volumes %q, mounts %q: want only the pod's own volume", got, mountNames(plain))
		}
		// Opting in keeps the token; so does a pod outside tenant namespaces.
		optIn := withToken("with-token")
		optIn.Spec.AutomountServiceAccountToken = ptr.To(true)
		if err := dev.Create(ctx, optIn, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		ensureNamespace(t, "unmanaged")
		outside := withToken("outside")
		outside.Namespace = "unmanaged"
		if err := env.Admin.Create(ctx, outside, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*corev1.Pod{optIn, outside} {
			if got := volumeNames(p); got != "kube-api-access-x7k2q,data" || mountNames(p) != got {
				t.Errorf("%s/%s: volumes %q, mounts %q: the token was removed", p.Namespace, p.Name, got, mountNames(p))
			}
		}
	})
}

func volumeNames(p *corev1.Pod) string {
	var out []string
	for _, v := range p.Spec.Volumes {
		out = append(out, v.Name)
	}
	return strings.Join(out, ",")
}

func mountNames(p *corev1.Pod) string {
	var out []string
	for _, m := range p.Spec.Containers[0].VolumeMounts {
		out = append(out, m.Name)
	}
	return strings.Join(out, ",")
}

// connect POSTs to a pod's exec, attach or portforward subresource as user.
func connect(t *testing.T, user, namespace, pod, sub string) error {
	t.Helper()
	cfg, err := env.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := cs.CoreV1().RESTClient().Post().Namespace(namespace).Resource("pods").Name(pod).SubResource(sub)
	if sub != "portforward" {
		req = req.Param("container", "app").Param("stdout", "true")
	}
	if sub == "exec" {
		req = req.Param("command", "sh")
	}
	if sub == "portforward" {
		req = req.Param("ports", "8080")
	}
	return req.Do(context.Background()).Error()
}

func throughPod(t *testing.T, c client.Client, name string, tpl corev1.PodTemplateSpec) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: violetNS, Name: name, Labels: tpl.Labels}, Spec: tpl.Spec}
	if err := c.Create(context.Background(), pod); err != nil {
		return err
	}
	t.Cleanup(func() { _ = env.Admin.Delete(context.Background(), pod) })
	return nil
}

func throughDeployment(t *testing.T, c client.Client, name string, tpl corev1.PodTemplateSpec) error {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: violetNS, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels}, Template: tpl},
	}
	if err := c.Create(context.Background(), d); err != nil {
		t.Fatalf("the developer could not create a Deployment: %v", err)
	}
	cleanup(t, d)
	// The pods are the ReplicaSet's: find it, then its pod or its refusal.
	return podOrRefusal(t, "ReplicaSet", controlledBy(&appsv1.ReplicaSetList{}, d.UID), 30*time.Second)
}

func throughJob(t *testing.T, c client.Client, name string, tpl corev1.PodTemplateSpec) error {
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: violetNS, Name: name},
		Spec:       batchv1.JobSpec{Template: tpl, BackoffLimit: ptr.To[int32](0)},
	}
	if err := c.Create(context.Background(), j); err != nil {
		t.Fatalf("the developer could not create a Job: %v", err)
	}
	cleanup(t, j)
	return podOrRefusal(t, "Job", func() []types.UID { return []types.UID{j.UID} }, 30*time.Second)
}

func throughCronJob(t *testing.T, c client.Client, name string, tpl corev1.PodTemplateSpec) error {
	tpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: violetNS, Name: name},
		Spec: batchv1.CronJobSpec{Schedule: "* * * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tpl, BackoffLimit: ptr.To[int32](0)}}},
	}
	if err := c.Create(context.Background(), cj); err != nil {
		return fmt.Errorf("the developer could not create a CronJob: %w", err)
	}
	cleanup(t, cj)
	return podOrRefusal(t, "Job", controlledBy(&batchv1.JobList{}, cj.UID), 100*time.Second)
}

// controlledBy lists, each time it is called, the UIDs of the objects of
// list's kind in violet's namespace whose controller is owner.
func controlledBy(list client.ObjectList, owner types.UID) func() []types.UID {
	return func() []types.UID {
		_ = env.Admin.List(context.Background(), list, client.InNamespace(violetNS))
		items, _ := meta.ExtractList(list)
		var uids []types.UID
		for _, o := range items {
			if obj, ok := o.(metav1.Object); ok {
				if ref := metav1.GetControllerOf(obj); ref != nil && ref.UID == owner {
					uids = append(uids, obj.GetUID())
				}
			}
		}
		return uids
	}
}

// podOrRefusal waits until an owner (of kind, among owners()) has a pod, or a
// FailedCreate Event; the Event's message is returned as the Forbidden error
// the controller met.
func podOrRefusal(t *testing.T, kind string, owners func() []types.UID, within time.Duration) error {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		uids := owners()
		pods := &corev1.PodList{}
		if err := env.Admin.List(ctx, pods, client.InNamespace(violetNS)); err == nil {
			for _, p := range pods.Items {
				if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == kind && slices.Contains(uids, ref.UID) {
					return nil
				}
			}
		}
		events := &corev1.EventList{}
		if err := env.Admin.List(ctx, events, client.InNamespace(violetNS)); err == nil {
			for _, e := range events.Items {
				if e.Reason == "FailedCreate" && e.InvolvedObject.Kind == kind && slices.Contains(uids, e.InvolvedObject.UID) {
					return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
						Code: 403, Reason: metav1.StatusReasonForbidden, Message: e.Message}}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no pod and no FailedCreate Event for the %s within %s", kind, within)
	return nil
}

// cleanup deletes a workload and its dependents at the end of the test.
func cleanup(t *testing.T, o client.Object) {
	t.Cleanup(func() {
		_ = env.Admin.Delete(context.Background(), o, client.PropagationPolicy(metav1.DeletePropagationBackground))
	})
}
