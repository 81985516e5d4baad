package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// The subset of kube-state-metrics' custom-resource-state configuration
// (k8s.io/kube-state-metrics/v2/pkg/customresourcestate, v2.x) that
// config/kube-state-metrics uses. Decoding is strict: a misspelt field
// (labelFromPath for labelsFromPath) fails instead of being ignored, as
// kube-state-metrics would ignore it.
type ksmConfig struct {
	Kind string `json:"kind"`
	Spec struct {
		Resources []ksmResource `json:"resources"`
	} `json:"spec"`
}

type ksmResource struct {
	GroupVersionKind struct {
		Group   string `json:"group"`
		Version string `json:"version"`
		Kind    string `json:"kind"`
	} `json:"groupVersionKind"`
	MetricNamePrefix *string             `json:"metricNamePrefix"`
	LabelsFromPath   map[string][]string `json:"labelsFromPath"`
	Metrics          []ksmMetric         `json:"metrics"`
}

type ksmMetric struct {
	Name string  `json:"name"`
	Help string  `json:"help"`
	Each ksmEach `json:"each"`
}

type ksmEach struct {
	Type     string       `json:"type"`
	Gauge    *ksmGauge    `json:"gauge"`
	StateSet *ksmStateSet `json:"stateSet"`
	Info     *ksmInfo     `json:"info"`
}

type ksmGauge struct {
	Path           []string            `json:"path"`
	LabelsFromPath map[string][]string `json:"labelsFromPath"`
	ValueFrom      []string            `json:"valueFrom"`
	LabelFromKey   string              `json:"labelFromKey"`
	NilIsZero      bool                `json:"nilIsZero"`
}

type ksmStateSet struct {
	Path           []string            `json:"path"`
	LabelsFromPath map[string][]string `json:"labelsFromPath"`
	List           []string            `json:"list"`
	LabelName      string              `json:"labelName"`
	ValueFrom      []string            `json:"valueFrom"`
}

type ksmInfo struct {
	Path           []string            `json:"path"`
	LabelsFromPath map[string][]string `json:"labelsFromPath"`
}

