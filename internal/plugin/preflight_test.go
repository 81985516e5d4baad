package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/plugin"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// The objects TestPreflight creates as a cluster upgraded from an earlier
// release would hold them.
const (
	// legacyUID is the owner UID recorded on delta-old, which an earlier
	// Tenant delta retained.
	legacyUID = "6f1c0c4e-0000-4000-8000-000000000001"
	// auditor holds the built-in view ClusterRole across the cluster: no
	// Secrets, RoleBindings or tenantai kinds.
	auditor = "auditor@example.com"
)

// preflightTable is `kubectl tenantai preflight` on the cluster TestPreflight
// sets up: one finding per rule, compliant objects (acme and beta, the
// NodePort Service granted through delta's TenantQuota, the claim of class
// fast) not listed.
const preflightTable = `CHECK                    NAMESPACE    OBJECT                              FINDING                                                                                                                                                                                      WHAT TO DO
policy-configmap         ghost-prod   ConfigMap/tenantai-policy           missing: every pod and Service created or changed here is refused until the operator publishes tenant ghost's grants; the checks that need them were skipped here                            make sure Tenant ghost exists and is Ready (kubectl get tenant ghost): the operator publishes the ConfigMap in every namespace the Tenant holds; then run preflight again
token-secret             ghost-prod   Secret/old-token                    holds a token of service account deployer that never expires: the operator deletes it (in Warn mode: reports it) and new ones are refused                                                    give its users tokens that expire (TokenRequest: kubectl create token deployer -n ghost-prod), then delete the Secret
system-subject           -            Tenant/relic                        spec.owners names Group system:authenticated: the operator never binds it, and changes to spec.owners are refused while it is there                                                          remove Group system:authenticated from spec.owners; name the tenant's own users or groups
serviceaccount-subject   -            Tenant/relic                        spec.members names ServiceAccount ci-tools/ci, outside the tenant's namespaces (it declares none): every change to this Tenant is refused until it is fixed                                  name a ServiceAccount that lives in one of the tenant's namespaces (relic-<entry>), or remove ci-tools/ci from spec.members
service-externalname     delta-prod   Service/alias                       type ExternalName: refused in tenant namespaces on every create and update (it aliases any DNS name, other tenants' Services and kubernetes.default included)                                replace it with a ClusterIP Service; as it is, it can no longer be changed
service-type             delta-prod   Service/public                      type LoadBalancer is not granted to tenant delta (granted: NodePort): this Service keeps its type, but new LoadBalancer Services are refused                                                 a cluster admin adds LoadBalancer to Tenant delta's spec.exposure.serviceTypes, or change the Service to ClusterIP
storage-class            delta-prod   PersistentVolumeClaim/scratch       StorageClass slow is not allowed for tenant delta (allowed: fast): this claim keeps working, but new claims of that class are refused                                                        a cluster admin lists slow in Tenant delta's spec.storage.classes, or new claims use an allowed class
pod-accelerator          delta-prod   Pod/amd                             requests amd.com/gpu, which tenant delta is not granted (granted accelerators: nvidia.com/gpu): running pods keep running, new ones are refused                                              name it in TenantQuota delta's spec.hard (e.g. requests.amd.com/gpu)
pod-toleration           delta-prod   Pod/tolerant                        tolerates nvidia.com/gpu but requests no accelerator: running pods keep running, new ones are refused (only pods that request an accelerator may run on accelerator nodes)                   remove the toleration, or request the accelerator in resources
pod-gpu-env              delta-prod   Deployment/visible (2 pods)         sets NVIDIA_VISIBLE_DEVICES through env: the container runtime would show it GPUs it did not request; running pods keep running, new ones are refused                                        remove the variable; request GPUs as resources (e.g. nvidia.com/gpu)
pod-serviceaccount       delta-prod   Pod/runner                          runs as service account runner, which Tenant delta names as an owner or member: running pods keep running, new ones are refused (whoever creates pods would hold its role)                   run the pods as another service account, or stop naming runner in Tenant delta
model-gpu-env            delta-prod   ModelDeployment/old                 runtime.env sets NVIDIA_VISIBLE_DEVICES, which the ModelDeployment CRD now refuses: changes to runtime.env are refused until it goes, and so are new pods of this model                      remove it from runtime.env; request GPUs in runtime.resources instead
model-toleration         delta-prod   ModelDeployment/old                 placement.tolerations tolerates nvidia.com/gpu but runtime.resources requests no accelerator, which the ModelDeployment CRD now refuses: changes to its spec are refused until it is fixed   remove the toleration, or request the accelerator in runtime.resources
reserved-rolebinding     ghost-prod   RoleBinding/tenantai-tenant-admin   binds ClusterRole view under a name reserved for tenantai (tenantai-*) without app.kubernetes.io/managed-by=tenantai: the operator deletes it, and new ones are refused                      recreate the binding under a name that does not start with tenantai-, then delete this one
orphaned-namespace       delta-old    Namespace/delta-old                 retained by an earlier Tenant delta (UID 6f1c0c4e-0000-4000-8000-000000000001): the current Tenant delta, another UID, takes it only by adoption                                             if it is the same team's: kubectl annotate tenant delta platform.tenantai.io/adopt-from=6f1c0c4e-0000-4000-8000-000000000001; otherwise leave it retained or delete it
orphaned-namespace       gone-prod    Namespace/gone-prod                 retained from tenant gone by a release that recorded no owner UID: a new Tenant gone takes it only through the annotation platform.tenantai.io/adopt-from=legacy                             if it is the same team's, once Tenant gone exists: kubectl annotate tenant gone platform.tenantai.io/adopt-from=legacy; otherwise leave it retained or delete it
quota-service-grant      -            Tenant/delta                        (informational) TenantQuota delta gives services.nodeports 2, but spec.exposure.serviceTypes does not list NodePort: it stays granted through the quota for compatibility                    add NodePort to spec.exposure.serviceTypes: that field is the grant from now on
16 findings; 1 informational note
`

