package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/metrics"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func fakeReader(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := platformv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

// withReady gives a tenant a Ready condition of the given status.
func withReady(t *platformv1alpha1.Tenant, status metav1.ConditionStatus) *platformv1alpha1.Tenant {
	t.Status.Conditions = []metav1.Condition{{Type: platformv1alpha1.ConditionReady, Status: status, Reason: "Test"}}
	return t
}

func TestTenantsByReadiness(t *testing.T) {
	reader := fakeReader(t,
		withReady(MakeTenant("a").Obj(), metav1.ConditionTrue),
		withReady(MakeTenant("b").Obj(), metav1.ConditionTrue),
		withReady(MakeTenant("c").Obj(), metav1.ConditionFalse),
		withReady(MakeTenant("d").Obj(), metav1.ConditionUnknown),
		MakeTenant("e").Obj(), // not reconciled yet: no Ready condition
	)
	want := `
# HELP tenantai_tenants Tenants by their Ready condition: true, false, or unknown (no Ready condition yet, or Unknown).
# TYPE tenantai_tenants gauge
tenantai_tenants{ready="false"} 1
tenantai_tenants{ready="true"} 2
tenantai_tenants{ready="unknown"} 2
`
	if err := testutil.CollectAndCompare(metrics.NewCollector(reader), strings.NewReader(want), "tenantai_tenants"); err != nil {
		t.Error(err)
	}
}

// TestNoTenantsReportsZeros: every ready value is reported, so that queries
// and alerts see 0 rather than no data.
func TestNoTenantsReportsZeros(t *testing.T) {
	want := `
# HELP tenantai_tenants Tenants by their Ready condition: true, false, or unknown (no Ready condition yet, or Unknown).
# TYPE tenantai_tenants gauge
tenantai_tenants{ready="false"} 0
tenantai_tenants{ready="true"} 0
tenantai_tenants{ready="unknown"} 0
`
	if err := testutil.CollectAndCompare(metrics.NewCollector(fakeReader(t)), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// quotaWithStatus is a TenantQuota whose status reports hard and used.
func quotaWithStatus(tenant string, hard, used corev1.ResourceList) *platformv1alpha1.TenantQuota {
	tq := MakeTenantQuota(tenant).Obj()
	tq.Status.Hard, tq.Status.Used = hard, used
	return tq
}

func list(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

const quotaHeader = `
# HELP tenantai_quota_used_ratio Use of a TenantQuota resource as a fraction of the tenant's total (status.used / status.hard); +Inf when something is used of a total of 0. A resource appears once kube-controller-manager counts its use.
# TYPE tenantai_quota_used_ratio gauge
`

// TestQuotaUsedRatio: used/hard per tenant and resource, in base units
// (memory in bytes, CPU in cores); a resource not counted yet is left out; a
// total of 0 reads 0 unused and +Inf used.
func TestQuotaUsedRatio(t *testing.T) {
	reader := fakeReader(t,
		quotaWithStatus("acme",
			list("requests.cpu", "64", "requests.memory", "256Gi", "requests.nvidia.com/gpu", "8", "pods", "100",
				"services.nodeports", "0", "count/modeldeployments.platform.tenantai.io", "10"),
			list("requests.cpu", "16500m", "requests.memory", "64Gi", "requests.nvidia.com/gpu", "10", "pods", "100",
				"services.nodeports", "0")),
		quotaWithStatus("globex",
			list("pods", "4", "services.loadbalancers", "0"),
			list("pods", "1", "services.loadbalancers", "1")),
	)
	want := quotaHeader + `
tenantai_quota_used_ratio{resource="pods",tenant="acme"} 1
tenantai_quota_used_ratio{resource="requests.cpu",tenant="acme"} 0.2578125
tenantai_quota_used_ratio{resource="requests.memory",tenant="acme"} 0.25
tenantai_quota_used_ratio{resource="requests.nvidia.com/gpu",tenant="acme"} 1.25
tenantai_quota_used_ratio{resource="services.nodeports",tenant="acme"} 0
tenantai_quota_used_ratio{resource="pods",tenant="globex"} 0.25
tenantai_quota_used_ratio{resource="services.loadbalancers",tenant="globex"} +Inf
`
	if err := testutil.CollectAndCompare(metrics.NewCollector(reader), strings.NewReader(want), "tenantai_quota_used_ratio"); err != nil {
		t.Error(err)
	}
}

// TestQuotaSeriesFollowTheObjects: a resource removed from a TenantQuota, or
// the TenantQuota itself deleted, leaves no stale series behind.
func TestQuotaSeriesFollowTheObjects(t *testing.T) {
	ctx := context.Background()
	reader := fakeReader(t,
		quotaWithStatus("acme", list("pods", "10", "requests.cpu", "4"), list("pods", "5", "requests.cpu", "1")),
		quotaWithStatus("globex", list("pods", "10"), list("pods", "1")))
	collector := metrics.NewCollector(reader)

	acme := &platformv1alpha1.TenantQuota{}
	if err := reader.Get(ctx, client.ObjectKey{Name: "acme"}, acme); err != nil {
		t.Fatal(err)
	}
	acme.Status.Hard, acme.Status.Used = list("pods", "10"), list("pods", "5")
	if err := reader.Update(ctx, acme); err != nil {
		t.Fatal(err)
	}
	want := quotaHeader + `
tenantai_quota_used_ratio{resource="pods",tenant="acme"} 0.5
tenantai_quota_used_ratio{resource="pods",tenant="globex"} 0.1
`
	if err := testutil.CollectAndCompare(collector, strings.NewReader(want), "tenantai_quota_used_ratio"); err != nil {
		t.Errorf("after removing requests.cpu: %v", err)
	}

	if err := reader.Delete(ctx, acme); err != nil {
		t.Fatal(err)
	}
	want = quotaHeader + `
tenantai_quota_used_ratio{resource="pods",tenant="globex"} 0.1
`
	if err := testutil.CollectAndCompare(collector, strings.NewReader(want), "tenantai_quota_used_ratio"); err != nil {
		t.Errorf("after deleting TenantQuota acme: %v", err)
	}
}

// failingReader fails every List, like a cache that cannot answer.
type failingReader struct{ client.Reader }

var errCacheDown = errors.New("cache is down")

func (failingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errCacheDown
}

// TestReadErrorFailsTheScrape: a failed cache read is reported, never
// turned into zeros that would look like "no tenants".
func TestReadErrorFailsTheScrape(t *testing.T) {
	err := testutil.CollectAndCompare(metrics.NewCollector(failingReader{}), strings.NewReader(""))
	if err == nil || !strings.Contains(err.Error(), errCacheDown.Error()) {
		t.Errorf("collecting with a failing cache: got error %v, want one naming %q", err, errCacheDown)
	}
}
