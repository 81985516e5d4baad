package plugin_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/onsi/gomega"
	"github.com/onsi/gomega/format"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/plugin"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestMain runs the operator and kube-controller-manager with its quota,
// Deployment, ReplicaSet, Job and StatefulSet controllers: model and workload
// pods are really created, really counted in ResourceQuota status.used and
// really refused by quota admission and the admission policies (the refusals
// of a controller's pods recorded in its FailedCreate Events), so the tables
// below show what a cluster shows.
func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	format.TruncatedDiff = false
	testenv.Main(m, testenv.Options{ControllerManager: true, ExtraControllers: "deployment,replicaset,job,statefulset",
		Setup: func(env *testenv.Env) (func(), error) {
			_, stop, err := env.StartManager(context.Background(), testenv.TestConfig())
			if err != nil {
				return nil, err
			}
			dir, err := writeKubeconfigs(env)
			return func() { stop(); _ = os.RemoveAll(dir) }, err
		}})
}

const (
	timeout  = 60 * time.Second
	interval = 200 * time.Millisecond

	// viewer is acme's tenant-viewer member.
	viewer = "vera@acme.example"
)

// cluster is what every test reads: kubeconfigs for the admin and for acme's
// viewer, and the clock the AGE column is computed against.
type cluster struct {
	env             *testenv.Env
	admin, asViewer string
	now             time.Time
}

var (
	shared      cluster
	fixtureOnce sync.Once
	fixtureErr  error
)

// writeKubeconfigs writes the kubeconfig files the plugin is run with, as a
// user would pass them with --kubeconfig.
func writeKubeconfigs(env *testenv.Env) (string, error) {
	dir, err := os.MkdirTemp("", "tenantai-plugin-")
	if err != nil {
		return "", err
	}
	shared.env = env
	shared.admin = filepath.Join(dir, "admin.kubeconfig")
	if err := testenv.WriteKubeconfig(shared.admin, env.AdminConfig); err != nil {
		return dir, err
	}
	viewerConfig, err := env.UserConfig(viewer)
	if err != nil {
		return dir, err
	}
	shared.asViewer = filepath.Join(dir, "viewer.kubeconfig")
	return dir, testenv.WriteKubeconfig(shared.asViewer, viewerConfig)
}

// setup creates (once per package) the objects the tests read:
//
//   - Tenant acme (namespaces prod and dev, viewer vera@acme.example) with a
//     Static TenantQuota, so each namespace's share is exact;
//   - acme-prod/chat: 3 replicas of 1 GPU, 1500m CPU, 8Gi, with a canary at
//     weight 25 (2 stable + 1 canary pods, marked Ready as a kubelet would);
//   - acme-dev/big: 3 replicas of 1 GPU where the namespace has 2 (the third
//     pod is refused by quota admission);
//   - Tenant beta, with no TenantQuota (Ready False, WaitingForQuota).
func setup(t *testing.T) (*cluster, gomega.Gomega) {
	t.Helper()
	env := testenv.Require(t)
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(interval)
	fixtureOnce.Do(func() { fixtureErr = createFixture(env) })
	if fixtureErr != nil {
		t.Fatalf("fixture: %v", fixtureErr)
	}
	return &shared, g
}