// TestPreflight: on a cluster where everything complies, preflight finds
// nothing; on one that holds, for every rule, an object made before the
// upgrade's guardrails (created here the ways the cluster still allows:
// break-glass, or with the rule's binding or CRD rule lifted for the
// setup), it lists exactly those objects, as a table, as a JSON document
// that round-trips, with exit status 3 under --fail-on-findings, and for a
// read-only auditor with what it may not list named on stderr.
func TestPreflight(t *testing.T) {
	c, g := setup(t)
	const clean = "no findings: the upgrade refuses nothing that exists\n"
	g.Eventually(c.output("preflight", "--kubeconfig", c.admin)).Should(gomega.Equal(clean),
		"acme (GPU pods granted by its TenantQuota) and beta comply")
	r := c.run("preflight", "--fail-on-findings", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	g.Expect(r.out).To(gomega.Equal(clean))

	createLegacyObjects(t, c.env)
	var got string
	if err := poll(func() bool { got = c.output("preflight", "--kubeconfig", c.admin)(); return got == preflightTable }); err != nil {
		t.Fatalf("preflight (-want +got):\n%s", cmp.Diff(preflightTable, got))
	}

	t.Run("JSON", func(t *testing.T) { preflightJSON(t, c) })
	t.Run("fail on findings", func(t *testing.T) { preflightFailOnFindings(t, c) })
	t.Run("an auditor who may not list everything", func(t *testing.T) { preflightAuditor(t, c) })

	r = c.run("preflight", "-n", "delta-prod", "--kubeconfig", c.admin)
	g.Expect(r.err).To(gomega.MatchError("preflight checks the whole cluster: drop -n/--namespace"))
}

// preflightJSON: -o json holds the table's rows as typed fields, pods
// named, and decodes and encodes back to the same bytes.
func preflightJSON(t *testing.T, c *cluster) {
	g := gomega.NewWithT(t)
	r := c.run("preflight", "-o", "json", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	var doc plugin.PreflightOutput
	g.Expect(json.Unmarshal([]byte(r.out), &doc)).To(gomega.Succeed())
	again, err := json.MarshalIndent(doc, "", "    ")
	g.Expect(err).NotTo(gomega.HaveOccurred())
	g.Expect(string(again)+"\n").To(gomega.Equal(r.out), "the document round-trips")

	g.Expect(doc.Count).To(gomega.Equal(16))
	g.Expect(doc.Informational).To(gomega.Equal(1))
	g.Expect(doc.Unreadable).To(gomega.BeEmpty())
	g.Expect(doc.Findings).To(gomega.HaveLen(strings.Count(preflightTable, "\n")-2), "one finding per table row")
	byCheck := map[string]plugin.PreflightFinding{}
	for _, f := range doc.Findings {
		byCheck[f.Check] = f
	}
	gpuEnv := byCheck["pod-gpu-env"]
	g.Expect(gpuEnv.Pods).To(gomega.HaveLen(2))
	for _, p := range gpuEnv.Pods {
		g.Expect(p).To(gomega.HavePrefix("visible-"))
	}
	gpuEnv.Pods = nil
	want := []plugin.PreflightFinding{
		{Check: "token-secret", Namespace: "ghost-prod", Kind: "Secret", Name: "old-token",
			Finding: "holds a token of service account deployer that never expires: the operator deletes it (in Warn mode: reports it) and new ones are refused",
			Action:  "give its users tokens that expire (TokenRequest: kubectl create token deployer -n ghost-prod), then delete the Secret"},
		{Check: "pod-gpu-env", Namespace: "delta-prod", Kind: "Deployment", Name: "visible",
			Finding: "sets NVIDIA_VISIBLE_DEVICES through env: the container runtime would show it GPUs it did not request; running pods keep running, new ones are refused",
			Action:  "remove the variable; request GPUs as resources (e.g. nvidia.com/gpu)"},
		{Check: "pod-accelerator", Namespace: "delta-prod", Kind: "Pod", Name: "amd", Pods: []string{"amd"},
			Finding: "requests amd.com/gpu, which tenant delta is not granted (granted accelerators: nvidia.com/gpu): running pods keep running, new ones are refused",
			Action:  "name it in TenantQuota delta's spec.hard (e.g. requests.amd.com/gpu)"},
		{Check: "quota-service-grant", Kind: "Tenant", Name: "delta", Informational: true,
			Finding: "TenantQuota delta gives services.nodeports 2, but spec.exposure.serviceTypes does not list NodePort: it stays granted through the quota for compatibility",
			Action:  "add NodePort to spec.exposure.serviceTypes: that field is the grant from now on"},
	}
	got := []plugin.PreflightFinding{byCheck["token-secret"], gpuEnv, byCheck["pod-accelerator"], byCheck["quota-service-grant"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings as JSON (-want +got):\n%s", diff)
	}

	r = c.run("preflight", "-o", "yaml", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	var fromYAML plugin.PreflightOutput
	g.Expect(yaml.Unmarshal([]byte(r.out), &fromYAML)).To(gomega.Succeed())
	var fromJSON plugin.PreflightOutput
	g.Expect(json.Unmarshal(again, &fromJSON)).To(gomega.Succeed())
	if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
		t.Errorf("-o yaml and -o json differ (-json +yaml):\n%s", diff)
	}
}

// preflightFailOnFindings: --fail-on-findings prints the same table and
// ends with exit status 3, in-process and through kubectl with the built
// binary, as a CI job runs it.
func preflightFailOnFindings(t *testing.T, c *cluster) {
	g := gomega.NewWithT(t)
	r := c.run("preflight", "--fail-on-findings", "--kubeconfig", c.admin)
	g.Expect(r.out).To(gomega.Equal(preflightTable))
	g.Expect(r.err).To(gomega.MatchError("16 findings (--fail-on-findings)"))
	g.Expect(plugin.ExitCode(r.err)).To(gomega.Equal(plugin.ExitFindings))

	dir := buildPlugin(t, c)
	stdout, stderr, code := kubectlTenantai(t, c, dir, "preflight", "--fail-on-findings")
	g.Expect(code).To(gomega.Equal(3))
	g.Expect(stdout).To(gomega.Equal(preflightTable))
	g.Expect(stderr).To(gomega.Equal("error: 16 findings (--fail-on-findings)\n"))

	_, stderr, code = kubectlTenantai(t, c, dir, "preflight", "-o", "json")
	g.Expect(code).To(gomega.Equal(0), "without the flag, findings are no failure: %s", stderr)
}

// preflightAuditor: what the caller may not list is named on stderr with
// the checks it skips, and every other check still runs.
func preflightAuditor(t *testing.T, c *cluster) {
	g := gomega.NewWithT(t)
	ctx := context.Background()
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "preflight-auditor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: auditor}}}
	g.Expect(c.env.Admin.Create(ctx, crb)).To(gomega.Succeed())
	t.Cleanup(func() { _ = c.env.Admin.Delete(ctx, crb) })

	forbidden := func(resource, group string) string {
		name := resource
		if group != "" {
			name += "." + group
		}
		return fmt.Sprintf(`%s is forbidden: User "%s" cannot list resource "%s" in API group "%s" at the cluster scope`, name, auditor, resource, group)
	}
	wantWarnings := strings.Join([]string{
		"warning: cannot list secrets: " + forbidden("secrets", "") + "; skipped: token-secret",
		"warning: cannot list rolebindings: " + forbidden("rolebindings", "rbac.authorization.k8s.io") + "; skipped: reserved-rolebinding, release-rolebinding",
		"warning: cannot list tenants: " + forbidden("tenants", "platform.tenantai.io") +
			"; skipped: system-subject, serviceaccount-subject, release-rolebinding, orphaned-namespace, quota-service-grant",
		"warning: cannot list tenantquotas: " + forbidden("tenantquotas", "platform.tenantai.io") + "; skipped: quota-service-grant, quota-count-default",
		"warning: cannot list modeldeployments: " + forbidden("modeldeployments", "platform.tenantai.io") + "; skipped: model-gpu-env, model-toleration",
	}, "\n") + "\n"
	skipped := []string{"token-secret", "reserved-rolebinding", "system-subject", "serviceaccount-subject", "orphaned-namespace",
		"quota-service-grant", "model-gpu-env", "model-toleration"}
	var want strings.Builder
	for _, line := range strings.SplitAfter(preflightTable, "\n") {
		if check, _, _ := strings.Cut(line, " "); line == "" || strings.Contains(line, " findings;") || containsString(skipped, check) {
			continue
		}
		want.WriteString(line)
	}
	want.WriteString("8 findings; 5 resources could not be listed (see the warnings)\n")

	g.Eventually(func() string {
		return c.run("preflight", "--kubeconfig", c.admin, "--as", auditor).errOut
	}).Should(gomega.Equal(wantWarnings), "RBAC caches the new binding")
	r := c.run("preflight", "--kubeconfig", c.admin, "--as", auditor)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	// The columns are narrower without the skipped rows: compare cells.
	g.Expect(cells(r.out)).To(gomega.Equal(cells(want.String())))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cells splits a table into its rows' cells (separated by runs of at least
// three spaces), so that tables of different widths compare.
func cells(table string) [][]string {
	var out [][]string
	for _, line := range strings.Split(strings.TrimSuffix(table, "\n"), "\n") {
		var row []string
		for _, cell := range strings.Split(line, "   ") {
			if cell = strings.TrimSpace(cell); cell != "" {
				row = append(row, cell)
			}
		}
		out = append(out, row)
	}
	return out
}

// buildPlugin builds bin/kubectl-tenantai's main package into a directory
// to put on PATH.
func buildPlugin(t *testing.T, c *cluster) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-tenantai"), "./cmd/kubectl-tenantai")
	build.Dir = c.env.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// kubectlTenantai runs the plugin built into dir through the project's
// kubectl, as a user or a CI job would.
func kubectlTenantai(t *testing.T, c *cluster, dir string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	kubectl, err := testenv.Binary(c.env.Root, "kubectl")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, append(append([]string{"tenantai"}, args...), "--kubeconfig", c.admin)...)
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running kubectl tenantai: %v", err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// createLegacyObjects creates, for every preflight rule, an object the
// upgrade's guardrails would now refuse or change, and removes them all
// when the test ends:
//
//   - Tenant delta (namespace prod, storage class fast, service account
//     runner as a member), later with a TenantQuota that gives
//     services.nodeports and nvidia.com/gpu; in delta-prod, with the
//     bindings tenantai-pods and
//     tenantai-service-types lifted during the setup: an ExternalName and a
//     LoadBalancer Service, a NodePort one (granted through the quota), pods
//     that request amd.com/gpu, tolerate the GPU taint without a GPU, run as
//     runner, and a Deployment of two pods with NVIDIA_VISIBLE_DEVICES; as
//     break-glass (which tenantai-storage exempts), a claim of class slow;
//   - with the CRD rules lifted: ModelDeployment delta-prod/old (GPU env, a
//     GPU toleration without a GPU) and Tenant relic (owner Group
//     system:authenticated, member ServiceAccount ci-tools/ci);
//   - as break-glass, namespaces no live Tenant holds, already released by
//     this release's rules, where the operator repairs nothing: ghost-prod (tenant ghost, no policy ConfigMap, a
//     token Secret and a squatted tenantai-tenant-admin RoleBinding), and
//     the orphans gone-prod (no owner UID) and delta-old (an earlier
//     delta's UID).
func createLegacyObjects(t *testing.T, env *testenv.Env) {
	t.Helper()
	ctx := context.Background()
	breakGlass, err := env.BreakGlass()
	if err != nil {
		t.Fatal(err)
	}
	createDelta(t, env)
	lifted := []string{"tenantai-pods", "tenantai-service-types"}
	liftBindings(t, env, lifted...)
	createDeltaWorkloads(t, env, breakGlass)
	restoreBindings(t, env, lifted...)
	grantDelta(t, env)

	relic := MakeTenant("relic").Owner(platformv1alpha1.SubjectGroup, "system:authenticated").
		Member(platformv1alpha1.SubjectServiceAccount, "ci", "ci-tools", platformv1alpha1.RoleDeveloper).Obj()
	withoutCRDRules(t, env, "tenants.platform.tenantai.io", relic,
		[]string{"may not start with 'system:'", "a ServiceAccount named as an owner or member must live"})
	t.Cleanup(func() { deleteRelic(t, env) })

	old := MakeModelDeployment("delta-prod", "old").Obj()
	old.Spec.Runtime.Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
	old.Spec.Placement = &platformv1alpha1.Placement{Tolerations: []corev1.Toleration{
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}}
	withoutCRDRules(t, env, "modeldeployments.platform.tenantai.io", old,
		[]string{"env names starting with NVIDIA_", "placement.tolerations may tolerate an accelerator taint"})
	t.Cleanup(func() { _ = env.Admin.Delete(ctx, old) })

	createUnheldNamespaces(t, breakGlass)
}

// createDelta creates Tenant delta and waits for the policy ConfigMap the
// operator publishes in delta-prod.
func createDelta(t *testing.T, env *testenv.Env) {
	delta := MakeTenant("delta").Namespaces("prod").Owner(platformv1alpha1.SubjectGroup, "delta-admins").
		Member(platformv1alpha1.SubjectServiceAccount, "runner", "delta-prod", platformv1alpha1.RoleDeveloper).
		DeletionPolicy(platformv1alpha1.DeletionDelete).Obj()
	delta.Spec.Storage = &platformv1alpha1.TenantStorage{Classes: []string{"fast"}}
	if err := env.Admin.Create(context.Background(), delta); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAndWait(t, env, delta) })
	waitForGrants(t, env, func(data map[string]string) bool {
		return data[naming.PolicyServiceAccounts] == "runner" && data[naming.PolicyStorageClasses] == "fast"
	})
}

// grantDelta creates delta's TenantQuota, which grants NodePort (through
// services.nodeports) and nvidia.com/gpu. It comes after the workloads: its
// ResourceQuota holds services.loadbalancers at 0, so the LoadBalancer
// Service predates it, as it would on a cluster that had it first.
func grantDelta(t *testing.T, env *testenv.Env) {
	quota := MakeTenantQuota("delta").Hard("services.nodeports", "2").Hard("requests.nvidia.com/gpu", "2").Obj()
	if err := env.Admin.Create(context.Background(), quota); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteAndWait(t, env, quota) })
	waitForGrants(t, env, func(data map[string]string) bool {
		return data[naming.PolicyServiceTypes] == "NodePort" && data[naming.PolicyAccelerators] == "nvidia.com/gpu"
	})
}

