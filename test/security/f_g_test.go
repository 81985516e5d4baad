package security_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func TestF_CrossTenant(t *testing.T) {
	ctx := context.Background()

	t.Run("F26 a ModelDeployment cannot reference another namespace", func(t *testing.T) {
		md := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": platformv1alpha1.GroupVersion.String(), "kind": "ModelDeployment",
			"metadata": map[string]any{"namespace": "blue-prod", "name": "steal"},
			"spec": map[string]any{
				"model": map[string]any{"name": "m", "version": "v1", "uri": "s3://b/m",
					"credentialsSecretRef": map[string]any{"name": "tenantai-data-key", "namespace": "red-prod"}},
				"runtime": map[string]any{"engine": "vllm"},
			},
		}}
		refused(t, admin.Create(ctx, md, client.DryRunAll, client.FieldValidation("Strict")), bySchema(`unknown field "spec.model.credentialsSecretRef.namespace"`))
	})

	t.Run("F28 creating endpoints or EndpointSlices by hand", func(t *testing.T) {
		for _, c := range []client.Client{owner, developer} {
			//nolint:staticcheck // SA1019: the attack is hand-made Endpoints, deprecated or not.
			refused(t, c.Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "hijack"}}), byRBAC())
			refused(t, c.Create(ctx, &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Namespace: "blue-prod", Name: "hijack"},
				AddressType: discoveryv1.AddressTypeIPv4,
			}), byRBAC())
		}
	})
}

func TestG_Admission(t *testing.T) {
	ctx := context.Background()

	t.Run("G30 trust comes only from the operator's exact user name", func(t *testing.T) {
		impostors := map[string][]string{
			"tenantai-controller-manager":                                   {"system:masters"},
			"system:serviceaccount:tenantai-system:tenantai-controller-mgr": {"system:masters", "system:serviceaccounts:tenantai-system"},
			"system:serviceaccount:other:tenantai-controller-manager":       {"system:masters"},
			"someone": {"system:masters", "tenantai:break-glass-fake", "Tenantai:Break-Glass"},
		}
		for name, groups := range impostors {
			c, err := env.UserClient(name, groups...)
			if err != nil {
				t.Fatal(err)
			}
			lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: naming.LimitRange}}
			refused(t, c.Delete(ctx, lr, client.DryRunAll), byPolicy(policyOwned))
			refused(t, labelEdits[0].apply(c, "blue-dev", platformv1alpha1.TenantLabel, nil), byPolicy(policyNS))
		}
	})

	t.Run("G31 invalid specs are refused at admission with what to fix", func(t *testing.T) {
		err := admin.Create(ctx, MakeTenant("kube-evil").Obj(), client.DryRunAll)
		refused(t, err, bySchema("tenant name may not be 'default' or start with 'kube'"))
		err = admin.Create(ctx, MakeTenant("blue2").Namespaces("a-namespace-entry-of-fifty-eight-characters-to-overflow-63").Obj(), client.DryRunAll)
		refused(t, err, bySchema("must be at most 63 characters"))
	})
}
