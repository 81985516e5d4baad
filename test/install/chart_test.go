package install_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// keepPolicy is the annotation that makes `helm uninstall` leave an object.
const keepPolicy = "helm.sh/resource-policy"

// namespaceArgs install or render the chart where it must live.
var namespaceArgs = []string{"--namespace", platformv1alpha1.OperatorNamespace}

// renderChart runs `helm template` with extra arguments (values).
func renderChart(t *testing.T, helm command, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out := helm.run(t, append(append([]string{"template", releaseName, chartDir}, namespaceArgs...), args...)...)
	return objectsOf(t, out)
}

// TestChartRendersWhatInstallYAMLInstalls holds the two install paths to one
// set of objects: with default values the chart renders every object of
// dist/install.yaml but the namespace (Helm's release namespace exists before
// the release), the generated ones identical, the manager Deployment and
// Service with the same spec; and every CRD carries the keep policy.
func TestChartRendersWhatInstallYAMLInstalls(t *testing.T) {
	root := repoRoot(t)
	chart := byKey(t, renderChart(t, helmFor(t, root, nil)))
	install := byKey(t, readObjects(t, root, installYAML))

	namespaceKey := "/Namespace /" + platformv1alpha1.OperatorNamespace
	if install[namespaceKey] == nil {
		t.Fatalf("install.yaml has no %s", namespaceKey)
	}
	delete(install, namespaceKey)
	var missing, extra []string
	for key := range install {
		if chart[key] == nil {
			missing = append(missing, key)
		}
	}
	for key := range chart {
		if install[key] == nil {
			extra = append(extra, key)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("the chart and install.yaml install different objects (run 'make build-installer'):\nonly in install.yaml: %v\nonly in the chart: %v", missing, extra)
	}

	for key, want := range install {
		got := chart[key].DeepCopy()
		switch got.GetKind() {
		case "Deployment", "Service":
			// Hand-written templates: their metadata has Helm's labels.
			if diff := cmp.Diff(want.Object["spec"], got.Object["spec"]); diff != "" {
				t.Errorf("%s: the chart's spec (default values) differs from install.yaml's (-install.yaml +chart):\n%s", key, diff)
			}
		case "CustomResourceDefinition":
			if policy := got.GetAnnotations()[keepPolicy]; policy != "keep" {
				t.Errorf("%s: annotation %s = %q, want keep: helm uninstall would delete the CRD and every Tenant with it", key, keepPolicy, policy)
			}
			unstructured.RemoveNestedField(got.Object, "metadata", "annotations", keepPolicy)
			fallthrough
		default:
			if diff := cmp.Diff(want.Object, got.Object); diff != "" {
				t.Errorf("%s: the chart's generated template differs from install.yaml (run 'make build-installer') (-install.yaml +chart):\n%s", key, diff)
			}
		}
	}
}

// TestChartValues renders the chart with every value changed
// (dist/chart/ci/full-values.yaml) and finds each one where it belongs.
func TestChartValues(t *testing.T) {
	root := repoRoot(t)
	objs := renderChart(t, helmFor(t, root, nil), "--values", chartFullValues)

	deploy := &appsv1.Deployment{}
	fromUnstructured(t, only(t, objs, "Deployment"), deploy)
	pod := deploy.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	manager := pod.Containers[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"replicas", *deploy.Spec.Replicas, int32(3)},
		{"image", manager.Image, "registry.example.com/platform/tenantai:v9.8.7"},
		{"imagePullPolicy", manager.ImagePullPolicy, corev1.PullAlways},
		{"imagePullSecrets", pod.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "registry-credentials"}}},
		{"args", manager.Args, []string{
			"--leader-elect", "--leader-elect-lease-duration=30s", "--leader-elect-renew-deadline=20s", "--leader-elect-retry-period=4s",
			"--metrics-bind-address=0.0.0.0:9443", "--health-probe-bind-address=:9081", "--guardrails=Warn",
			"--zap-log-level=debug", "--max-concurrent-reconciles=8",
		}},
		{"ports", manager.Ports, []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9443}, {Name: "probes", ContainerPort: 9081}}},
		{"resources", manager.Resources, corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		}},
		{"podSecurityContext.runAsUser", *pod.SecurityContext.RunAsUser, int64(65532)},
		{"nodeSelector", pod.NodeSelector, map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		{"tolerations", pod.Tolerations, []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
		{"affinity", pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey, "kubernetes.io/hostname"},
		{"priorityClassName", pod.PriorityClassName, "system-cluster-critical"},
		{"podAnnotations", deploy.Spec.Template.Annotations, map[string]string{"example.com/team": "platform"}},
		{"podLabels", deploy.Spec.Template.Labels, map[string]string{
			"app.kubernetes.io/name": "tenantai", "control-plane": "controller-manager", "example.com/cost-center": "ai",
		}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("Deployment %s (-want +got):\n%s", c.name, diff)
		}
	}

	service := &corev1.Service{}
	fromUnstructured(t, only(t, objs, "Service"), service)
	if got := service.Spec.Ports; len(got) != 1 || got[0].Port != 9443 || got[0].TargetPort.String() != "metrics" {
		t.Errorf("metrics Service ports = %+v, want port 9443 to targetPort metrics", got)
	}

	monitor := only(t, objs, "ServiceMonitor")
	if got := monitor.GetLabels()["release"]; got != "prometheus" {
		t.Errorf("ServiceMonitor label release = %q, want prometheus (metrics.serviceMonitor.labels)", got)
	}
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	want := []any{map[string]any{
		"port": "https", "path": "/metrics", "scheme": "https", "interval": "15s", "scrapeTimeout": "5s",
		"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"tlsConfig":       map[string]any{"insecureSkipVerify": true},
	}}
	if diff := cmp.Diff(want, endpoints); diff != "" {
		t.Errorf("ServiceMonitor endpoints (-want +got):\n%s", diff)
	}
}