func decodeKSMConfig(data []byte) (*ksmConfig, error) {
	raw, err := utilyaml.ToJSON(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	cfg := &ksmConfig{}
	if err := dec.Decode(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// checkKSMConfig returns every problem of a configuration against real
// objects of each kind (as kube-state-metrics would list them): a metric
// whose path, valueFrom or label path resolves in none of them would export
// nothing, silently.
func checkKSMConfig(cfg *ksmConfig, objects map[string][]map[string]any) []string {
	var problems []string
	if cfg.Kind != "CustomResourceStateMetrics" {
		problems = append(problems, fmt.Sprintf("kind is %q, want CustomResourceStateMetrics", cfg.Kind))
	}
	names := map[string]bool{}
	for _, r := range cfg.Spec.Resources {
		gvk := r.GroupVersionKind
		if gvk.Group != platformv1alpha1.GroupVersion.Group || gvk.Version != platformv1alpha1.GroupVersion.Version {
			problems = append(problems, fmt.Sprintf("%s: group/version %s/%s is not %s", gvk.Kind, gvk.Group, gvk.Version, platformv1alpha1.GroupVersion))
		}
		objs := objects[gvk.Kind]
		if len(objs) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no real object of this kind to check against", gvk.Kind))
			continue
		}
		for label, path := range r.LabelsFromPath {
			if n := resolved(objs, path); n != len(objs) {
				problems = append(problems, fmt.Sprintf("%s: label %s path %v resolves in %d of %d objects", gvk.Kind, label, path, n, len(objs)))
			}
		}
		for _, m := range r.Metrics {
			name := m.Name
			if r.MetricNamePrefix != nil && *r.MetricNamePrefix != "" {
				name = *r.MetricNamePrefix + "_" + m.Name
			}
			if !metricName.MatchString(name) || names[name] {
				problems = append(problems, fmt.Sprintf("%s: metric name %q is invalid or repeated", gvk.Kind, name))
			}
			names[name] = true
			for _, p := range checkMetric(m, objs) {
				problems = append(problems, fmt.Sprintf("%s: %s", name, p))
			}
		}
	}
	return problems
}

func checkMetric(m ksmMetric, objs []map[string]any) []string {
	if m.Help == "" {
		return []string{"no help text"}
	}
	switch e := m.Each; {
	case strings.EqualFold(e.Type, "Gauge") && e.Gauge != nil && e.StateSet == nil && e.Info == nil:
		return checkGauge(e.Gauge, objs)
	case strings.EqualFold(e.Type, "StateSet") && e.StateSet != nil && e.Gauge == nil && e.Info == nil:
		return checkStateSet(e.StateSet, objs)
	case strings.EqualFold(e.Type, "Info") && e.Info != nil && e.Gauge == nil && e.StateSet == nil:
		if !strings.HasSuffix(m.Name, "info") {
			return []string{"an Info metric's name must end in _info"}
		}
		return checkInfo(e.Info, objs)
	default:
		return []string{fmt.Sprintf("type %q must come with exactly its own gauge, stateSet or info block", e.Type)}
	}
}

// checkGauge: the path resolves in some object and every value under it is a
// number kube-state-metrics can read (a list's valueFrom, an object's values
// with labelFromKey, or a scalar).
func checkGauge(gauge *ksmGauge, objs []map[string]any) []string {
	var problems []string
	var items []any
	found := 0
	for _, obj := range objs {
		v := get(obj, gauge.Path)
		switch typed := v.(type) {
		case nil:
			continue
		case []any:
			items = append(items, typed...)
			for i, item := range typed {
				if _, err := number(get(item, gauge.ValueFrom)); err != nil {
					problems = append(problems, fmt.Sprintf("path %v[%d] valueFrom %v: %v", gauge.Path, i, gauge.ValueFrom, err))
				}
			}
		case map[string]any:
			if gauge.LabelFromKey == "" {
				problems = append(problems, fmt.Sprintf("path %v is an object: set labelFromKey", gauge.Path))
			}
			for key, item := range typed {
				if _, err := number(get(item, gauge.ValueFrom)); err != nil {
					problems = append(problems, fmt.Sprintf("path %v key %s: %v", gauge.Path, key, err))
				}
			}
		default:
			if _, err := number(get(v, gauge.ValueFrom)); err != nil {
				problems = append(problems, fmt.Sprintf("path %v: %v", gauge.Path, err))
			}
		}
		found++
	}
	if found == 0 {
		return append(problems, fmt.Sprintf("path %v resolves in none of %d objects", gauge.Path, len(objs)))
	}
	return append(problems, checkLabels(gauge.LabelsFromPath, items)...)
}

// checkStateSet: the path is a list whose valueFrom is one of the states.
func checkStateSet(set *ksmStateSet, objs []map[string]any) []string {
	var problems []string
	var items []any
	for _, obj := range objs {
		list, ok := get(obj, set.Path).([]any)
		if !ok {
			continue
		}
		for _, item := range list {
			state, _ := get(item, set.ValueFrom).(string)
			if !contains(set.List, state) {
				problems = append(problems, fmt.Sprintf("path %v valueFrom %v is %q, not one of %v", set.Path, set.ValueFrom, state, set.List))
			}
		}
		items = append(items, list...)
	}
	if len(items) == 0 {
		return append(problems, fmt.Sprintf("path %v holds a non-empty list in none of %d objects", set.Path, len(objs)))
	}
	if set.LabelName == "" {
		problems = append(problems, "no labelName")
	}
	return append(problems, checkLabels(set.LabelsFromPath, items)...)
}

// checkInfo: every label path resolves in some object.
func checkInfo(info *ksmInfo, objs []map[string]any) []string {
	var bases []any
	for _, obj := range objs {
		if v := get(obj, info.Path); v != nil {
			bases = append(bases, v)
		}
	}
	if len(info.LabelsFromPath) == 0 {
		return []string{"an Info metric without labels exports nothing"}
	}
	return checkLabels(info.LabelsFromPath, bases)
}

// checkLabels: each label path resolves to a scalar in at least one item.
func checkLabels(labels map[string][]string, items []any) []string {
	var problems []string
	for _, label := range sortedKeys(labels) {
		if resolved(items, labels[label]) == 0 {
			problems = append(problems, fmt.Sprintf("label %s path %v resolves in none of %d items", label, labels[label], len(items)))
		}
	}
	return problems
}

// get follows a kube-state-metrics path of object keys and list indexes.
func get(v any, path []string) any {
	for _, part := range path {
		switch typed := v.(type) {
		case map[string]any:
			v = typed[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(typed) {
				return nil
			}
			v = typed[i]
		default:
			return nil
		}
	}
	return v
}

// resolved counts the items in which path leads to a scalar.
func resolved[T any](items []T, path []string) int {
	n := 0
	for _, item := range items {
		switch get(item, path).(type) {
		case string, bool, int64, float64:
			n++
		}
	}
	return n
}

// number converts a value as kube-state-metrics does: numbers, booleans and
// condition statuses, quantities ("500m", "2Gi").
func number(v any) (float64, error) {
	switch typed := v.(type) {
	case int64:
		return float64(typed), nil
	case float64:
		return typed, nil
	case bool:
		if typed {
			return 1, nil
		}
		return 0, nil
	case string:
		switch strings.ToLower(typed) {
		case "true", "yes":
			return 1, nil
		case "false", "no", "unknown":
			return 0, nil
		}
		q, err := resource.ParseQuantity(typed)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", typed)
		}
		return q.AsApproximateFloat64(), nil
	default:
		return 0, fmt.Errorf("%v (%T) is not a number", v, v)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kubeStateMetricsView lists every object of tenantai's kinds as
// kube-state-metrics would: as a user bound to the shipped
// tenantai-kube-state-metrics ClusterRole, which also proves the role
// suffices.
func kubeStateMetricsView(t *testing.T, env *testenv.Env) map[string][]map[string]any {
	t.Helper()
	ctx := context.Background()
	if err := env.ApplyManifestFile(ctx, filepath.Join(env.Root, "config", "kube-state-metrics", "rbac.yaml")); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-state-metrics-test"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-kube-state-metrics"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "kube-state-metrics"}},
	}
	create(t, env, binding)
	ksm, err := env.UserClient("kube-state-metrics")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, kind := range []string{"Tenant", "TenantQuota", "ModelDeployment"} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(platformv1alpha1.GroupVersion.WithKind(kind + "List"))
		if err := ksm.List(ctx, list); err != nil {
			t.Fatalf("listing %s as kube-state-metrics: %v", kind, err)
		}
		for _, item := range list.Items {
			out[kind] = append(out[kind], item.Object)
		}
	}
	return out
}

