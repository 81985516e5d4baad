package tenant

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// TestLostKeyWithoutCopiesStalls: a Tenant that had a data key (version 3)
// finds it gone with no copy anywhere. No key is generated over its data: it
// is Stalled with KeyMissing and a message saying what to do, until the admin
// accepts the loss for that version; the new key then starts at v4, so no
// version name ever stands for two materials.
func TestLostKeyWithoutCopiesStalls(t *testing.T) {
	ctx := context.Background()
	tn := &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", UID: "u-acme"},
		Status: platformv1alpha1.TenantStatus{KeyVersion: 3}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme-prod", Labels: naming.TenantLabels("acme"),
		Annotations: map[string]string{platformv1alpha1.TenantUIDAnnotation: "u-acme"}}}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := platformv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(ns).Build()
	r := &Reconciler{Client: c, APIReader: c}
	key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret("acme")}

	s := newScope(tn, time.Now())
	s.owned = []string{"acme-prod"}
	if err := r.reconcileKeys(ctx, s); err != nil {
		t.Fatal(err)
	}
	if s.keyStall == nil || s.keyStall.reason != platformv1alpha1.TenantReasonKeyMissing {
		t.Fatalf("stall = %+v, want KeyMissing", s.keyStall)
	}
	for _, want := range []string{"no key is generated over data", "platform.tenantai.io/accept-key-loss=v3", "a new key starts at v4"} {
		if !contains(s.keyStall.message, want) {
			t.Errorf("message %q does not say %q", s.keyStall.message, want)
		}
	}
	if err := c.Get(ctx, key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a key was generated over lost data: %v", err)
	}
	if !s.held["acme-prod"] {
		t.Error("a namespace without a copy of the key is not held back from grants")
	}

	tn.Annotations = map[string]string{platformv1alpha1.AcceptKeyLossAnnotation: "v3"}
	s = newScope(tn, time.Now())
	s.owned = []string{"acme-prod"}
	if err := r.reconcileKeys(ctx, s); err != nil {
		t.Fatal(err)
	}
	got := &corev1.Secret{}
	if err := c.Get(ctx, key, got); err != nil {
		t.Fatalf("no key after the loss was accepted: %v", err)
	}
	if string(got.Data["active"]) != "v4" || len(got.Data["v4"]) != keyBytes || got.Data["v1"] != nil {
		t.Errorf("new key holds %v, want only v4 (active)", keys(got.Data))
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
