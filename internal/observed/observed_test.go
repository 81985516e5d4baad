package observed

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	toolscache "k8s.io/client-go/tools/cache"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	s, err := New(nil, scheme, Guardrails()...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func configMap(ns, name, tenant, value string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1",
			Labels: map[string]string{platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue, platformv1alpha1.TenantLabel: tenant}},
		Data: map[string]string{"k": value},
	}
}

// recorder keeps what a handler heard, one line per change.
type recorder struct{ heard []string }

func (r *recorder) handle(old, new *Entry) {
	describe := func(e *Entry) string {
		if e == nil {
			return "-"
		}
		return fmt.Sprintf("%s/%s@%s", e.Namespace, e.Name, e.Tenant)
	}
	r.heard = append(r.heard, describe(old)+" > "+describe(new))
}

func (r *recorder) take() []string {
	out := r.heard
	r.heard = nil
	slices.Sort(out)
	return out
}

func kindOf(t *testing.T, s *Store) *kindStore {
	t.Helper()
	for _, ks := range s.kinds {
		if ks.kind.Resource == "configmaps" {
			return ks
		}
	}
	t.Fatal("no configmaps kind")
	return nil
}

func TestStoreTellsHandlersOfChangesToWhatTheFingerprintCovers(t *testing.T) {
	s := newStore(t)
	ks := kindOf(t, s)
	var r recorder
	ks.addHandler(r.handle)

	if err := ks.Add(configMap("a-prod", "policy", "a", "1")); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); !slices.Equal(got, []string{"- > a-prod/policy@a"}) {
		t.Fatalf("add: heard %v", got)
	}

	// A new resourceVersion, a foreign label: nothing the operator compares.
	same := configMap("a-prod", "policy", "a", "1")
	same.ResourceVersion = "2"
	same.Labels["team"] = "x"
	if err := ks.Update(same); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); len(got) != 0 {
		t.Fatalf("an update outside the fingerprint was heard: %v", got)
	}

	before, _ := s.Fingerprint(same)
	if err := ks.Update(configMap("a-prod", "policy", "a", "edited")); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); !slices.Equal(got, []string{"a-prod/policy@a > a-prod/policy@a"}) {
		t.Fatalf("a payload edit: heard %v", got)
	}
	if after, _ := s.Fingerprint(same); after == before {
		t.Fatal("the stored fingerprint did not follow the edit")
	}

	if err := ks.Delete(toolscache.DeletedFinalStateUnknown{Key: "a-prod/policy", Obj: configMap("a-prod", "policy", "a", "edited")}); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); !slices.Equal(got, []string{"a-prod/policy@a > -"}) {
		t.Fatalf("a delete seen only as a tombstone: heard %v", got)
	}
	if s.Has(same) {
		t.Fatal("the deleted object is still reported")
	}
}

// TestReplaceReportsWhatARelistChanged: after a watch gap the reflector
// relists; deletions missed during the gap must reach the handlers, or the
// operator never recreates a guardrail deleted while it was disconnected.
func TestReplaceReportsWhatARelistChanged(t *testing.T) {
	s := newStore(t)
	ks := kindOf(t, s)
	var r recorder
	ks.addHandler(r.handle)
	if err := ks.Replace([]any{configMap("a-prod", "policy", "a", "1"), configMap("a-prod", "other", "a", "1"), configMap("b-prod", "policy", "b", "1")}, "10"); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); len(got) != 3 {
		t.Fatalf("the first list: heard %v, want three additions", got)
	}
	select {
	case <-ks.synced:
	default:
		t.Fatal("the store is not synced after its first list")
	}

	if err := ks.Replace([]any{configMap("a-prod", "policy", "a", "1"), configMap("b-prod", "policy", "b", "changed"), configMap("c-prod", "policy", "c", "1")}, "20"); err != nil {
		t.Fatal(err)
	}
	want := []string{"- > c-prod/policy@c", "a-prod/other@a > -", "b-prod/policy@b > b-prod/policy@b"}
	if got := r.take(); !slices.Equal(got, want) {
		t.Fatalf("the relist: heard %v, want %v", got, want)
	}
	if got := s.List(&corev1.ConfigMap{}, "a-prod"); len(got) != 1 || got[0].Name != "policy" {
		t.Fatalf("a-prod after the relist: %v", got)
	}
}

func TestALateHandlerHearsEveryObjectOnce(t *testing.T) {
	s := newStore(t)
	ks := kindOf(t, s)
	if err := ks.Replace([]any{configMap("a-prod", "policy", "a", "1"), configMap("b-prod", "policy", "b", "1")}, "10"); err != nil {
		t.Fatal(err)
	}
	var r recorder
	ks.addHandler(r.handle)
	if got := r.take(); !slices.Equal(got, []string{"- > a-prod/policy@a", "- > b-prod/policy@b"}) {
		t.Fatalf("replay: heard %v", got)
	}
}

func TestObservesLeavesTheOperatorNamespacesSecretsToTheCache(t *testing.T) {
	s := newStore(t)
	inTenant := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "a-prod"}}
	canonical := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: platformv1alpha1.OperatorNamespace}}
	if !s.Observes(inTenant) || s.Observes(canonical) {
		t.Fatalf("Observes(tenant Secret)=%v, Observes(operator-namespace Secret)=%v; want true, false", s.Observes(inTenant), s.Observes(canonical))
	}
	if s.Observes(&corev1.ResourceQuota{}) {
		t.Fatal("ResourceQuotas are cached (their status is read), not observed")
	}
	var none *Store
	if none.Observes(inTenant) {
		t.Fatal("a nil store observes nothing")
	}
}

func TestSourceRefusesAKindThatIsNotObserved(t *testing.T) {
	s := newStore(t)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "is not an observed kind") {
			t.Fatalf("want a panic naming the reason, got %v", r)
		}
	}()
	s.Source(&corev1.ResourceQuota{}, nil)
}
