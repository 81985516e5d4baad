package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/plugin"
	"github.com/tenantai/tenantai/internal/testenv"
)

// acmeQuotaTable is `kubectl tenantai quota acme` once every pod is
// accounted: GPUs first, then cpu, memory and the rest alphabetically; the
// tenant total, then each namespace. acme-dev is at 100% of its GPUs (big's
// third pod was refused); 62% is 5/8 rounded down.
const acmeQuotaTable = `RESOURCE                  NAMESPACE   USED    HARD   USED%
requests.nvidia.com/gpu   (total)     5       8      62%
requests.nvidia.com/gpu   acme-dev    2       2      100%
requests.nvidia.com/gpu   acme-prod   3       6      50%
requests.cpu              (total)     6500m   40     16%
requests.cpu              acme-dev    2       10     20%
requests.cpu              acme-prod   4500m   30     15%
requests.memory           (total)     32Gi    64Gi   50%
requests.memory           acme-dev    8Gi     16Gi   50%
requests.memory           acme-prod   24Gi    48Gi   50%
count/cronjobs.batch      (total)     0       10     0%
count/cronjobs.batch      acme-dev    0       5      0%
count/cronjobs.batch      acme-prod   0       5      0%
count/jobs.batch          (total)     0       50     0%
count/jobs.batch          acme-dev    0       25     0%
count/jobs.batch          acme-prod   0       25     0%
count/statefulsets.apps   (total)     0       10     0%
count/statefulsets.apps   acme-dev    0       5      0%
count/statefulsets.apps   acme-prod   0       5      0%
pods                      (total)     5       20     25%
pods                      acme-dev    2       5      40%
pods                      acme-prod   3       15     20%
services.loadbalancers    (total)     0       0      -
services.loadbalancers    acme-dev    0       0      -
services.loadbalancers    acme-prod   0       0      -
services.nodeports        (total)     0       0      -
services.nodeports        acme-dev    0       0      -
services.nodeports        acme-prod   0       0      -
`

// acmeProdQuotaTable is `kubectl tenantai quota acme -n acme-prod`: the
// namespace's ResourceQuota alone, which a tenant viewer may read.
const acmeProdQuotaTable = `RESOURCE                  NAMESPACE   USED    HARD   USED%
requests.nvidia.com/gpu   acme-prod   3       6      50%
requests.cpu              acme-prod   4500m   30     15%
requests.memory           acme-prod   24Gi    48Gi   50%
count/cronjobs.batch      acme-prod   0       5      0%
count/jobs.batch          acme-prod   0       25     0%
count/statefulsets.apps   acme-prod   0       5      0%
pods                      acme-prod   3       15     20%
services.loadbalancers    acme-prod   0       0      -
services.nodeports        acme-prod   0       0      -
`

// acmeProdModelsTable is `kubectl tenantai models -n acme-prod`: chat's 3
// replicas split 2 stable + 1 canary (weight 25 of 3 replicas rounds to 1).
const acmeProdModelsTable = `NAME   READY   REPLICAS   VERSIONS                                     ENDPOINT                  WHY
chat   True    3/3        v1 67% 2/2, v2 33% 1/1 (canary, weight 25)   chat.acme-prod.svc:8000   -
`