// waitForGrants waits until delta-prod's policy ConfigMap satisfies ok.
func waitForGrants(t *testing.T, env *testenv.Env, ok func(map[string]string) bool) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	err := poll(func() bool {
		return env.Admin.Get(context.Background(), client.ObjectKey{Namespace: "delta-prod", Name: naming.PolicyConfigMap}, cm) == nil && ok(cm.Data)
	})
	if err != nil {
		t.Fatalf("the operator never published delta's grants in delta-prod (last: %v): %v", cm.Data, err)
	}
}

// createDeltaWorkloads creates delta-prod's Services, claims and pods, the
// offending ones while their bindings are lifted.
func createDeltaWorkloads(t *testing.T, env *testenv.Env, breakGlass client.Client) {
	ctx := context.Background()
	port := []corev1.ServicePort{{Name: "http", Port: 80}}
	amd := restrictedPod("amd")
	amd.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"amd.com/gpu": resource.MustParse("1")}
	tolerant := restrictedPod("tolerant")
	tolerant.Spec.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	runner := restrictedPod("runner")
	runner.Spec.ServiceAccountName = "runner"
	visible := restrictedPod("visible")
	visible.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
	deployment := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: "visible"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "visible"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "visible"}}, Spec: visible.Spec}}}
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: "runner"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: "alias"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: "public"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: port, AllocateLoadBalancerNodePorts: ptr.To(false)}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: "nodes"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: port}},
		claimOf("data", "fast"),
		amd, tolerant, runner, deployment,
	} {
		createEventually(t, env.Admin, obj)
	}
	createEventually(t, breakGlass, claimOf("scratch", "slow"))
	err := poll(func() bool {
		pods := &corev1.PodList{}
		return env.Admin.List(ctx, pods, client.InNamespace("delta-prod"), client.MatchingLabels{"app": "visible"}) == nil && len(pods.Items) == 2
	})
	if err != nil {
		t.Fatalf("Deployment visible's 2 pods: %v", err)
	}
}

