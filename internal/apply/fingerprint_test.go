package apply

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

func fingerprint(t *testing.T, obj client.Object) Fingerprint {
	t.Helper()
	fp, err := FingerprintOf(obj)
	if err != nil {
		t.Fatalf("FingerprintOf: %v", err)
	}
	return fp
}

func keyCopy() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "t-prod", Name: "tenantai-data-key",
			Labels:      map[string]string{platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue, platformv1alpha1.TenantLabel: "t"},
			Annotations: map[string]string{AppliedAnnotation: "0123"}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"v1": []byte("key-one"), "v2": []byte("key-two")},
	}
}

// roundTrip is the object as the API server returns it: JSON, with the
// server's own metadata added.
func roundTrip(t *testing.T, obj *corev1.Secret) *corev1.Secret {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	live := &corev1.Secret{}
	if err := json.Unmarshal(raw, live); err != nil {
		t.Fatal(err)
	}
	live.ResourceVersion, live.UID, live.Generation = "42", "uid-1", 3
	live.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "someone"}}
	return live
}

func TestFingerprintEqualForTheSameObjectAsRenderedAndAsServed(t *testing.T) {
	desired := keyCopy()
	live := roundTrip(t, desired)
	live.Labels["app.kubernetes.io/part-of"] = "someone-elses" // outside the operator's key space
	live.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
	if fingerprint(t, desired) != fingerprint(t, live) {
		t.Fatal("the same owned keys and payload gave different fingerprints")
	}
	empty := &corev1.ConfigMap{Data: map[string]string{}}
	if fingerprint(t, empty) != fingerprint(t, &corev1.ConfigMap{}) {
		t.Fatal("an empty and an absent data map differ; the API server does not keep the difference")
	}
}

// TestFingerprintSeesEveryEditToWhatTheOperatorOwns: drift is seen from the
// object, not from the hash the operator wrote, so each edit below leaves
// the applied annotation alone and must still change the fingerprint.
func TestFingerprintSeesEveryEditToWhatTheOperatorOwns(t *testing.T) {
	base := fingerprint(t, keyCopy())
	edits := map[string]func(*corev1.Secret){
		"a data value changed":     func(s *corev1.Secret) { s.Data["v1"] = []byte("attacker") },
		"a data key removed":       func(s *corev1.Secret) { delete(s.Data, "v2") },
		"a data key added":         func(s *corev1.Secret) { s.Data["v3"] = []byte("planted") },
		"the type changed":         func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken },
		"the tenant label changed": func(s *corev1.Secret) { s.Labels[platformv1alpha1.TenantLabel] = "other" },
		"the managed-by label removed": func(s *corev1.Secret) {
			delete(s.Labels, platformv1alpha1.ManagedByLabel)
		},
		"an owned label added":     func(s *corev1.Secret) { s.Labels[platformv1alpha1.SurviveReleaseLabel] = "true" },
		"the applied hash changed": func(s *corev1.Secret) { s.Annotations[AppliedAnnotation] = "4567" },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			s := keyCopy()
			edit(s)
			if fingerprint(t, s) == base {
				t.Fatal("the edit left the fingerprint unchanged: the operator would not repair it")
			}
		})
	}
}

func TestFingerprintCoversNetworkPolicySpec(t *testing.T) {
	np := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	narrowed := np.DeepCopy()
	narrowed.Spec.PodSelector.MatchLabels = map[string]string{"escape": "true"}
	if fingerprint(t, np) == fingerprint(t, narrowed) {
		t.Fatal("a narrowed podSelector left the fingerprint unchanged")
	}
}

func TestFingerprintRefusesKindsComparedByContainment(t *testing.T) {
	_, err := FingerprintOf(&appsv1.Deployment{})
	if err == nil || !strings.Contains(err.Error(), "is not compared exactly") {
		t.Fatalf("want a refusal naming the reason, got %v", err)
	}
}

func TestCheckOwnedKeysRefusesWhatTheFingerprintWouldNotCover(t *testing.T) {
	foreign := keyCopy()
	foreign.Labels["team"] = "a"
	if err := checkOwnedKeys(foreign); err == nil || !strings.Contains(err.Error(), `the key "team" is outside the operator's key space`) {
		t.Fatalf("a foreign label: got %v", err)
	}
	owned := keyCopy()
	owned.OwnerReferences = []metav1.OwnerReference{{Name: "x"}}
	if err := checkOwnedKeys(owned); err == nil || !strings.Contains(err.Error(), "has no owner references") {
		t.Fatalf("an owner reference: got %v", err)
	}
	if err := checkOwnedKeys(keyCopy()); err != nil {
		t.Fatalf("a guardrail with owned keys only: %v", err)
	}
}

func TestMergeKeysDropsUnsetOwnedKeysOnlyWhenOwnedExactly(t *testing.T) {
	live := map[string]string{"team": "a", platformv1alpha1.SurviveReleaseLabel: "true", platformv1alpha1.TenantLabel: "old"}
	desired := map[string]string{platformv1alpha1.TenantLabel: "t"}
	exact := mergeKeys(live, desired, true)
	if _, kept := exact[platformv1alpha1.SurviveReleaseLabel]; kept || exact["team"] != "a" || exact[platformv1alpha1.TenantLabel] != "t" {
		t.Fatalf("owned exactly: got %v; want the foreign key kept, the unset owned key dropped, desired set", exact)
	}
	loose := mergeKeys(live, desired, false)
	if loose[platformv1alpha1.SurviveReleaseLabel] != "true" || loose[platformv1alpha1.TenantLabel] != "t" {
		t.Fatalf("not owned exactly: got %v; want live's owned keys kept and desired set", loose)
	}
	if live[platformv1alpha1.TenantLabel] != "old" {
		t.Fatal("mergeKeys changed its input")
	}
}
