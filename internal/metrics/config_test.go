package metrics_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/tenantai/tenantai/internal/testenv"
)

func repoFile(t *testing.T, parts ...string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

func onlyObject(t *testing.T, path, kind string) *unstructured.Unstructured {
	t.Helper()
	objs, err := testenv.ReadObjects(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want one %s, found %d", path, kind, len(found))
	}
	return found[0]
}

// TestServiceMonitorScrapesTheMetricsService: config/prometheus' ServiceMonitor
// selects the metrics Service of config/manager, in its namespace, on its
// HTTPS port, with a bearer token (the endpoint refuses anonymous scrapes).
func TestServiceMonitorScrapesTheMetricsService(t *testing.T) {
	monitor := onlyObject(t, repoFile(t, "config", "prometheus", "monitor.yaml"), "ServiceMonitor")
	service := onlyObject(t, repoFile(t, "config", "manager", "manager.yaml"), "Service")

	selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	for k, v := range selector {
		if service.GetLabels()[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, which Service %s does not carry (labels %v)", k, v, service.GetName(), service.GetLabels())
		}
	}
	if len(selector) == 0 {
		t.Error("ServiceMonitor has no selector.matchLabels")
	}
	namespaces, _, _ := unstructured.NestedStringSlice(monitor.Object, "spec", "namespaceSelector", "matchNames")
	if diff := cmp.Diff([]string{service.GetNamespace()}, namespaces); diff != "" {
		t.Errorf("ServiceMonitor namespaceSelector.matchNames (-want +got):\n%s", diff)
	}
	ports, _, _ := unstructured.NestedSlice(service.Object, "spec", "ports")
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if len(endpoints) != 1 || len(ports) != 1 {
		t.Fatalf("want one endpoint and one Service port, got %d and %d", len(endpoints), len(ports))
	}
	endpoint := endpoints[0].(map[string]any)
	want := map[string]any{
		"port":            ports[0].(map[string]any)["name"],
		"path":            "/metrics",
		"scheme":          "https",
		"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"tlsConfig":       map[string]any{"insecureSkipVerify": true},
	}
	if diff := cmp.Diff(want, endpoint); diff != "" {
		t.Errorf("ServiceMonitor endpoint (-want +got):\n%s", diff)
	}
}

// kustomization is the part of a kustomization.yaml these tests read.
type kustomization struct {
	Resources []string `json:"resources"`
}

func readKustomization(t *testing.T, dir ...string) kustomization {
	t.Helper()
	data, err := os.ReadFile(repoFile(t, append(dir, "kustomization.yaml")...))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := utilyaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMonitoringIsOptInOnly: the install (config/default) never includes the
// ServiceMonitor or the kube-state-metrics pieces, whose CRD or consumer may
// not exist in a cluster; their own kustomizations ship them.
func TestMonitoringIsOptInOnly(t *testing.T) {
	for _, r := range readKustomization(t, "config", "default").Resources {
		if r == "../prometheus" || r == "../kube-state-metrics" {
			t.Errorf("config/default includes %s: the install must not depend on monitoring CRDs or tools", r)
		}
	}
	if diff := cmp.Diff([]string{"monitor.yaml"}, readKustomization(t, "config", "prometheus").Resources); diff != "" {
		t.Errorf("config/prometheus resources (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"rbac.yaml"}, readKustomization(t, "config", "kube-state-metrics").Resources); diff != "" {
		t.Errorf("config/kube-state-metrics resources (-want +got):\n%s", diff)
	}
}
