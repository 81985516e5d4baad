// Package install_test proves tenantai's install paths against a real API
// server that starts empty: the generated CRDs apply server-side and document
// their fields for `kubectl explain`; dist/install.yaml installs everything
// with one `kubectl apply --server-side`; the Helm chart in dist/chart renders
// the same objects, installs, upgrades, and on uninstall keeps the CRDs and
// with them the users' Tenants.
package install_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantai/tenantai/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{SkipInstall: true}) }

func TestCRDsApplyServerSideAndExplain(t *testing.T) {
	env := testenv.Require(t)
	kubectl, err := testenv.Binary(env.Root, "kubectl")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(kubeconfig, env.AdminConfig); err != nil {
		t.Fatal(err)
	}
	runErr := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		cmd.Dir = env.Root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := runErr(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	out := run("apply", "--server-side", "-f", "config/crd/bases")
	for _, crd := range []string{"tenants", "tenantquotas", "modeldeployments"} {
		if !strings.Contains(out, "customresourcedefinition.apiextensions.k8s.io/"+crd+".platform.tenantai.io serverside-applied") {
			t.Errorf("kubectl apply did not apply the %s CRD:\n%s", crd, out)
		}
	}
	run("wait", "--for=condition=Established", "--timeout=60s", "crd/tenants.platform.tenantai.io",
		"crd/tenantquotas.platform.tenantai.io", "crd/modeldeployments.platform.tenantai.io")

	// Discovery and the OpenAPI document catch up with a new CRD a moment
	// after it is Established.
	var explain string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := runErr("explain", "tenant.spec")
		if err == nil {
			explain = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl explain tenant.spec: %v\n%s", err, out)
		}
	}
	for _, want := range []string{
		"namespaces of the tenant, each created as \"<tenant>-<name>\"",
		"deletionPolicy",
		"quotaPolicy",
	} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain tenant.spec lacks %q:\n%s", want, explain)
		}
	}
	explain = run("explain", "modeldeployment.spec.replicas")
	if !strings.Contains(explain, "/scale field") {
		t.Errorf("kubectl explain modeldeployment.spec.replicas lacks the /scale documentation:\n%s", explain)
	}

	// A second apply changes nothing: the generated CRDs are stable.
	out = run("apply", "--server-side", "-f", "config/crd/bases")
	if strings.Count(out, "serverside-applied") != 3 {
		t.Errorf("second apply: %s", out)
	}
}
