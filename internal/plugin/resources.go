package plugin

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/inf.v0"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Resource groups in display order: what tenants budget first (GPUs, the
// scarce and expensive resource), then CPU and memory, then everything else.
const (
	groupGPU = iota
	groupCPU
	groupMemory
	groupOther
)

// resourceGroup places a ResourceQuota key in its display group: any key that
// names a GPU (requests.nvidia.com/gpu, requests.amd.com/gpu, ...) is a GPU;
// cpu and memory are recognised with or without their requests./limits.
// prefix.
func resourceGroup(name corev1.ResourceName) int {
	base := baseResource(name)
	switch {
	case strings.Contains(string(name), "gpu"):
		return groupGPU
	case base == corev1.ResourceCPU:
		return groupCPU
	case base == corev1.ResourceMemory:
		return groupMemory
	default:
		return groupOther
	}
}

// baseResource strips the requests. or limits. prefix of a quota key.
func baseResource(name corev1.ResourceName) corev1.ResourceName {
	s := strings.TrimPrefix(string(name), "requests.")
	return corev1.ResourceName(strings.TrimPrefix(s, "limits."))
}

// prefixRank orders the forms of one resource the way a reader compares
// them: requests.cpu, then cpu (the same thing in a ResourceQuota), then
// limits.cpu.
func prefixRank(name corev1.ResourceName) int {
	switch {
	case strings.HasPrefix(string(name), "requests."):
		return 0
	case strings.HasPrefix(string(name), "limits."):
		return 2
	default:
		return 1
	}
}

// lessResource is the display order of quota keys: GPUs first, then cpu,
// then memory, then the rest alphabetically.
func lessResource(a, b corev1.ResourceName) bool {
	if ga, gb := resourceGroup(a), resourceGroup(b); ga != gb {
		return ga < gb
	}
	if resourceGroup(a) != groupOther {
		if ra, rb := prefixRank(a), prefixRank(b); ra != rb {
			return ra < rb
		}
	}
	return a < b
}

// sortedResources returns the keys of the given lists (their union), in
// display order.
func sortedResources(lists ...corev1.ResourceList) []corev1.ResourceName {
	seen := map[corev1.ResourceName]bool{}
	var names []corev1.ResourceName
	for _, list := range lists {
		for name := range list {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	sort.Slice(names, func(i, j int) bool { return lessResource(names[i], names[j]) })
	return names
}

// shortLabel is the name of a key resource in the one-line summary of the
// tenants table: the requests. prefix dropped, and NVIDIA's GPU called gpu.
func shortLabel(name corev1.ResourceName) string {
	s := strings.TrimPrefix(string(name), "requests.")
	if s == "nvidia.com/gpu" {
		return "gpu"
	}
	return s
}

// keyResources picks the resources the tenants table summarizes: every GPU,
// then the first cpu and the first memory key in display order (requests.cpu
// before cpu before limits.cpu).
func keyResources(hard corev1.ResourceList) []corev1.ResourceName {
	var keys []corev1.ResourceName
	taken := map[int]bool{}
	for _, name := range sortedResources(hard) {
		switch g := resourceGroup(name); {
		case g == groupGPU:
			keys = append(keys, name)
		case (g == groupCPU || g == groupMemory) && !taken[g]:
			taken[g] = true
			keys = append(keys, name)
		}
	}
	return keys
}

// formatQuantity prints a quantity in its canonical Kubernetes form (1500m,
// 4Gi, 8); an absent quantity is 0.
func formatQuantity(q resource.Quantity) string {
	return q.String()
}

// percentUsed is used/hard in whole percent, rounded down so that a resource
// shows 100% only when it is full. ok is false when hard is zero (nothing may
// be used, so a share means nothing).
func percentUsed(used, hard resource.Quantity) (pct int64, ok bool) {
	if hard.Sign() <= 0 {
		return 0, false
	}
	// Exact decimal arithmetic: floats misround shares such as 0.57/1.
	u, h := used.AsDec(), hard.AsDec()
	scaled := new(inf.Dec).Mul(u, inf.NewDec(100, 0))
	q := new(inf.Dec).QuoRound(scaled, h, 0, inf.RoundDown)
	return q.UnscaledBig().Int64(), true
}

// formatPercent prints a share for the table; "-" when hard is zero.
func formatPercent(pct *int64) string {
	if pct == nil {
		return "-"
	}
	return fmt.Sprintf("%d%%", *pct)
}