// stagedActions maps each ValidatingAdmissionPolicyBinding to its
// validationActions, and says which are staged (the guardrails an upgrade
// adds, platform.tenantai.io/staged).
func stagedActions(t *testing.T, objs []*unstructured.Unstructured) (staged, other map[string][]string) {
	t.Helper()
	staged, other = map[string][]string{}, map[string][]string{}
	for _, o := range ofKind(objs, "ValidatingAdmissionPolicyBinding") {
		actions, _, err := unstructured.NestedStringSlice(o.Object, "spec", "validationActions")
		if err != nil {
			t.Fatal(err)
		}
		if o.GetLabels()["platform.tenantai.io/staged"] == "true" {
			staged[o.GetName()] = actions
		} else {
			other[o.GetName()] = actions
		}
	}
	return staged, other
}

// TestStagedGuardrailsWarnFirst: the guardrails an upgrade adds can be
// installed to warn and audit before they refuse (guardrails.mode=Warn, or
// the kustomize component guardrails-warn), with the operator reporting
// instead of deleting; the other policies refuse either way.
func TestStagedGuardrailsWarnFirst(t *testing.T) {
	root := repoRoot(t)
	helm := helmFor(t, root, nil)
	check := func(t *testing.T, objs []*unstructured.Unstructured, want []string, wantArg bool) {
		t.Helper()
		staged, other := stagedActions(t, objs)
		if len(staged) < 6 {
			t.Fatalf("staged bindings: %v, want the six guardrails of this release", staged)
		}
		for name, actions := range staged {
			if diff := cmp.Diff(want, actions); diff != "" {
				t.Errorf("staged binding %s (-want +got):\n%s", name, diff)
			}
		}
		for name, actions := range other {
			if diff := cmp.Diff([]string{"Deny"}, actions); diff != "" {
				t.Errorf("binding %s (-want +got):\n%s", name, diff)
			}
		}
		deploy := &appsv1.Deployment{}
		fromUnstructured(t, only(t, objs, "Deployment"), deploy)
		if got := slices.Contains(deploy.Spec.Template.Spec.Containers[0].Args, "--guardrails=Warn"); got != wantArg {
			t.Errorf("--guardrails=Warn in the manager's args: %v, want %v", got, wantArg)
		}
	}
	t.Run("helm, default", func(t *testing.T) { check(t, renderChart(t, helm), []string{"Deny"}, false) })
	t.Run("helm, guardrails.mode=Warn", func(t *testing.T) {
		check(t, renderChart(t, helm, "--set", "guardrails.mode=Warn"), []string{"Warn", "Audit"}, true)
	})
	t.Run("kustomize component", func(t *testing.T) {
		overlay := filepath.Join(root, ".cache", "test-guardrails-warn")
		if err := os.MkdirAll(overlay, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(overlay) })
		kustomization := "resources:\n- ../../config/default\ncomponents:\n- ../../config/components/guardrails-warn\n"
		if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
			t.Fatal(err)
		}
		kubectl, err := testenv.Binary(root, "kubectl")
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(kubectl, "kustomize", overlay).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, out)
		}
		check(t, objectsOf(t, string(out)), []string{"Warn", "Audit"}, true)
	})
}

