package apply

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Fingerprint stands for what change detection compares of a guardrail: the
// labels and annotations under keys the operator owns (OwnedKey) and the
// payload compared exactly (see Matches). It is computed the same way from
// the desired object and from the live one, so two fingerprints are equal
// exactly when the live object holds what the operator wants, whoever wrote
// the applied hash.
//
// It lets the operator watch its guardrails without caching them: the
// observed store (internal/observed) keeps one per object, about 30 bytes
// instead of the decoded object.
type Fingerprint [16]byte

// OwnedKey reports whether a label or annotation key is in the operator's
// key space: its API group's prefix and the managed-by label. Guardrails
// carry only such keys, and an owned key the operator did not set on a
// guardrail is drift like any other (it is removed).
func OwnedKey(key string) bool {
	return strings.HasPrefix(key, platformv1alpha1.GroupVersion.Group+"/") || key == platformv1alpha1.ManagedByLabel
}

// FingerprintOf returns obj's fingerprint. obj must be a kind compared
// exactly (a guardrail or the published policy).
func FingerprintOf(obj client.Object) (Fingerprint, error) {
	payload, ok := exactPayload(obj)
	if !ok {
		return Fingerprint{}, fmt.Errorf("%T is not compared exactly and has no fingerprint", obj)
	}
	doc := struct {
		Labels      map[string]string `json:"l,omitempty"`
		Annotations map[string]string `json:"a,omitempty"`
		Payload     any               `json:"p"`
	}{owned(obj.GetLabels()), owned(obj.GetAnnotations()), payload}
	raw, err := json.Marshal(doc) // map keys are sorted: the encoding is stable
	if err != nil {
		return Fingerprint{}, fmt.Errorf("fingerprinting %s: %w", describe(obj), err)
	}
	sum := sha256.Sum256(raw)
	var fp Fingerprint
	copy(fp[:], sum[:])
	return fp, nil
}

// exactPayload is what Matches compares exactly for obj's kind (false: the
// kind is compared by containment), as a value with the API's JSON encoding
// (so the fingerprint of an object as the operator renders it and as the
// API server returns it agree). It is the one list of exactly compared
// kinds and fields.
func exactPayload(obj client.Object) (any, bool) {
	switch o := obj.(type) {
	case *networkingv1.NetworkPolicy:
		return o.Spec, true
	case *corev1.LimitRange:
		return o.Spec, true
	case *corev1.ResourceQuota:
		return o.Spec, true
	case *rbacv1.RoleBinding:
		return struct {
			RoleRef  rbacv1.RoleRef   `json:"roleRef"`
			Subjects []rbacv1.Subject `json:"subjects,omitempty"`
		}{o.RoleRef, o.Subjects}, true
	case *corev1.Secret:
		return struct {
			Type corev1.SecretType `json:"type,omitempty"`
			Data map[string][]byte `json:"data,omitempty"`
		}{o.Type, o.Data}, true
	case *corev1.ConfigMap:
		return struct {
			Data       map[string]string `json:"data,omitempty"`
			BinaryData map[string][]byte `json:"binaryData,omitempty"`
		}{o.Data, o.BinaryData}, true
	case *corev1.ServiceAccount:
		return struct {
			Automount *bool `json:"automount,omitempty"`
		}{o.AutomountServiceAccountToken}, true
	}
	return nil, false
}

func owned(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if OwnedKey(k) {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// checkOwnedKeys refuses a desired guardrail with a label or annotation
// outside the operator's key space: its fingerprint would not cover it.
func checkOwnedKeys(desired client.Object) error {
	for _, m := range []map[string]string{desired.GetLabels(), desired.GetAnnotations()} {
		for k := range m {
			if !OwnedKey(k) {
				return fmt.Errorf("%s: the key %q is outside the operator's key space (%s/*, %s); a guardrail carries only owned keys",
					describe(desired), k, platformv1alpha1.GroupVersion.Group, platformv1alpha1.ManagedByLabel)
			}
		}
	}
	if len(desired.GetOwnerReferences()) > 0 {
		return fmt.Errorf("%s: a guardrail has no owner references (its fingerprint does not cover them)", describe(desired))
	}
	return nil
}