// createUnheldNamespaces creates, as break-glass, the tenant namespaces no
// live Tenant holds, already released by this release's rules (marked
// access-revoked), so that the operator repairs nothing there: what an admin
// added after the release is what preflight reports.
func createUnheldNamespaces(t *testing.T, breakGlass client.Client) {
	ctx := context.Background()
	namespace := func(name, tenant, uid string, orphaned bool) *corev1.Namespace {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{platformv1alpha1.TenantLabel: tenant},
			Annotations: map[string]string{platformv1alpha1.AccessRevokedAnnotation: "true"}}}
		if orphaned {
			ns.Labels[platformv1alpha1.OrphanedLabel] = "true"
		}
		if uid != "" {
			ns.Annotations[platformv1alpha1.TenantUIDAnnotation] = uid
		}
		return ns
	}
	// A retained namespace keeps its guardrails, the published grants
	// included (here: none).
	policy := func(ns string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.PolicyConfigMap}, Data: map[string]string{
			naming.PolicyServiceTypes: "", naming.PolicyStorageClasses: "", naming.PolicyAccelerators: "",
			naming.PolicyAcceleratorPrefixes: strings.Join(naming.DefaultAcceleratorPrefixes, ","), naming.PolicyServiceAccounts: "",
		}}
	}
	for _, ns := range []*corev1.Namespace{
		namespace("ghost-prod", "ghost", "", false),
		namespace("gone-prod", "gone", "", true),
		namespace("delta-old", "delta", legacyUID, true),
	} {
		if err := breakGlass.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = breakGlass.Delete(ctx, ns) })
	}
	// The token controller deletes a token Secret of a service account that
	// does not exist: create the account first.
	for _, obj := range []client.Object{
		policy("gone-prod"), policy("delta-old"),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ghost-prod", Name: "deployer"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ghost-prod", Name: "old-token",
			Annotations: map[string]string{corev1.ServiceAccountNameKey: "deployer"}}, Type: corev1.SecretTypeServiceAccountToken},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "ghost-prod", Name: "tenantai-tenant-admin"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "mallory@example.com"}}},
	} {
		createEventually(t, breakGlass, obj)
	}
}