// TestChartWithoutMetricsOrLeaderElection renders the chart with both off:
// no Service, no metrics port, metrics disabled by flag, one replica.
func TestChartWithoutMetricsOrLeaderElection(t *testing.T) {
	root := repoRoot(t)
	objs := renderChart(t, helmFor(t, root, nil),
		"--set", "metrics.enabled=false,leaderElection.enabled=false,replicaCount=1,metrics.serviceMonitor.enabled=true")
	if n := len(ofKind(objs, "Service")) + len(ofKind(objs, "ServiceMonitor")); n != 0 {
		t.Errorf("metrics disabled, yet %d metrics Service/ServiceMonitor rendered", n)
	}
	deploy := &appsv1.Deployment{}
	fromUnstructured(t, only(t, objs, "Deployment"), deploy)
	manager := deploy.Spec.Template.Spec.Containers[0]
	if diff := cmp.Diff([]string{"--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=:8081"}, manager.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]corev1.ContainerPort{{Name: "probes", ContainerPort: 8081}}, manager.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
}

// TestChartRefusesMisconfiguration: values that would give a broken install
// fail at render time, with a message that says what to change.
func TestChartRefusesMisconfiguration(t *testing.T) {
	root := repoRoot(t)
	helm := helmFor(t, root, nil)
	cases := map[string]struct {
		args []string
		want string
	}{
		"another namespace": {
			args: []string{"--namespace", "platform"},
			want: `tenantai must be installed in namespace tenantai-system (got "platform"): its admission policies trust exactly ` +
				`system:serviceaccount:tenantai-system:tenantai-controller-manager; use --namespace tenantai-system --create-namespace`,
		},
		"replicas without leader election": {
			args: append([]string{"--set", "leaderElection.enabled=false"}, namespaceArgs...),
			want: "replicaCount is 2 but leaderElection.enabled is false: replicas would reconcile at the same time; " +
				"set replicaCount to 1 or enable leader election",
		},
		"a metrics address without a port": {
			args: append([]string{"--set", "metrics.bindAddress=localhost"}, namespaceArgs...),
			want: `at '/metrics/bindAddress': 'localhost' does not match pattern`,
		},
		"a lease duration that is not a duration": {
			args: append([]string{"--set-string", "leaderElection.leaseDuration=15"}, namespaceArgs...),
			want: `at '/leaderElection/leaseDuration': '15' does not match pattern`,
		},
		"an unknown value": {
			args: append([]string{"--set", "replicas=3"}, namespaceArgs...),
			want: "additional properties 'replicas' not allowed",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := helm.runErr(append([]string{"template", releaseName, chartDir}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; want it refused with %q", tc.args, tc.want)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("helm template %v refused, but not with %q:\n%s", tc.args, tc.want, out)
			}
		})
	}
}

// TestChartPassesOnlyFlagsTheManagerDefines runs the manager binary with the
// arguments the chart renders (defaults and every value set) and -h: an
// unknown flag or a bad value makes it exit 2 before it reaches -h. Nothing
// else runs the chart's arguments: the local cluster fakes the manager's pods.
func TestChartPassesOnlyFlagsTheManagerDefines(t *testing.T) {
	root := repoRoot(t)
	helm := helmFor(t, root, nil)
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd: %v\n%s", err, out)
	}
	for name, values := range map[string][]string{
		"default values":      nil,
		"every value set":     {"--values", chartFullValues},
		"leader election off": {"--set", "leaderElection.enabled=false,replicaCount=1,metrics.enabled=false"},
	} {
		t.Run(name, func(t *testing.T) {
			deploy := &appsv1.Deployment{}
			fromUnstructured(t, only(t, renderChart(t, helm, values...), "Deployment"), deploy)
			args := deploy.Spec.Template.Spec.Containers[0].Args
			out, err := exec.Command(bin, append(slices.Clone(args), "-h")...).CombinedOutput()
			if err != nil {
				t.Fatalf("the manager refuses the chart's arguments %v: %v\n%s", args, err, out)
			}
		})
	}
}

