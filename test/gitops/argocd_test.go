package gitops_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// healthCheckKinds are the kinds with an Argo CD health check, in the order
// argocd-cm-patch.yaml lists them.
var healthCheckKinds = []string{"Tenant", "TenantQuota", "ModelDeployment"}

// healthCheckKey is the argocd-cm key of a kind's health check.
func healthCheckKey(kind string) string {
	return "resource.customizations.health." + platformv1alpha1.GroupVersion.Group + "_" + kind
}

func argoCDPatchPath(root string) string {
	return filepath.Join(root, "config", "argocd", "argocd-cm-patch.yaml")
}

const argoCDPatchHeader = `# Argo CD health checks for tenantai's kinds, to merge into Argo CD's argocd-cm
# ConfigMap (see docs/gitops.md):
#   kubectl -n argocd patch configmap argocd-cm --patch-file config/argocd/argocd-cm-patch.yaml
# or list this file under patches: in the kustomization that installs Argo CD.
# Generated from config/argocd/*.lua by 'go test ./test/gitops -count=1 -update':
# edit the .lua files, not this file (test/gitops fails when they differ).
`

// renderArgoCDPatch renders argocd-cm-patch.yaml from the .lua files: each
// script verbatim as a literal block.
func renderArgoCDPatch(root string) (string, error) {
	var b strings.Builder
	b.WriteString(argoCDPatchHeader)
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\ndata:\n")
	for _, kind := range healthCheckKinds {
		script, err := readHealthScript(root, kind)
		if err != nil {
			return "", err
		}
		// A literal block ("|") keeps exactly one final newline.
		if !strings.HasSuffix(script, "\n") || strings.HasSuffix(script, "\n\n") {
			return "", fmt.Errorf("the health check of %s must end with exactly one newline", kind)
		}
		fmt.Fprintf(&b, "  %s: |\n", healthCheckKey(kind))
		for _, line := range strings.SplitAfter(strings.TrimSuffix(script, "\n"), "\n") {
			if strings.TrimSpace(line) == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + strings.TrimSuffix(line, "\n") + "\n")
		}
	}
	return b.String(), nil
}

// TestArgoCDConfigMapEmbedsTheScripts: argocd-cm-patch.yaml is what the .lua
// files render to, and it decodes to exactly their contents, one key per
// kind, so what users paste cannot drift from what the tests run.
func TestArgoCDConfigMapEmbedsTheScripts(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := renderArgoCDPatch(root)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(argoCDPatchPath(root), []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(argoCDPatchPath(root))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Fatalf("config/argocd/argocd-cm-patch.yaml is stale; run 'go test ./test/gitops -count=1 -update' (-want +got):\n%s", diff)
	}

	cm := &corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict(got, cm); err != nil {
		t.Fatalf("decoding config/argocd/argocd-cm-patch.yaml: %v", err)
	}
	if cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" || cm.Namespace != "argocd" {
		t.Fatalf("the patch is for %s %s/%s, want ConfigMap argocd/argocd-cm", cm.Kind, cm.Namespace, cm.Name)
	}
	wantData := map[string]string{}
	for _, kind := range healthCheckKinds {
		script, err := readHealthScript(root, kind)
		if err != nil {
			t.Fatal(err)
		}
		wantData[healthCheckKey(kind)] = script
	}
	if diff := cmp.Diff(wantData, cm.Data); diff != "" {
		t.Fatalf("argocd-cm-patch.yaml does not decode to the .lua files (-want +got):\n%s", diff)
	}
}

// TestFixturesGetTheirVerdict judges every fixture captured from envtest
// (config/argocd/testdata) with kstatus and the Argo CD health checks. It
// needs no API server, so it also runs under -short.
func TestFixturesGetTheirVerdict(t *testing.T) {
	if *update {
		t.Skip("the lifecycle tests are rewriting the fixtures: run again without -update to check them")
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			obj, err := readFixture(root, name)
			if err != nil {
				t.Fatalf("%v (capture it with 'go test ./test/gitops -count=1 -update')", err)
			}
			if diff := verdictDiff(root, name, obj); diff != "" {
				t.Fatal(diff)
			}
		})
	}

	entries, err := os.ReadDir(fixtureDir(root))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := states[strings.TrimSuffix(e.Name(), ".yaml")]; !ok || !strings.HasSuffix(e.Name(), ".yaml") {
			t.Errorf("config/argocd/testdata/%s belongs to no state of the lifecycle tests: remove it", e.Name())
		}
	}
}

// TestArgoCDConfigMapPatchMerges applies argocd-cm-patch.yaml to an
// existing argocd-cm with the command docs/gitops.md gives, using the
// project's kubectl: the health checks land verbatim and Argo CD's own
// settings stay.
func TestArgoCDConfigMapPatchMerges(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}})
	existing := map[string]string{"url": "https://argocd.example.com", "timeout.reconciliation": "180s"}
	create(t, env, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: "argocd"}, Data: existing})

	kubectl, err := testenv.Binary(env.Root, "kubectl")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(kubeconfig, env.AdminConfig); err != nil {
		t.Fatal(err)
	}
	cmdCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, kubectl, "--kubeconfig", kubeconfig,
		"-n", "argocd", "patch", "configmap", "argocd-cm", "--patch-file", "config/argocd/argocd-cm-patch.yaml")
	cmd.Dir = env.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl patch: %v\n%s", err, out)
	}

	cm := &corev1.ConfigMap{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "argocd-cm"}, cm)).To(gomega.Succeed())
	want := map[string]string{}
	for k, v := range existing {
		want[k] = v
	}
	for _, kind := range healthCheckKinds {
		script, err := readHealthScript(env.Root, kind)
		if err != nil {
			t.Fatal(err)
		}
		want[healthCheckKey(kind)] = script
	}
	if diff := cmp.Diff(want, cm.Data); diff != "" {
		t.Fatalf("argocd-cm after the patch (-want +got):\n%s", diff)
	}
}