func TestTenantsTable(t *testing.T) {
	c, g := setup(t)
	g.Eventually(c.output("tenants", "--kubeconfig", c.admin)).Should(gomega.Equal(
		`NAME   READY                     NAMESPACES           QUOTA                                     AGE
acme   True                      acme-dev,acme-prod   gpu 5/8  cpu 6500m/40  memory 32Gi/64Gi   10m
beta   False (WaitingForQuota)   beta-prod            <none>                                    10m
`))

	r := c.run("tenants", "-o", "json", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	var doc plugin.TenantsOutput
	g.Expect(json.Unmarshal([]byte(r.out), &doc)).To(gomega.Succeed())
	g.Expect(doc.Tenants).To(gomega.HaveLen(2))
	beta := doc.Tenants[1]
	beta.CreationTimestamp = doc.Tenants[0].CreationTimestamp // compared below by the table's AGE
	if diff := cmp.Diff(plugin.TenantRow{
		Name: "beta",
		Ready: plugin.Readiness{Status: "False", Reason: platformv1alpha1.TenantReasonWaitingForQuota,
			Message: "waiting for TenantQuota beta to create ResourceQuota tenantai-quota in beta-prod: " +
				"with quotaPolicy Required no principal is bound in a namespace without its quota"},
		Namespaces:        []string{"beta-prod"},
		Quota:             plugin.QuotaSummary{State: plugin.QuotaMissing},
		CreationTimestamp: doc.Tenants[0].CreationTimestamp,
	}, beta); diff != "" {
		t.Errorf("beta as JSON (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]plugin.ResourceUse{
		{Resource: "requests.nvidia.com/gpu", Used: "5", Hard: "8", Percent: ptr.To[int64](62)},
		{Resource: "requests.cpu", Used: "6500m", Hard: "40", Percent: ptr.To[int64](16)},
		{Resource: "requests.memory", Used: "32Gi", Hard: "64Gi", Percent: ptr.To[int64](50)},
	}, doc.Tenants[0].Quota.Resources); diff != "" {
		t.Errorf("acme's key resources as JSON (-want +got):\n%s", diff)
	}
}

func TestQuotaTable(t *testing.T) {
	c, g := setup(t)
	g.Eventually(c.output("quota", "acme", "--kubeconfig", c.admin)).Should(gomega.Equal(acmeQuotaTable))
	g.Expect(c.output("quota", "acme", "-n", "acme-prod", "--kubeconfig", c.admin)()).To(gomega.Equal(acmeProdQuotaTable))

	r := c.run("quota", "acme", "-o", "json", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	var doc plugin.QuotaOutput
	g.Expect(json.Unmarshal([]byte(r.out), &doc)).To(gomega.Succeed())
	g.Expect(doc.Tenant).To(gomega.Equal("acme"))
	g.Expect(doc.Rows).To(gomega.HaveLen(strings.Count(acmeQuotaTable, "\n")-1), "one document row per table row")
	if diff := cmp.Diff([]plugin.QuotaRow{
		{ResourceUse: plugin.ResourceUse{Resource: "requests.nvidia.com/gpu", Used: "5", Hard: "8", Percent: ptr.To[int64](62)}, Scope: plugin.ScopeTenant},
		{ResourceUse: plugin.ResourceUse{Resource: "requests.nvidia.com/gpu", Used: "2", Hard: "2", Percent: ptr.To[int64](100)},
			Scope: plugin.ScopeNamespace, Namespace: "acme-dev"},
		{ResourceUse: plugin.ResourceUse{Resource: "requests.nvidia.com/gpu", Used: "3", Hard: "6", Percent: ptr.To[int64](50)},
			Scope: plugin.ScopeNamespace, Namespace: "acme-prod"},
	}, doc.Rows[:3]); diff != "" {
		t.Errorf("GPU rows as JSON (-want +got):\n%s", diff)
	}
	last := doc.Rows[len(doc.Rows)-1]
	g.Expect(last.Percent).To(gomega.BeNil(), "a share of a zero limit means nothing: %+v", last)
}

func TestModelsTable(t *testing.T) {
	c, g := setup(t)
	g.Eventually(func() string { return stablePodNames(c.output("models", "-A", "--kubeconfig", c.admin)()) }).Should(gomega.Equal(
		`NAMESPACE   NAME   READY   REPLICAS   VERSIONS                                     ENDPOINT                  WHY
acme-dev    big    False   0/3        v1 100% 0/2                                  big.acme-dev.svc:8000     QuotaExceeded: pods "big-<generated>" is forbidden: exceeded quota: tenantai-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2
acme-prod   chat   True    3/3        v1 67% 2/2, v2 33% 1/1 (canary, weight 25)   chat.acme-prod.svc:8000   -
`))
	g.Expect(c.output("models", "-n", "acme-prod", "--kubeconfig", c.admin)()).To(gomega.Equal(acmeProdModelsTable))

	// WHY quotes the API server's refusal as the ModelDeployment reports it.
	big := &platformv1alpha1.ModelDeployment{}
	g.Expect(c.env.Admin.Get(context.Background(), client.ObjectKey{Namespace: "acme-dev", Name: "big"}, big)).To(gomega.Succeed())
	r := c.run("models", "-n", "acme-dev", "-o", "json", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	var doc plugin.ModelsOutput
	g.Expect(json.Unmarshal([]byte(r.out), &doc)).To(gomega.Succeed())
	g.Expect(doc.Models).To(gomega.HaveLen(1))
	for _, cond := range big.Status.Conditions {
		if cond.Type == platformv1alpha1.ModelConditionQuotaExceeded {
			g.Expect(doc.Models[0].Why).To(gomega.Equal("QuotaExceeded: " + cond.Message))
		}
	}
	g.Expect(doc.Models[0].Versions).To(gomega.Equal([]plugin.VersionRow{
		{Version: "v1", Track: plugin.TrackStable, DesiredWeight: 100, Weight: 100, Replicas: 2},
	}))

	r = c.run("models", "-n", "beta-prod", "--kubeconfig", c.admin)
	g.Expect(r.err).NotTo(gomega.HaveOccurred())
	g.Expect(r.out).To(gomega.BeEmpty())
	g.Expect(r.errOut).To(gomega.Equal("No ModelDeployments found in namespace \"beta-prod\".\n"))
}

// TestTenantViewer: acme's viewer reads its namespaces' quota and models;
// what the tenant roles do not grant fails with the API server's reason and
// what to run instead. The same holds through kubectl's --as.
func TestTenantViewer(t *testing.T) {
	c, g := setup(t)
	g.Eventually(c.output("quota", "acme", "-n", "acme-prod", "--kubeconfig", c.asViewer)).Should(gomega.Equal(acmeProdQuotaTable))
	g.Eventually(c.output("models", "-n", "acme-prod", "--kubeconfig", c.asViewer)).Should(gomega.Equal(acmeProdModelsTable))

	const clusterScoped = `; Tenants and TenantQuotas are cluster-scoped and the tenant roles (tenantai-tenant-viewer, -developer, -admin) do not grant them; ` +
		`ask a platform admin, or read your namespace's quota with "kubectl tenantai quota <tenant> -n <namespace>" and its models with "kubectl tenantai models -n <namespace>"`
	refusals := map[string]struct {
		args []string
		want string
	}{
		"listing tenants": {[]string{"tenants"},
			`cannot read Tenants: tenants.platform.tenantai.io is forbidden: User "vera@acme.example" cannot list resource "tenants" in API group "platform.tenantai.io" at the cluster scope` + clusterScoped},
		"the tenant total": {[]string{"quota", "acme"},
			`cannot read Tenant "acme": tenants.platform.tenantai.io "acme" is forbidden: User "vera@acme.example" cannot get resource "tenants" in API group "platform.tenantai.io" at the cluster scope` + clusterScoped},
		"models everywhere": {[]string{"models", "-A"},
			`cannot read ModelDeployments in any namespace: modeldeployments.platform.tenantai.io is forbidden: User "vera@acme.example" cannot list resource "modeldeployments" in API group "platform.tenantai.io" at the cluster scope; the tenant roles grant reads per namespace: use -n <namespace>`},
		"another tenant's models": {[]string{"models", "-n", "beta-prod"},
			`cannot read ModelDeployments in namespace "beta-prod": modeldeployments.platform.tenantai.io is forbidden: User "vera@acme.example" cannot list resource "modeldeployments" in API group "platform.tenantai.io" in the namespace "beta-prod"; you hold no tenant role in that namespace: check -n, or ask the tenant's owners`},
		"another tenant's quota": {[]string{"quota", "acme", "-n", "beta-prod"},
			`cannot read ResourceQuota tenantai-quota in namespace "beta-prod": resourcequotas "tenantai-quota" is forbidden: User "vera@acme.example" cannot get resource "resourcequotas" in API group "" in the namespace "beta-prod"; you hold no tenant role in that namespace: check -n, or ask the tenant's owners`},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			r := c.run(append(tc.args, "--kubeconfig", c.asViewer)...)
			if r.err == nil || r.err.Error() != tc.want {
				t.Errorf("error = %v\nwant    %s", r.err, tc.want)
			}
			if r.out != "" {
				t.Errorf("printed %q on a refused read", r.out)
			}
		})
	}

	t.Run("impersonated with --as", func(t *testing.T) {
		as := []string{"--kubeconfig", c.admin, "--as", viewer}
		if got := c.output(append([]string{"quota", "acme", "-n", "acme-prod"}, as...)...)(); got != acmeProdQuotaTable {
			t.Errorf("quota as the viewer:\n%s", got)
		}
		r := c.run(append([]string{"tenants"}, as...)...)
		if want := refusals["listing tenants"].want; r.err == nil || r.err.Error() != want {
			t.Errorf("tenants as the viewer: error = %v, want %s", r.err, want)
		}
	})
}

func TestMissingTenantQuotaOrNamespace(t *testing.T) {
	c, _ := setup(t)
	cases := map[string]struct {
		args []string
		want string
	}{
		"no such tenant": {[]string{"quota", "nope"},
			`tenant "nope" not found (kubectl tenantai tenants lists the tenants)`},
		"a tenant without TenantQuota": {[]string{"quota", "beta"},
			`tenant "beta" has no TenantQuota; create one named beta (spec.tenantRef.name: beta) to give it a quota`},
		"a namespace without the tenant's quota": {[]string{"quota", "acme", "-n", "beta-prod"},
			`namespace "beta-prod" has no ResourceQuota tenantai-quota: it is not a namespace of tenant "acme", or the tenant's TenantQuota has not been applied to it yet`},
		"no tenant named": {[]string{"quota"}, `accepts 1 arg(s), received 0`},
		"an unknown output format": {[]string{"tenants", "-o", "wide"},
			`unknown output format "wide": use -o json, -o yaml, or no -o for a table`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := c.run(append(tc.args, "--kubeconfig", c.admin)...)
			if r.err == nil || r.err.Error() != tc.want {
				t.Errorf("error = %v\nwant    %s", r.err, tc.want)
			}
		})
	}
}

