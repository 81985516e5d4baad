package apply

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Matches reports whether current already holds what desired sets: every
// desired label, annotation (the applied hash among them) and owner
// reference, and the kind's payload.
//
// Guardrails (NetworkPolicies, LimitRanges, ResourceQuotas, RoleBindings,
// Secrets, ServiceAccounts) and the published policy (ConfigMaps) are
// compared exactly, because an addition is as dangerous as a removal there (a
// podSelector narrowed by one label exempts pods from default-deny; a key
// added to the policy is read as a grant); the operator renders them fully
// specified, so the API server adds no defaults to compare around. Workload
// kinds, which the API server defaults heavily, are compared as "desired is
// contained in current"; what the operator stopped setting is caught by the
// applied hash.
func Matches(current, desired client.Object) bool {
	if !metadataMatches(current, desired) {
		return false
	}
	if _, ok := desired.(*corev1.Namespace); ok {
		return true // the operator owns only a namespace's labels
	}
	if want, exact := exactPayload(desired); exact {
		have, _ := exactPayload(current)
		return equality.Semantic.DeepEqual(have, want)
	}
	return specContains(current, desired) // Deployments, Services, HPAs, PodDisruptionBudgets
}

// comparedExactly reports whether Matches compares desired's payload exactly
// (a guardrail or the published policy) rather than as containment.
func comparedExactly(desired client.Object) bool {
	_, exact := exactPayload(desired)
	return exact
}

// specContains compares everything but metadata and status as containment.
func specContains(current, desired client.Object) bool {
	c, errC := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
	d, errD := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if errC != nil || errD != nil {
		return false
	}
	for _, m := range []map[string]any{c, d} {
		delete(m, "metadata")
		delete(m, "status")
		delete(m, "apiVersion")
		delete(m, "kind")
	}
	return contains(c, d)
}

func containsStrings(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func toMap(v any) any {
	out, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&struct {
		V any `json:"v"`
	}{v})
	if err != nil {
		return nil
	}
	return out["v"]
}

// contains reports whether want is contained in have: maps by key (have may
// hold more keys), lists element by element with equal length (so a removed
// element is noticed), scalars by value.
func contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for k, wv := range w {
			if !contains(h[k], wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		if len(h) != len(w) {
			return false
		}
		for i := range w {
			if !contains(h[i], w[i]) {
				return false
			}
		}
		return true
	case nil:
		return true
	default:
		return reflect.DeepEqual(have, want)
	}
}
