package install_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/tenantai/tenantai/internal/testenv"
)

// The install paths under test, relative to the repository root.
const (
	installYAML     = "dist/install.yaml"
	chartDir        = "dist/chart"
	chartFullValues = "dist/chart/ci/full-values.yaml"
	releaseName     = "tenantai"
)

// command runs one tool (kubectl, helm) from the repository root.
type command struct {
	bin  string
	args []string // leading arguments, e.g. --kubeconfig
	env  []string
	root string
}

// runErr runs the tool and returns its combined output.
func (c command) runErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(append([]string{}, c.args...), args...)...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs the tool and fails the test when it fails.
func (c command) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.runErr(args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(c.bin), strings.Join(args, " "), err, out)
	}
	return out
}

// kubeconfigFor writes an admin kubeconfig for the environment.
func kubeconfigFor(t *testing.T, env *testenv.Env) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := testenv.WriteKubeconfig(path, env.AdminConfig); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubectlFor is the project's kubectl as the environment's admin.
func kubectlFor(t *testing.T, env *testenv.Env) command {
	t.Helper()
	bin, err := testenv.Binary(env.Root, "kubectl")
	if err != nil {
		t.Fatal(err)
	}
	return command{bin: bin, args: []string{"--kubeconfig", kubeconfigFor(t, env)}, root: env.Root}
}

// helmFor is the pinned helm, pointed at the environment (nil: no cluster,
// for rendering only). Its cache, config and data stay in the test's
// temporary directory, away from the user's ~/.cache/helm.
func helmFor(t *testing.T, root string, env *testenv.Env) command {
	t.Helper()
	bin, err := testenv.HelmBinary(root)
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	c := command{bin: bin, root: root, env: []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
	}}
	if env != nil {
		c.args = []string{"--kubeconfig", kubeconfigFor(t, env)}
	}
	return c
}

// repoRoot is the repository root, for tests that need no API server.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// objectsOf decodes a multi-document YAML text (a file or helm's output).
func objectsOf(t *testing.T, yamlText string) []*unstructured.Unstructured {
	t.Helper()
	path := filepath.Join(t.TempDir(), "objects.yaml")
	if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.ReadObjects(path)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// readObjects decodes a multi-document YAML file of the repository.
func readObjects(t *testing.T, root, path string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := testenv.ReadObjects(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// objectKey names an object across kinds: group/Kind namespace/name.
func objectKey(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	return fmt.Sprintf("%s/%s %s/%s", gvk.Group, gvk.Kind, obj.GetNamespace(), obj.GetName())
}

// byKey indexes objects by objectKey, failing on duplicates.
func byKey(t *testing.T, objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	m := make(map[string]*unstructured.Unstructured, len(objs))
	for _, obj := range objs {
		k := objectKey(obj)
		if _, dup := m[k]; dup {
			t.Fatalf("%s appears twice", k)
		}
		m[k] = obj
	}
	return m
}

// ofKind returns the objects of one kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == kind {
			out = append(out, obj)
		}
	}
	return out
}

// only returns the single object of a kind, failing unless there is one.
func only(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := ofKind(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, found %d", kind, len(found))
	}
	return found[0]
}

// crdGVK is the kind of CustomResourceDefinitions.
var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// The CRDs tenantai installs.
var crdNames = []string{
	"tenants.platform.tenantai.io",
	"tenantquotas.platform.tenantai.io",
	"modeldeployments.platform.tenantai.io",
}
