package plugin_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/plugin"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// Tenant gamma runs its own workloads; it is apart from acme so that the
// tables of the other tests do not change.
const (
	gammaNS = "gamma-batch"
	// gammaAdmin owns gamma (tenant-admin) and creates the workloads.
	gammaAdmin = "gail@gamma.example"
	// gammaViewer holds tenant-viewer in gamma's namespace.
	gammaViewer = "val@gamma.example"
)

// gammaWorkloadsTable is `kubectl tenantai workloads -n gamma-batch` once
// every refusal happened (generated pod names replaced): gamma's namespace
// has 2 GPUs; Job train asks for 3 pods of 1 GPU at once, so 2 run and the
// job controller's third pod is refused by quota; the StatefulSet's pod is
// refused by quota too (the Job holds both GPUs); the Deployment's pods are
// refused by the policy tenantai-pods (NVIDIA_VISIBLE_DEVICES through env).
const gammaWorkloadsTable = `NAME                   PODS                             WHY
CronJob/nightly        no active job, never scheduled   Suspended: spec.suspend is true: no Job is created until it is unset
Deployment/envy        0/2                              FailedCreate: Error creating: pods "envy-<generated>" is forbidden: ValidatingAdmissionPolicy 'tenantai-pods' with binding 'tenantai-pods' denied request: the pod sets NVIDIA_VISIBLE_DEVICES through env: the container runtime would show it GPUs it did not request; request GPUs as resources instead
Job/train              0/3 (2 active)                   FailedCreate: Error creating: pods "train-<generated>" is forbidden: exceeded quota: tenantai-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2
StatefulSet/notebook   0/1                              FailedCreate: Create Pod notebook-0 in StatefulSet notebook failed error: pods "notebook-0" is forbidden: exceeded quota: tenantai-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2
`

// generatedWorkloadPod is the random part of a pod name in a refusal.
var generatedWorkloadPod = regexp.MustCompile(`pods "(envy|train)-[a-z0-9-]+"`)

// combinedEvents is what the Event recorder puts before the message once it
// has seen 10 similar Events (the replicaset controller retries fast):
// whether it is there depends on timing.
const combinedEvents = "(combined from similar events): "

// stableWorkloads replaces generated pod names and drops the recorder's
// prefix of combined Events, so that a table with refusals can be compared
// whole.
func stableWorkloads(s string) string {
	return strings.ReplaceAll(generatedWorkloadPod.ReplaceAllString(s, `pods "$1-<generated>"`), combinedEvents, "")
}

// TestWorkloads: the tenant's own workloads, created by its admin, and why
// their pods wait, as the API server refused them to the job, replicaset
// and statefulset controllers (seen only in their FailedCreate Events); as
// a table, a JSON and a YAML document, as the tenant's viewer; and, when
// quota frees, the Job runs the rest and WHY clears.
func TestWorkloads(t *testing.T) {
	c, g := setup(t)
	ctx := context.Background()
	createGamma(t, c.env)
	admin, err := c.env.UserClient(gammaAdmin)
	if err != nil {
		t.Fatal(err)
	}

	// The Job first: it takes both GPUs; its third pod is refused.
	train := gpuJob("train", 3)
	createEventually(t, admin, train)
	g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(train), train)).To(gomega.Succeed())
	g.Eventually(func() int32 {
		_ = c.env.Admin.Get(ctx, client.ObjectKeyFromObject(train), train)
		return train.Status.Active
	}).Should(gomega.Equal(int32(2)), "2 of train's pods fit the quota")
	waitForFailedCreate(t, c.env, train)

	envy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: gammaNS, Name: "envy"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "envy"}},
			Template: podTemplate("envy", func(s *corev1.PodSpec) {
				s.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
			})}}
	notebook := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: gammaNS, Name: "notebook"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "notebook"}},
			Template: podTemplate("notebook", requestGPU)}}
	nightly := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: gammaNS, Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *", Suspend: ptr.To(true),
			JobTemplate: batchv1.JobTemplateSpec{Spec: gpuJob("nightly", 1).Spec}}}
	for _, obj := range []client.Object{envy, notebook, nightly} {
		createEventually(t, admin, obj)
	}

	var got string
	if err := poll(func() bool {
		got = stableWorkloads(c.output("workloads", "-n", gammaNS, "--kubeconfig", c.admin)())
		return got == gammaWorkloadsTable
	}); err != nil {
		t.Fatalf("workloads -n %s (-want +got):\n%s", gammaNS, cmp.Diff(gammaWorkloadsTable, got))
	}

	t.Run("JSON and YAML", func(t *testing.T) { workloadsDocuments(t, c) })
	t.Run("every namespace, models apart", func(t *testing.T) { workloadsEverywhere(t, c) })
	t.Run("the tenant's viewer", func(t *testing.T) { workloadsViewer(t, c) })
	t.Run("quota frees", func(t *testing.T) { workloadsQuotaFrees(t, c, admin, train, notebook) })
}