// TestKubectlRunsThePlugin builds bin/kubectl-tenantai's main package and
// runs it through the project's kubectl, as a user would: found on PATH as a
// plugin, printing the table, and exiting 1 with "error: ..." on stderr.
func TestKubectlRunsThePlugin(t *testing.T) {
	c, g := setup(t)
	g.Eventually(c.output("quota", "acme", "--kubeconfig", c.admin)).Should(gomega.Equal(acmeQuotaTable))
	kubectl, err := testenv.Binary(c.env.Root, "kubectl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-tenantai"), "./cmd/kubectl-tenantai")
	build.Dir = c.env.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kubectlTenantai := func(args ...string) (stdout, stderr string, exitCode int) {
		// kubectl refuses flags before a plugin's name; they go after it.
		cmd := exec.Command(kubectl, append(append([]string{"tenantai"}, args...), "--kubeconfig", c.admin)...)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("running kubectl tenantai: %v", err)
		}
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}

	out, errOut, code := kubectlTenantai("quota", "acme")
	g.Expect(code).To(gomega.Equal(0), "stderr: %s", errOut)
	g.Expect(out).To(gomega.Equal(acmeQuotaTable))

	out, errOut, code = kubectlTenantai("quota", "nope")
	g.Expect(code).To(gomega.Equal(1))
	g.Expect(out).To(gomega.BeEmpty())
	g.Expect(errOut).To(gomega.Equal("error: tenant \"nope\" not found (kubectl tenantai tenants lists the tenants)\n"))

	out, _, code = kubectlTenantai("--help")
	g.Expect(code).To(gomega.Equal(0))
	g.Expect(out).To(gomega.MatchRegexp(`(?m)^  kubectl tenantai \[command\]$`), "help names the plugin as kubectl shows it")
	g.Expect(regexp.MustCompile(`(?m)^  (models|quota|tenants) `).FindAllString(out, -1)).To(gomega.HaveLen(3))
}