// TestHelmInstallUpgradeUninstall installs the chart with helm into an empty
// API server, upgrades it, and uninstalls it: the CRDs stay, and with them a
// user's Tenant; everything else goes; a new install adopts the kept CRDs.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	testenv.Require(t) // skipped under -short
	// Its own API server: the package's one already holds install.yaml's
	// objects, which helm would refuse to take over.
	env, err := testenv.Start(testenv.Options{SkipInstall: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	ctx := context.Background()
	helm := helmFor(t, env.Root, env)
	kubectl := kubectlFor(t, env)

	helm.run(t, append([]string{"install", releaseName, chartDir, "--create-namespace"}, namespaceArgs...)...)
	rendered := renderChart(t, helm)
	kubectl.run(t, append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, crdRefs()...)...)
	live := liveObjects(t, env, rendered)
	for _, name := range crdNames {
		if policy := live["apiextensions.k8s.io/CustomResourceDefinition /"+name].GetAnnotations()[keepPolicy]; policy != "keep" {
			t.Errorf("installed CRD %s: annotation %s = %q, want keep", name, keepPolicy, policy)
		}
	}
	expectOperatorRBAC(t, env)
	expectForgedNamespaceRefused(t, env)

	helm.run(t, append([]string{"upgrade", releaseName, chartDir, "--set", "replicaCount=3,image.tag=v2.0.0"}, namespaceArgs...)...)
	deploy := &appsv1.Deployment{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: "tenantai-controller-manager"}, deploy); err != nil {
		t.Fatal(err)
	}
	if got := *deploy.Spec.Replicas; got != 3 {
		t.Errorf("after helm upgrade --set replicaCount=3: replicas = %d", got)
	}
	if got := deploy.Spec.Template.Spec.Containers[0].Image; got != "tenantai/tenantai:v2.0.0" {
		t.Errorf("after helm upgrade --set image.tag=v2.0.0: image = %q", got)
	}

	tenant := only(t, readObjects(t, env.Root, "config/samples/platform_v1alpha1_tenant.yaml"), "Tenant")
	if err := env.Admin.Create(ctx, tenant); err != nil {
		t.Fatalf("creating the sample Tenant: %v", err)
	}

	out := helm.run(t, append([]string{"uninstall", releaseName}, namespaceArgs...)...)
	for _, name := range crdNames {
		if kept := "[CustomResourceDefinition] " + name; !strings.Contains(out, kept) {
			t.Errorf("helm uninstall does not report %q as kept:\n%s", kept, out)
		}
	}
	expectKeptAfterUninstall(t, env, tenant)
	for key, obj := range live {
		if obj.GetKind() == "CustomResourceDefinition" {
			continue
		}
		gone := &unstructured.Unstructured{}
		gone.SetGroupVersionKind(obj.GroupVersionKind())
		if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(obj), gone); !apierrors.IsNotFound(err) {
			t.Errorf("%s is still there after helm uninstall (err %v)", key, err)
		}
	}

	// Installing again adopts the kept CRDs (their release annotations match).
	helm.run(t, append([]string{"install", releaseName, chartDir}, namespaceArgs...)...)
	expectKeptAfterUninstall(t, env, tenant)
}

// expectKeptAfterUninstall: the CRDs and the user's Tenant are still there.
func expectKeptAfterUninstall(t *testing.T, env *testenv.Env, tenant *unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, name := range crdNames {
		crd := &unstructured.Unstructured{}
		crd.SetGroupVersionKind(crdGVK)
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			t.Errorf("CRD %s: %v", name, err)
		} else if crd.GetDeletionTimestamp() != nil {
			t.Errorf("CRD %s is being deleted", name)
		}
	}
	got := &platformv1alpha1.Tenant{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: tenant.GetName()}, got); err != nil {
		t.Errorf("Tenant %s: %v", tenant.GetName(), err)
	} else if got.DeletionTimestamp != nil {
		t.Errorf("Tenant %s is being deleted", tenant.GetName())
	}
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("%s: %v", objectKey(u), err)
	}
}