// testKubeStateMetricsConfig checks config/kube-state-metrics against the
// real objects of the world, and that the check catches a path that points
// at no field (a negative control).
func testKubeStateMetricsConfig(t *testing.T, env *testenv.Env) {
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "kube-state-metrics", "custom-resource-state.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := decodeKSMConfig(data)
	if err != nil {
		t.Fatalf("decoding config/kube-state-metrics/custom-resource-state.yaml: %v", err)
	}
	objects := kubeStateMetricsView(t, env)
	if problems := checkKSMConfig(cfg, objects); len(problems) > 0 {
		t.Errorf("config/kube-state-metrics/custom-resource-state.yaml:\n%s", strings.Join(problems, "\n"))
	}

	// Negative controls: a misspelt field and a path to nothing are caught.
	if _, err := decodeKSMConfig(bytes.Replace(data, []byte("labelsFromPath:"), []byte("labelFromPath:"), 1)); err == nil ||
		!strings.Contains(err.Error(), `unknown field "labelFromPath"`) {
		t.Errorf("a misspelt field decoded with error %v, want unknown field \"labelFromPath\"", err)
	}
	broken, err := decodeKSMConfig(bytes.Replace(data, []byte("[status, readyReplicas]"), []byte("[status, readyReplica]"), 1))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kube_tenantai_modeldeployment_status_replicas_ready: path [status readyReplica] resolves in none of 1 objects"}
	if diff := cmp.Diff(want, checkKSMConfig(broken, objects)); diff != "" {
		t.Errorf("problems of a config with a path to nothing (-want +got):\n%s", diff)
	}
}