// restrictedPod is a pod of delta-prod that Pod Security restricted admits.
func restrictedPod(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: name},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1",
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		}}
}

func claimOf(name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class),
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
}

// createEventually creates obj, retrying while admission catches up (a
// lifted binding, a ResourceQuota whose status kube-controller-manager has
// not filled yet).
func createEventually(t *testing.T, kube client.Client, obj client.Object) {
	t.Helper()
	var last error
	if err := poll(func() bool {
		last = kube.Create(context.Background(), obj.DeepCopyObject().(client.Object))
		return last == nil || apierrors.IsAlreadyExists(last)
	}); err != nil {
		t.Fatalf("creating %T %s/%s: %v", obj, obj.GetNamespace(), obj.GetName(), last)
	}
}

var bindingGVK = schema.GroupVersionKind{Group: "admissionregistration.k8s.io", Version: "v1", Kind: "ValidatingAdmissionPolicyBinding"}

// liftBindings deletes admission policy bindings for the setup; they come
// back from config/policies at the latest when the test ends.
func liftBindings(t *testing.T, env *testenv.Env, names ...string) {
	t.Helper()
	for _, name := range names {
		b := &unstructured.Unstructured{}
		b.SetGroupVersionKind(bindingGVK)
		b.SetName(name)
		if err := env.Admin.Delete(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { restoreBindings(t, env, names...) })
}

// restoreBindings applies the bindings' files again and waits until the
// API server has them (an ExternalName Service and a pod with GPU env are
// refused again).
func restoreBindings(t *testing.T, env *testenv.Env, names ...string) {
	t.Helper()
	ctx := context.Background()
	for _, name := range names {
		file := filepath.Join(env.Root, "config", "policies", strings.TrimPrefix(name, "tenantai-")+".yaml")
		if err := env.ApplyManifestFile(ctx, file); err != nil {
			t.Fatal(err)
		}
	}
	probe := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: "probe"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}}
	pod := restrictedPod("probe")
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
	if err := poll(func() bool {
		return apierrors.IsForbidden(env.Admin.Create(ctx, probe.DeepCopy(), client.DryRunAll)) &&
			apierrors.IsForbidden(env.Admin.Create(ctx, pod.DeepCopy(), client.DryRunAll))
	}); err != nil {
		t.Fatalf("the restored bindings never took effect: %v", err)
	}
}

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// withoutCRDRules creates obj while the CEL rules of a CRD whose messages
// contain one of messages are lifted, as a release before them would have
// admitted it, then restores the CRD and waits until it refuses obj again.
func withoutCRDRules(t *testing.T, env *testenv.Env, crdName string, obj client.Object, messages []string) {
	t.Helper()
	ctx := context.Background()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(crdGVK)
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: crdName}, crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Object["spec"]
	restore := func() {
		current := &unstructured.Unstructured{}
		current.SetGroupVersionKind(crdGVK)
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: crdName}, current); err != nil {
			t.Error(err)
			return
		}
		current.Object["spec"] = spec
		if err := env.Admin.Update(ctx, current); err != nil {
			t.Errorf("restoring CRD %s: %v", crdName, err)
		}
	}
	relaxed := crd.DeepCopy()
	if n := dropCELRules(relaxed.Object["spec"], messages); n < len(messages) {
		t.Fatalf("CRD %s: found %d of the rules %q", crdName, n, messages)
	}
	if err := env.Admin.Update(ctx, relaxed); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restore)
	createEventually(t, env.Admin, obj)
	restore()
	probe := obj.DeepCopyObject().(client.Object)
	probe.SetName(obj.GetName() + "-probe")
	probe.SetResourceVersion("")
	if err := poll(func() bool { return apierrors.IsInvalid(env.Admin.Create(ctx, probe, client.DryRunAll)) }); err != nil {
		t.Fatalf("CRD %s never refused %s again: %v", crdName, obj.GetName(), err)
	}
}

