package security_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// TestNegativeControls proves that the cases above depend on the policies
// they name: with a policy's binding removed, a case it refused succeeds (as a
// dry run, so nothing changes); with the binding back, it is refused again.
func TestNegativeControls(t *testing.T) {
	ctx := context.Background()
	controls := map[string]struct {
		file   string
		attack func() error
	}{
		policyNS: {"protect-namespaces.yaml", func() error {
			return admin.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"`+platformv1alpha1.TenantLabel+`":"blue"}}}`)),
				client.DryRunAll)
		}},
		policyOwned: {"protect-managed-objects.yaml", func() error {
			return admin.Delete(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: naming.LimitRange}},
				client.DryRunAll)
		}},
	}
	for policy, control := range controls {
		t.Run(policy, func(t *testing.T) {
			refused(t, control.attack(), byPolicy(policy))
			binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policy}}
			if err := env.Admin.Delete(ctx, binding); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := env.ApplyManifestFile(ctx, filepath.Join(env.Root, "config", "policies", control.file)); err != nil {
					t.Fatalf("restoring %s: %v", policy, err)
				}
				waitFor(t, func() bool { return byPolicy(policy).match(control.attack()) }, "policy "+policy+" enforced again")
			})
			waitFor(t, func() bool { return control.attack() == nil }, "the attack to succeed without "+policy)
		})
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
