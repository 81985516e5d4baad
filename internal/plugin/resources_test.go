package plugin

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func TestSortedResourcesPutsGPUsFirstThenCPUMemoryThenAlphabetical(t *testing.T) {
	cases := map[string]struct {
		lists []corev1.ResourceList
		want  []corev1.ResourceName
	}{
		"a tenant quota": {
			lists: []corev1.ResourceList{list(
				"pods", "100", "requests.memory", "256Gi", "services.nodeports", "0", "limits.cpu", "128",
				"count/modeldeployments.platform.tenantai.io", "10", "requests.cpu", "64",
				"requests.nvidia.com/gpu", "8", "limits.memory", "512Gi", "services.loadbalancers", "0",
			)},
			want: []corev1.ResourceName{
				"requests.nvidia.com/gpu", "requests.cpu", "limits.cpu", "requests.memory", "limits.memory",
				"count/modeldeployments.platform.tenantai.io", "pods", "services.loadbalancers", "services.nodeports",
			},
		},
		"every GPU vendor before cpu, alphabetically": {
			lists: []corev1.ResourceList{list("cpu", "1", "requests.nvidia.com/gpu", "1", "requests.amd.com/gpu", "1", "memory", "1Gi")},
			want:  []corev1.ResourceName{"requests.amd.com/gpu", "requests.nvidia.com/gpu", "cpu", "memory"},
		},
		"requests before the bare name before limits": {
			lists: []corev1.ResourceList{list("limits.memory", "1", "memory", "1", "requests.memory", "1")},
			want:  []corev1.ResourceName{"requests.memory", "memory", "limits.memory"},
		},
		"the union of several lists, each key once": {
			lists: []corev1.ResourceList{list("pods", "1", "requests.cpu", "1"), list("requests.cpu", "2", "requests.nvidia.com/gpu", "1")},
			want:  []corev1.ResourceName{"requests.nvidia.com/gpu", "requests.cpu", "pods"},
		},
		"ephemeral storage is not memory": {
			lists: []corev1.ResourceList{list("requests.ephemeral-storage", "1Gi", "requests.memory", "1Gi", "configmaps", "5")},
			want:  []corev1.ResourceName{"requests.memory", "configmaps", "requests.ephemeral-storage"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, sortedResources(tc.lists...)); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeyResourcesAreEveryGPUAndTheFirstCPUAndMemory(t *testing.T) {
	cases := map[string]struct {
		hard corev1.ResourceList
		want []corev1.ResourceName
	}{
		"requests preferred": {
			hard: list("limits.cpu", "2", "requests.cpu", "1", "requests.memory", "1Gi", "limits.memory", "2Gi", "requests.nvidia.com/gpu", "8", "pods", "10"),
			want: []corev1.ResourceName{"requests.nvidia.com/gpu", "requests.cpu", "requests.memory"},
		},
		"limits only": {
			hard: list("limits.cpu", "2", "pods", "10"),
			want: []corev1.ResourceName{"limits.cpu"},
		},
		"no key resource": {
			hard: list("pods", "10"),
			want: nil,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, keyResources(tc.hard)); diff != "" {
				t.Errorf("key resources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShortLabel(t *testing.T) {
	for in, want := range map[corev1.ResourceName]string{
		"requests.nvidia.com/gpu": "gpu",
		"requests.amd.com/gpu":    "amd.com/gpu",
		"requests.cpu":            "cpu",
		"limits.memory":           "limits.memory",
		"memory":                  "memory",
	} {
		if got := shortLabel(in); got != want {
			t.Errorf("shortLabel(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatQuantityIsCanonical(t *testing.T) {
	sum := resource.MustParse("512Mi")
	sum.Add(resource.MustParse("1Gi"))
	cpu := resource.MustParse("1")
	cpu.Add(resource.MustParse("500m"))
	for name, tc := range map[string]struct {
		q    resource.Quantity
		want string
	}{
		"milli cpu":                   {resource.MustParse("1500m"), "1500m"},
		"whole cpu":                   {resource.MustParse("4000m"), "4"},
		"summed cpu":                  {cpu, "1500m"},
		"binary memory":               {resource.MustParse("4Gi"), "4Gi"},
		"summed memory":               {sum, "1536Mi"},
		"plain bytes stay as written": {resource.MustParse("4294967296"), "4294967296"},
		"absent is zero":              {resource.Quantity{}, "0"},
	} {
		if got := formatQuantity(tc.q); got != tc.want {
			t.Errorf("%s: formatQuantity = %q, want %q", name, got, tc.want)
		}
	}
}

func TestPercentUsedRoundsDownExactly(t *testing.T) {
	for name, tc := range map[string]struct {
		used, hard string
		want       int64
		ok         bool
	}{
		"3 of 8 GPUs":                  {"3", "8", 37, true},
		"full":                         {"8", "8", 100, true},
		"almost full is not 100%":      {"7999m", "8", 99, true},
		"float-unfriendly share":       {"570m", "1", 57, true},
		"milli against whole":          {"4500m", "40", 11, true},
		"binary memory":                {"48Gi", "64Gi", 75, true},
		"over the total":               {"12", "8", 150, true},
		"nothing may be used":          {"0", "0", 0, false},
		"used although nothing may":    {"1", "0", 0, false},
		"huge memory without overflow": {"6Pi", "8Pi", 75, true},
	} {
		got, ok := percentUsed(resource.MustParse(tc.used), resource.MustParse(tc.hard))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: percentUsed(%s, %s) = %d, %v; want %d, %v", name, tc.used, tc.hard, got, ok, tc.want, tc.ok)
		}
	}
}