// dropCELRules removes, anywhere in a CRD spec, the x-kubernetes-validations
// whose message contains one of messages, and counts them.
func dropCELRules(node any, messages []string) int {
	dropped := 0
	switch n := node.(type) {
	case map[string]any:
		if rules, ok := n["x-kubernetes-validations"].([]any); ok {
			kept := []any{}
			for _, r := range rules {
				msg, _ := r.(map[string]any)["message"].(string)
				if containsAny(msg, messages) {
					dropped++
					continue
				}
				kept = append(kept, r)
			}
			n["x-kubernetes-validations"] = kept
		}
		for _, v := range n {
			dropped += dropCELRules(v, messages)
		}
	case []any:
		for _, v := range n {
			dropped += dropCELRules(v, messages)
		}
	}
	return dropped
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// deleteRelic fixes Tenant relic's spec first: with a ServiceAccount outside
// its namespaces, even the operator's removal of its finalizer is refused.
func deleteRelic(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	relic := &platformv1alpha1.Tenant{}
	if err := env.Admin.Get(ctx, client.ObjectKey{Name: "relic"}, relic); err != nil {
		return
	}
	fix := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"owners":null,"members":null}}`))
	if err := env.Admin.Patch(ctx, relic, fix); err != nil {
		t.Errorf("fixing Tenant relic: %v", err)
	}
	deleteAndWait(t, env, relic)
}

// deleteAndWait deletes obj and waits until it is gone, so that the tables
// of other tests never see it.
func deleteAndWait(t *testing.T, env *testenv.Env, obj client.Object) {
	ctx := context.Background()
	if err := env.Admin.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
		t.Errorf("deleting %s: %v", obj.GetName(), err)
		return
	}
	key := client.ObjectKeyFromObject(obj)
	if err := poll(func() bool {
		return apierrors.IsNotFound(env.Admin.Get(ctx, key, obj.DeepCopyObject().(client.Object)))
	}); err != nil {
		t.Errorf("%T %s is still there: %v", obj, key, err)
	}
}
