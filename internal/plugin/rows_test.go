package plugin

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	. "github.com/tenantai/tenantai/internal/testutil"
)

var created = metav1.NewTime(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))

func ready(status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: platformv1alpha1.ConditionReady, Status: status, Reason: reason, Message: message}
}

func cond(condType string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: condType, Status: status, Reason: reason, Message: message}
}

func render(t *testing.T, tbl *table) string {
	t.Helper()
	var buf bytes.Buffer
	if err := tbl.print(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestTenantsTableRendering(t *testing.T) {
	acme := MakeTenant("acme").Obj()
	acme.CreationTimestamp = created
	acme.Status.Namespaces = []string{"acme-prod", "acme-dev"}
	acme.Status.Conditions = []metav1.Condition{ready(metav1.ConditionTrue, "Reconciled", "tenant acme is ready in 2 namespaces")}
	acmeQuota := MakeTenantQuota("acme").Obj()
	acmeQuota.Status.Hard = list("requests.cpu", "40", "requests.memory", "64Gi", "requests.nvidia.com/gpu", "8", "pods", "20")
	acmeQuota.Status.Used = list("requests.cpu", "4500m", "requests.memory", "48Gi", "requests.nvidia.com/gpu", "3", "pods", "3")

	wide := MakeTenant("wide").Obj()
	wide.CreationTimestamp = metav1.NewTime(created.Add(-48 * time.Hour))
	wide.Status.Namespaces = []string{"wide-e", "wide-d", "wide-c", "wide-b", "wide-a"}
	wide.Status.Conditions = []metav1.Condition{ready(metav1.ConditionFalse, "WaitingForQuota", "no TenantQuota named wide")}

	fresh := MakeTenant("fresh").Obj()
	fresh.CreationTimestamp = created
	freshQuota := MakeTenantQuota("fresh").Obj()

	out := tenantsOutput([]platformv1alpha1.Tenant{*wide, *fresh, *acme}, []platformv1alpha1.TenantQuota{*freshQuota, *acmeQuota})
	c := &cli{opts: Options{Now: func() time.Time { return created.Add(5 * time.Minute) }}}
	want := `NAME    READY                     NAMESPACES                     QUOTA                                     AGE
acme    True                      acme-dev,acme-prod             gpu 3/8  cpu 4500m/40  memory 48Gi/64Gi   5m
fresh   Unknown                   <none>                         <pending>                                 5m
wide    False (WaitingForQuota)   wide-a,wide-b,wide-c,+2 more   <none>                                    2d
`
	if diff := cmp.Diff(want, render(t, c.tenantsTable(out))); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	wantAcme := QuotaSummary{State: QuotaPresent, Resources: []ResourceUse{
		{Resource: "requests.nvidia.com/gpu", Used: "3", Hard: "8", Percent: ptr.To[int64](37)},
		{Resource: "requests.cpu", Used: "4500m", Hard: "40", Percent: ptr.To[int64](11)},
		{Resource: "requests.memory", Used: "48Gi", Hard: "64Gi", Percent: ptr.To[int64](75)},
	}}
	if diff := cmp.Diff(wantAcme, out.Tenants[0].Quota); diff != "" {
		t.Errorf("acme's quota summary (-want +got):\n%s", diff)
	}
}

func TestQuotaRowsTotalThenNamespacesPerResource(t *testing.T) {
	total := platformv1alpha1.NamespaceQuotaStatus{
		Hard: list("requests.cpu", "40", "requests.nvidia.com/gpu", "8", "pods", "20", "services.nodeports", "0"),
		Used: list("requests.cpu", "4500m", "requests.nvidia.com/gpu", "3", "pods", "3", "services.nodeports", "0"),
	}
	namespaces := []platformv1alpha1.NamespaceQuotaStatus{
		{Name: "acme-prod", Hard: list("requests.cpu", "30", "requests.nvidia.com/gpu", "6", "pods", "15", "services.nodeports", "0"),
			Used: list("requests.cpu", "4500m", "requests.nvidia.com/gpu", "3", "pods", "3", "services.nodeports", "0")},
		// Not accounted by kube-controller-manager yet: no used.
		{Name: "acme-dev", Hard: list("requests.cpu", "10", "requests.nvidia.com/gpu", "2", "pods", "5", "services.nodeports", "0")},
	}
	out := quotaOutput("acme", &total, namespaces)
	want := `RESOURCE                  NAMESPACE   USED    HARD   USED%
requests.nvidia.com/gpu   (total)     3       8      37%
requests.nvidia.com/gpu   acme-dev    ?       2      -
requests.nvidia.com/gpu   acme-prod   3       6      50%
requests.cpu              (total)     4500m   40     11%
requests.cpu              acme-dev    ?       10     -
requests.cpu              acme-prod   4500m   30     15%
pods                      (total)     3       20     15%
pods                      acme-dev    ?       5      -
pods                      acme-prod   3       15     20%
services.nodeports        (total)     0       0      -
services.nodeports        acme-dev    ?       0      -
services.nodeports        acme-prod   0       0      -
`
	if diff := cmp.Diff(want, render(t, quotaTable(out))); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}

	var doc bytes.Buffer
	if err := printResult(&doc, outputJSON, quotaOutput("acme", nil, namespaces[:1]), nil); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{
    "tenant": "acme",
    "rows": [
        {
            "resource": "requests.nvidia.com/gpu",
            "used": "3",
            "hard": "6",
            "percent": 50,
            "scope": "namespace",
            "namespace": "acme-prod"
        },
        {
            "resource": "requests.cpu",
            "used": "4500m",
            "hard": "30",
            "percent": 15,
            "scope": "namespace",
            "namespace": "acme-prod"
        },
        {
            "resource": "pods",
            "used": "3",
            "hard": "15",
            "percent": 20,
            "scope": "namespace",
            "namespace": "acme-prod"
        },
        {
            "resource": "services.nodeports",
            "used": "0",
            "hard": "0",
            "scope": "namespace",
            "namespace": "acme-prod"
        }
    ]
}
`
	if diff := cmp.Diff(wantJSON, doc.String()); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestVersionRowsJoinSpecAndStatus(t *testing.T) {
	cases := map[string]struct {
		md   *platformv1alpha1.ModelDeployment
		want string
	}{
		"stable only, nothing running yet": {
			md:   MakeModelDeployment("ns", "m").Version("v3").Replicas(2).Obj(),
			want: "v3 100% 0/0",
		},
		"canary with its real share": {
			md: withVersions(MakeModelDeployment("ns", "m").Version("v1").Canary("v2", 25).Replicas(3).Obj(),
				platformv1alpha1.VersionStatus{Version: "v1", Replicas: 2, ReadyReplicas: 1, Weight: 67},
				platformv1alpha1.VersionStatus{Version: "v2", Replicas: 1, ReadyReplicas: 1, Weight: 33}),
			want: "v1 67% 1/2, v2 33% 1/1 (canary, weight 25)",
		},
		"canary asked for, not reported yet: the desired split": {
			md:   MakeModelDeployment("ns", "m").Version("v1").Canary("v2", 20).Obj(),
			want: "v1 80% 0/0, v2 20% 0/0 (canary, weight 20)",
		},
		"a version the spec no longer names still runs": {
			md: withVersions(MakeModelDeployment("ns", "m").Version("v2").Obj(),
				platformv1alpha1.VersionStatus{Version: "v2", Replicas: 1, ReadyReplicas: 1, Weight: 50},
				platformv1alpha1.VersionStatus{Version: "v1", Replicas: 1, ReadyReplicas: 1, Weight: 50}),
			want: "v2 50% 1/1, v1 50% 1/1 (previous)",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := versionsCell(versionRows(tc.md)); got != tc.want {
				t.Errorf("versions = %q, want %q", got, tc.want)
			}
		})
	}
}

func withVersions(md *platformv1alpha1.ModelDeployment, v ...platformv1alpha1.VersionStatus) *platformv1alpha1.ModelDeployment {
	md.Status.Versions = v
	return md
}

func TestWhyNamesTheConditionThatExplains(t *testing.T) {
	quotaMsg := `pods "m-1" is forbidden: exceeded quota: tenantai-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2`
	cases := map[string]struct {
		conds []metav1.Condition
		want  string
	}{
		"ready: nothing to say": {
			conds: []metav1.Condition{ready(metav1.ConditionTrue, "Reconciled", "ok"),
				cond(platformv1alpha1.ModelConditionScalingLimited, metav1.ConditionFalse, "WithinRange", "fine")},
			want: "",
		},
		"ready but held at maxReplicas": {
			conds: []metav1.Condition{ready(metav1.ConditionTrue, "Reconciled", "ok"),
				cond(platformv1alpha1.ModelConditionScalingLimited, metav1.ConditionTrue, "TooManyReplicas", "the desired replica count is more than the maximum replica count")},
			want: "ScalingLimited: the desired replica count is more than the maximum replica count",
		},
		"stalled wins over everything": {
			conds: []metav1.Condition{ready(metav1.ConditionFalse, "NotTenantNamespace", "x"),
				cond(platformv1alpha1.ConditionStalled, metav1.ConditionTrue, "NotTenantNamespace", "namespace default is not a tenant namespace"),
				cond(platformv1alpha1.ModelConditionQuotaExceeded, metav1.ConditionTrue, "QuotaExceeded", quotaMsg)},
			want: "Stalled: namespace default is not a tenant namespace",
		},
		"quota refusal before Ready's own reason": {
			conds: []metav1.Condition{ready(metav1.ConditionFalse, "DeploymentUnavailable", "Deployment m is not available"),
				cond(platformv1alpha1.ModelConditionQuotaExceeded, metav1.ConditionTrue, "QuotaExceeded", quotaMsg)},
			want: "QuotaExceeded: " + quotaMsg,
		},
		"not ready for another reason": {
			conds: []metav1.Condition{ready(metav1.ConditionFalse, "DeploymentUnavailable", "Deployment m is not available"),
				cond(platformv1alpha1.ModelConditionQuotaExceeded, metav1.ConditionFalse, "WithinQuota", "none")},
			want: "DeploymentUnavailable: Deployment m is not available",
		},
		"never reconciled": {
			want: "the operator has not reported on it yet",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := why(tc.conds); got != tc.want {
				t.Errorf("why = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestModelsTableRenderingWithAndWithoutNamespaceColumn(t *testing.T) {
	chat := withVersions(MakeModelDeployment("acme-prod", "chat").Version("v1").Canary("v2", 25).Replicas(3).Obj(),
		platformv1alpha1.VersionStatus{Version: "v1", Replicas: 2, ReadyReplicas: 2, Weight: 67},
		platformv1alpha1.VersionStatus{Version: "v2", Replicas: 1, ReadyReplicas: 1, Weight: 33})
	chat.Status.Replicas, chat.Status.ReadyReplicas, chat.Status.Endpoint = 3, 3, "chat.acme-prod.svc:8000"
	chat.Status.Conditions = []metav1.Condition{ready(metav1.ConditionTrue, "Reconciled", "ok")}
	embed := MakeModelDeployment("acme-dev", "embed").Obj()
	out := modelsOutput([]platformv1alpha1.ModelDeployment{*chat, *embed})

	want := `NAMESPACE   NAME    READY     REPLICAS   VERSIONS                                     ENDPOINT                  WHY
acme-dev    embed   Unknown   0/1        v1 100% 0/0                                  <none>                    the operator has not reported on it yet
acme-prod   chat    True      3/3        v1 67% 2/2, v2 33% 1/1 (canary, weight 25)   chat.acme-prod.svc:8000   -
`
	if diff := cmp.Diff(want, render(t, modelsTable(out, true))); diff != "" {
		t.Errorf("table -A (-want +got):\n%s", diff)
	}
	want = `NAME   READY   REPLICAS   VERSIONS                                     ENDPOINT                  WHY
chat   True    3/3        v1 67% 2/2, v2 33% 1/1 (canary, weight 25)   chat.acme-prod.svc:8000   -
`
	if diff := cmp.Diff(want, render(t, modelsTable(modelsOutput([]platformv1alpha1.ModelDeployment{*chat}), false))); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestUnknownOutputFormatIsRefused(t *testing.T) {
	err := validateOutput("wide")
	want := `unknown output format "wide": use -o json, -o yaml, or no -o for a table`
	if err == nil || err.Error() != want {
		t.Errorf("validateOutput(wide) = %v, want %q", err, want)
	}
}
