// Package quota computes how a tenant's total quota is split across its
// namespaces. It is pure arithmetic on integers, so that the invariant the
// TenantQuota controller promises can be tested exhaustively:
//
//	for every resource: Σ namespace hard ≤ max(tenant hard, Σ namespace used)
//	and no namespace's hard is lowered below its use (use above a quota that
//	was not lowered is an overshoot, which no quota is raised to meet).
package quota

import (
	"math/big"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Namespace is one tenant namespace as the distribution sees it.
type Namespace struct {
	Name string
	// Current is the hard the namespace's ResourceQuota has now (spec), nil
	// when it has none yet.
	Current corev1.ResourceList
	// Used is the namespace's use, from its ResourceQuota's status.
	Used corev1.ResourceList
	// Wanted is demand not yet met: quota refusals and desired replicas ×
	// requests beyond use.
	Wanted corev1.ResourceList
	// Frozen namespaces (orphaned or terminating) keep Current; it still
	// counts toward the tenant total.
	Frozen bool
}

// Dynamic splits hard across namespaces: each active namespace gets its use
// plus a share of the free headroom. Unmet demand is served first (in
// proportion when it exceeds the headroom); what remains is split evenly.
// Extended resources, pods and object counts move in whole units, cpu in
// millicores, everything else in base units. When the tenant is over its
// total, every active namespace is capped at its use, never raised to it.
//
// When the current split is already valid, fully allocated and no active
// namespace is short of headroom, it is kept: headroom moves only where it is
// used and wanted, not on every change of use.
func Dynamic(hard corev1.ResourceList, namespaces []Namespace) map[string]corev1.ResourceList {
	out := map[string]corev1.ResourceList{}
	for _, ns := range namespaces {
		out[ns.Name] = corev1.ResourceList{}
	}
	for _, name := range SortedNames(hard) {
		total := units(name, hard[name])
		amounts := dynamicResource(name, total, namespaces)
		for i, ns := range namespaces {
			out[ns.Name][name] = quantity(name, amounts[i])
		}
	}
	return out
}

func dynamicResource(name corev1.ResourceName, total int64, namespaces []Namespace) []int64 {
	n := len(namespaces)
	current, used, wanted := make([]int64, n), make([]int64, n), make([]int64, n)
	var frozen, usedActive int64
	var active []int
	for i, ns := range namespaces {
		current[i] = amount(name, ns.Current)
		used[i] = amount(name, ns.Used)
		wanted[i] = amount(name, ns.Wanted)
		if ns.Frozen {
			frozen += current[i]
			continue
		}
		usedActive += used[i]
		active = append(active, i)
	}
	if keepCurrent(total, frozen, usedActive, current, used, wanted, active, namespaces) {
		return current
	}
	target := make([]int64, n)
	copy(target, current) // frozen namespaces keep theirs
	for _, i := range active {
		target[i] = used[i]
	}
	free := total - frozen - usedActive
	if free <= 0 {
		// Over the total: every active namespace is capped at its use, and
		// never raised to it. Use above a namespace's quota is an overshoot
		// (kube-controller-manager's recount missed admitted pods); raising
		// the quota to it would make the overshoot permanent.
		if !raiseToUse {
			for _, i := range active {
				if namespaces[i].Current != nil {
					target[i] = min(current[i], used[i])
				}
			}
		}
		return target
	}
	for k, give := range share(free, active, wanted) {
		target[active[k]] += give
	}
	return target
}

// keepCurrent reports whether the current split can stay: every namespace has
// a quota, none is below its use, the whole total is allocated (or, over the
// total, every active namespace sits exactly at its use), and every active
// namespace has headroom for at least one more unit and for its unmet demand.
func keepCurrent(total, frozen, usedActive int64, current, used, wanted []int64, active []int, namespaces []Namespace) bool {
	var sum int64
	for i, ns := range namespaces {
		if ns.Current == nil {
			return false
		}
		sum += current[i]
	}
	if sum != max(total, frozen+usedActive) {
		return false
	}
	for _, i := range active {
		headroom := current[i] - used[i]
		if headroom < 0 || headroom < max(wanted[i], 1) {
			return false
		}
	}
	return true
}

// share splits free units across the active namespaces: unmet demand first,
// in proportion when it exceeds what is free, then the rest evenly. Leftover
// units from rounding go to the namespaces that want most, then in order.
func share(free int64, active []int, wanted []int64) []int64 {
	n := len(active)
	give := make([]int64, n)
	if n == 0 {
		return give
	}
	var demand int64
	for _, i := range active {
		demand += wanted[i]
	}
	if demand >= free && demand > 0 {
		var given int64
		for k, i := range active {
			give[k] = mulDiv(free, wanted[i], demand)
			given += give[k]
		}
		distributeLeftover(give, free-given, active, wanted)
		return give
	}
	for k, i := range active {
		give[k] = wanted[i]
	}
	rest := free - demand
	for k := range give {
		give[k] += rest / int64(n)
	}
	distributeLeftover(give, rest%int64(n), active, wanted)
	return give
}

func distributeLeftover(give []int64, left int64, active []int, wanted []int64) {
	order := make([]int, len(active))
	for k := range order {
		order[k] = k
	}
	sort.SliceStable(order, func(a, b int) bool { return wanted[active[order[a]]] > wanted[active[order[b]]] })
	for k := 0; left > 0; k = (k + 1) % len(order) {
		give[order[k]]++
		left--
	}
}

// mulDiv is a*b/c rounded down, without overflow (memory in bytes squared
// exceeds int64).
func mulDiv(a, b, c int64) int64 {
	r := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	return r.Quo(r, big.NewInt(c)).Int64()
}

// Static gives each namespace entry exactly what it lists; a resource or
// namespace it omits gets 0. Frozen namespaces keep their current quota.
func Static(hard corev1.ResourceList, namespaces []Namespace, static map[string]corev1.ResourceList) map[string]corev1.ResourceList {
	out := map[string]corev1.ResourceList{}
	for _, ns := range namespaces {
		list := corev1.ResourceList{}
		for _, name := range SortedNames(hard) {
			if ns.Frozen {
				list[name] = quantity(name, amount(name, ns.Current))
				continue
			}
			list[name] = quantity(name, amount(name, static[ns.Name]))
		}
		out[ns.Name] = list
	}
	return out
}

// IsMilli reports whether a resource is split in thousandths (cpu).
func IsMilli(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || strings.HasSuffix(string(name), ".cpu")
}

// units converts a quantity to the integer units a resource is split in.
func units(name corev1.ResourceName, q resource.Quantity) int64 {
	if IsMilli(name) {
		return q.MilliValue()
	}
	return q.Value()
}

func amount(name corev1.ResourceName, list corev1.ResourceList) int64 {
	if q, ok := list[name]; ok {
		return units(name, q)
	}
	return 0
}

// quantity renders integer units back as a canonical quantity.
func quantity(name corev1.ResourceName, v int64) resource.Quantity {
	switch {
	case IsMilli(name):
		return *resource.NewMilliQuantity(v, resource.DecimalSI)
	case strings.Contains(string(name), "memory") || strings.Contains(string(name), "storage"):
		return *resource.NewQuantity(v, resource.BinarySI)
	default:
		return *resource.NewQuantity(v, resource.DecimalSI)
	}
}

// SortedNames returns the resource names of a list in order, so that what is
// derived from a map (writes, messages) is stable.
func SortedNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for name := range list {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