func createFixture(env *testenv.Env) error {
	ctx := context.Background()
	gpu := func(cpu, memory string) corev1.ResourceList {
		return corev1.ResourceList{
			"nvidia.com/gpu": resource.MustParse("1"), corev1.ResourceCPU: resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(memory),
		}
	}
	objs := []client.Object{
		MakeTenant("acme").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectGroup, "acme-admins").
			Member(platformv1alpha1.SubjectUser, viewer, "", platformv1alpha1.RoleViewer).Obj(),
		MakeTenantQuota("acme").Hard("requests.nvidia.com/gpu", "8").Hard("requests.cpu", "40").
			Hard("requests.memory", "64Gi").Hard("pods", "20").
			Static("prod", resourceList("requests.nvidia.com/gpu", "6", "requests.cpu", "30", "requests.memory", "48Gi", "pods", "15")).
			Static("dev", resourceList("requests.nvidia.com/gpu", "2", "requests.cpu", "10", "requests.memory", "16Gi", "pods", "5")).Obj(),
		MakeTenant("beta").Namespaces("prod").Obj(),
	}
	for _, obj := range objs {
		if err := env.Admin.Create(ctx, obj); err != nil {
			return err
		}
	}
	if err := poll(func() bool { return tenantReady(env, "acme") }); err != nil {
		return fmt.Errorf("tenant acme never became Ready: %w", err)
	}
	models := []client.Object{
		MakeModelDeployment("acme-prod", "chat").Version("v1").Canary("v2", 25).Replicas(3).
			Requests(gpu("1500m", "8Gi")).Limits(gpu("2", "8Gi")).Obj(),
		MakeModelDeployment("acme-dev", "big").Version("v1").Replicas(3).
			Requests(gpu("1", "4Gi")).Limits(gpu("1", "4Gi")).Obj(),
	}
	for _, obj := range models {
		if err := env.Admin.Create(ctx, obj); err != nil {
			return err
		}
	}
	// No kubelet runs: mark chat's pods Ready as one would, so chat serves.
	if err := poll(func() bool { return markPodsReady(ctx, env, "acme-prod", "chat") == 3 }); err != nil {
		return fmt.Errorf("chat's 3 pods: %w", err)
	}
	// The AGE column is computed against a clock ten minutes after the
	// newest tenant was created.
	for _, name := range []string{"acme", "beta"} {
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: name}, tn); err != nil {
			return err
		}
		if at := tn.CreationTimestamp.Add(10 * time.Minute); at.After(shared.now) {
			shared.now = at
		}
	}
	return nil
}

// poll waits for cond for up to the test timeout.
func poll(cond func() bool) error {
	return wait.PollUntilContextTimeout(context.Background(), interval, timeout, true,
		func(context.Context) (bool, error) { return cond(), nil })
}

func resourceList(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func tenantReady(env *testenv.Env, name string) bool {
	tn := &platformv1alpha1.Tenant{}
	if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
		return false
	}
	for _, c := range tn.Status.Conditions {
		if c.Type == platformv1alpha1.ConditionReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// markPodsReady sets the Ready condition on a model's pods, as a kubelet
// would once their containers run, and returns how many pods are Ready.
func markPodsReady(ctx context.Context, env *testenv.Env, ns, model string) int {
	pods := &corev1.PodList{}
	if err := env.Admin.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{platformv1alpha1.ModelLabel: model}); err != nil {
		return 0
	}
	ready := 0
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Status.Phase != corev1.PodRunning {
			now := metav1.Now()
			pod.Status.Phase = corev1.PodRunning
			pod.Status.Conditions = []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			}
			if err := env.Admin.Status().Update(ctx, pod); err != nil {
				continue
			}
		}
		ready++
	}
	return ready
}

// result is one run of the plugin.
type result struct {
	out, errOut string
	err         error
}

// run runs the plugin in-process, as `kubectl tenantai <args>` would.
func (c *cluster) run(args ...string) result {
	var out, errOut bytes.Buffer
	cmd := plugin.NewCommand(plugin.Options{
		IOStreams: genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
		Now:       func() time.Time { return c.now },
	})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

// output returns what a successful run printed, or the error as text, so
// that Eventually can wait for a table and show the last one on failure.
func (c *cluster) output(args ...string) func() string {
	return func() string {
		r := c.run(args...)
		if r.err != nil {
			return "error: " + r.err.Error()
		}
		return r.out
	}
}

// generatedPodName is the random suffix of a pod name in a quota refusal.
var generatedPodName = regexp.MustCompile(`pods "big-[a-z0-9]+-[a-z0-9]+"`)

// stablePodNames replaces generated pod names, so that a table with a quota
// refusal can be compared whole.
func stablePodNames(s string) string {
	return generatedPodName.ReplaceAllString(s, `pods "big-<generated>"`)
}