// workloadsDocuments: -o json holds the rows as typed fields, WHY quoting
// the job controller's refusal; -o yaml is the same document.
func workloadsDocuments(t *testing.T, c *cluster) {
	g := eventually(t)
	r := c.run("workloads", "-n", gammaNS, "-o", "json", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	var doc plugin.WorkloadsOutput
	g.Expect(json.Unmarshal([]byte(r.out), &doc)).To(gomega.Succeed())
	g.Expect(doc.Workloads).To(gomega.HaveLen(4))
	byName := map[string]plugin.WorkloadRow{}
	for _, w := range doc.Workloads {
		byName[w.Kind+"/"+w.Name] = w
	}
	train := byName["Job/train"]
	g.Expect(train.Why).To(gomega.HavePrefix("FailedCreate: Error creating: pods \"train-"))
	g.Expect(train.Why).To(gomega.ContainSubstring("exceeded quota: tenantai-quota"))
	g.Expect(train.Why).To(gomega.ContainSubstring("requested: requests.nvidia.com/gpu=1"))
	train.Why = ""
	if diff := cmp.Diff(plugin.WorkloadRow{Namespace: gammaNS, Kind: plugin.KindJob, Name: "train",
		Job: &plugin.JobCounts{Completions: ptr.To[int32](3), Parallelism: 3, Active: 2}}, train); diff != "" {
		t.Errorf("Job train as JSON (-want +got):\n%s", diff)
	}
	envy := byName["Deployment/envy"]
	g.Expect(envy.Why).To(gomega.ContainSubstring("ValidatingAdmissionPolicy 'tenantai-pods'"))
	g.Expect(envy.Why).To(gomega.ContainSubstring("NVIDIA_VISIBLE_DEVICES"))
	g.Expect(envy.Replicas).To(gomega.Equal(&plugin.ReplicaCounts{Desired: 2}))
	g.Expect(byName["StatefulSet/notebook"].Replicas).To(gomega.Equal(&plugin.ReplicaCounts{Desired: 1}))
	g.Expect(byName["CronJob/nightly"].CronJob).To(gomega.Equal(&plugin.CronJobState{Schedule: "0 2 * * *", Suspended: true}))

	r = c.run("workloads", "-n", gammaNS, "-o", "yaml", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	var fromYAML plugin.WorkloadsOutput
	g.Expect(yaml.Unmarshal([]byte(r.out), &fromYAML)).To(gomega.Succeed())
	g.Expect(fromYAML.Workloads).To(gomega.HaveLen(4))
	g.Expect(fromYAML.Workloads[2].Kind + "/" + fromYAML.Workloads[2].Name).To(gomega.Equal("Job/train"))
	g.Expect(fromYAML.Workloads[2].Job).To(gomega.Equal(byName["Job/train"].Job))
}

// workloadsEverywhere: -A adds the NAMESPACE column; the Deployments of
// acme's models (managed by tenantai) are not listed: `models` shows them.
// (Compared by cells: another test's namespace may still be going away.)
func workloadsEverywhere(t *testing.T, c *cluster) {
	g := eventually(t)
	r := c.run("workloads", "-A", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	rows := cells(stableWorkloads(r.out))
	g.Expect(rows[0]).To(gomega.Equal([]string{"NAMESPACE", "NAME", "PODS", "WHY"}))
	var gamma [][]string
	for _, row := range rows {
		switch {
		case row[0] == "NAMESPACE" || row[0] == gammaNS:
			gamma = append(gamma, row[1:])
		case strings.HasPrefix(row[0], "acme-"):
			t.Errorf("a model's Deployment is listed: %q", row)
		}
	}
	g.Expect(gamma).To(gomega.Equal(cells(gammaWorkloadsTable)))

	r = c.run("workloads", "-n", "acme-prod", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	g.Expect(r.out).To(gomega.BeEmpty())
	g.Expect(r.errOut).To(gomega.Equal(
		"No workloads found in namespace \"acme-prod\" (a ModelDeployment's Deployments: kubectl tenantai models).\n"))
}

// eventually is a Gomega whose Eventually waits as long as the fixture's.
func eventually(t *testing.T) gomega.Gomega {
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(interval)
	return g
}

// workloadsViewer: gamma's viewer reads its namespace's workloads; across
// every namespace, or in another tenant's, the read is refused with what to
// run instead.
func workloadsViewer(t *testing.T, c *cluster) {
	g := eventually(t)
	as := []string{"--kubeconfig", c.admin, "--as", gammaViewer}
	g.Eventually(func() string {
		return stableWorkloads(c.output(append([]string{"workloads", "-n", gammaNS}, as...)...)())
	}).Should(gomega.Equal(gammaWorkloadsTable))

	refusals := map[string]struct {
		args []string
		want string
	}{
		"every namespace": {[]string{"workloads", "-A"},
			`cannot read Deployments in any namespace: deployments.apps is forbidden: User "val@gamma.example" cannot list resource "deployments" in API group "apps" at the cluster scope; the tenant roles grant reads per namespace: use -n <namespace>`},
		"another tenant's namespace": {[]string{"workloads", "-n", "acme-prod"},
			`cannot read Deployments in namespace "acme-prod": deployments.apps is forbidden: User "val@gamma.example" cannot list resource "deployments" in API group "apps" in the namespace "acme-prod"; you hold no tenant role in that namespace: check -n, or ask the tenant's owners`},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			r := c.run(append(tc.args, as...)...)
			if r.err == nil || r.err.Error() != tc.want {
				t.Errorf("error = %v\nwant    %s", r.err, tc.want)
			}
			if r.out != "" {
				t.Errorf("printed %q on a refused read", r.out)
			}
		})
	}
}

// workloadsQuotaFrees: once the StatefulSet is gone and one of train's pods
// has succeeded (as a kubelet would report it), quota admission accepts the
// third pod: the Job runs it, and nothing holds it back any more, whatever
// FailedCreate Events remain.
func workloadsQuotaFrees(t *testing.T, c *cluster, admin client.Client, train *batchv1.Job, notebook *appsv1.StatefulSet) {
	g := eventually(t)
	g.SetDefaultEventuallyTimeout(2 * timeout) // the job controller's retries back off
	ctx := context.Background()
	g.Expect(admin.Delete(ctx, notebook)).To(gomega.Succeed())
	pods := &corev1.PodList{}
	g.Expect(c.env.Admin.List(ctx, pods, client.InNamespace(gammaNS), client.MatchingLabels{"batch.kubernetes.io/job-name": train.Name})).To(gomega.Succeed())
	g.Expect(pods.Items).To(gomega.HaveLen(2))
	done := &pods.Items[0]
	done.Status.Phase = corev1.PodSucceeded
	done.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	g.Expect(c.env.Admin.Status().Update(ctx, done)).To(gomega.Succeed())

	g.Eventually(func() [][]string { return cells(c.output("workloads", "-n", gammaNS, "--kubeconfig", c.admin)()) }).
		Should(gomega.ContainElement([]string{"Job/train", "1/3 (2 active)", "-"}))
}

// createGamma creates Tenant gamma (namespace batch; gail owns it, val
// views it) with a TenantQuota of 2 GPUs and 10 pods, waits until quota
// admission enforces it and the policy grants nvidia.com/gpu, and removes
// it all when the test ends.
func createGamma(t *testing.T, env *testenv.Env) {
	t.Helper()
	ctx := context.Background()
	gamma := MakeTenant("gamma").Namespaces("batch").Owner(platformv1alpha1.SubjectUser, gammaAdmin).
		Member(platformv1alpha1.SubjectUser, gammaViewer, "", platformv1alpha1.RoleViewer).
		DeletionPolicy(platformv1alpha1.DeletionDelete).Obj()
	quota := MakeTenantQuota("gamma").Hard("requests.nvidia.com/gpu", "2").Hard("pods", "10").Obj()
	for _, obj := range []client.Object{gamma, quota} {
		if err := env.Admin.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	// Deleting the Tenant deletes its namespace (deletionPolicy Delete): wait
	// until it is gone, so that other tests never see its workloads.
	t.Cleanup(func() {
		if err := poll(func() bool {
			return apierrors.IsNotFound(env.Admin.Get(ctx, client.ObjectKey{Name: gammaNS}, &corev1.Namespace{}))
		}); err != nil {
			t.Errorf("namespace %s is still there: %v", gammaNS, err)
		}
	})
	t.Cleanup(func() { deleteAndWait(t, env, gamma) })
	t.Cleanup(func() { deleteAndWait(t, env, quota) })
	err := poll(func() bool {
		rq, cm := &corev1.ResourceQuota{}, &corev1.ConfigMap{}
		return env.Admin.Get(ctx, client.ObjectKey{Namespace: gammaNS, Name: naming.ResourceQuota}, rq) == nil &&
			rq.Status.Hard.Name("requests.nvidia.com/gpu", resource.DecimalSI).Value() == 2 &&
			env.Admin.Get(ctx, client.ObjectKey{Namespace: gammaNS, Name: naming.PolicyConfigMap}, cm) == nil &&
			cm.Data[naming.PolicyAccelerators] == "nvidia.com/gpu"
	})
	if err != nil {
		t.Fatalf("gamma's quota and grants in %s: %v", gammaNS, err)
	}
}

// podTemplate is a pod template that Pod Security restricted admits,
// changed by mutate.
func podTemplate(app string, mutate func(*corev1.PodSpec)) corev1.PodTemplateSpec {
	pod := restrictedPod(app)
	if mutate != nil {
		mutate(&pod.Spec)
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: pod.Spec}
}

// requestGPU asks for 1 nvidia.com/gpu (an extended resource: request and
// limit equal).
func requestGPU(s *corev1.PodSpec) {
	one := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	s.Containers[0].Resources = corev1.ResourceRequirements{Requests: one, Limits: one.DeepCopy()}
}

// gpuJob is a Job of n pods at once (and n completions) of 1 GPU each.
func gpuJob(name string, n int32) *batchv1.Job {
	template := podTemplate(name, requestGPU)
	template.Spec.RestartPolicy = corev1.RestartPolicyNever
	template.Labels = nil // the Job controller sets its own
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: gammaNS, Name: name},
		Spec: batchv1.JobSpec{Parallelism: ptr.To(n), Completions: ptr.To(n), BackoffLimit: ptr.To[int32](0), Template: template}}
}

// waitForFailedCreate waits for the job controller's FailedCreate Event on
// job: the API server's refusal of a pod, which only the Event records.
func waitForFailedCreate(t *testing.T, env *testenv.Env, job *batchv1.Job) {
	t.Helper()
	var events []eventsv1.Event
	err := poll(func() bool {
		var err error
		events, err = env.EventsAbout(context.Background(), job)
		if err != nil {
			return false
		}
		for _, ev := range events {
			if ev.Reason == "FailedCreate" && strings.Contains(ev.Note, "exceeded quota: tenantai-quota") {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no FailedCreate Event on Job %s (events: %v): %v", job.Name, testenv.Summarize(events), err)
	}
}
