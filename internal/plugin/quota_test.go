package plugin

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func fakeClient(objs ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(objs...).Build()
}

func tenantQuotaRQ(ns, tenant string, spec, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.ResourceQuota, Labels: naming.TenantLabels(tenant)},
		Spec:       corev1.ResourceQuotaSpec{Hard: spec},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func TestNamespaceQuotaRefusesAnotherTenantsNamespace(t *testing.T) {
	kube := fakeClient(tenantQuotaRQ("beta-prod", "beta", list("pods", "5"), list("pods", "5"), list("pods", "1")))
	_, err := namespaceQuota(context.Background(), kube, "acme", "beta-prod")
	want := `namespace "beta-prod" belongs to tenant "beta", not "acme"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// Until kube-controller-manager has copied spec.hard to status and counted
// use, the declared quota is shown and the use is unknown, not 0.
func TestNamespaceQuotaBeforeAccounting(t *testing.T) {
	kube := fakeClient(tenantQuotaRQ("acme-prod", "acme", list("pods", "5", "requests.nvidia.com/gpu", "2"), nil, nil))
	out, err := namespaceQuota(context.Background(), kube, "acme", "acme-prod")
	if err != nil {
		t.Fatal(err)
	}
	want := `RESOURCE                  NAMESPACE   USED   HARD   USED%
requests.nvidia.com/gpu   acme-prod   ?      2      -
pods                      acme-prod   ?      5      -
`
	if diff := cmp.Diff(want, render(t, quotaTable(out))); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestTenantQuotaNotReportedYetSaysWhy(t *testing.T) {
	tq := MakeTenantQuota("acme").Hard("pods", "4").Obj()
	tq.Status.Conditions = []metav1.Condition{ready(metav1.ConditionFalse, platformv1alpha1.TenantQuotaReasonTenantNotFound,
		"waiting for Tenant acme")}
	kube := fakeClient(MakeTenant("acme").Obj(), tq)
	_, err := tenantQuota(context.Background(), kube, "acme")
	want := `TenantQuota "acme" reports no enforced quota yet (Ready=False TenantNotFound: waiting for Tenant acme)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}

	kube = fakeClient(MakeTenant("acme").Obj(), MakeTenantQuota("acme").Hard("pods", "4").Obj())
	_, err = tenantQuota(context.Background(), kube, "acme")
	want = `TenantQuota "acme" reports no enforced quota yet (the operator has not reconciled it yet: is tenantai running?)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
