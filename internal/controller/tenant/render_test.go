package tenant

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

func TestEgressExceptions(t *testing.T) {
	cases := map[string][]string{
		"0.0.0.0/0":      {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"},
		"::/0":           {"fc00::/7", "fe80::/10"},
		"10.0.0.0/8":     nil, // named explicitly: opened
		"10.20.0.0/16":   nil, // inside a blocked range: explicit, opened
		"203.0.113.0/24": nil,
		"160.0.0.0/4":    {"172.16.0.0/12", "169.254.0.0/16"},
	}
	for cidr, want := range cases {
		t.Run(cidr, func(t *testing.T) {
			got, err := egressExceptions(cidr)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("exceptions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNamespaceLabelsOperatorWins(t *testing.T) {
	tn := &platformv1alpha1.Tenant{}
	tn.Name = "acme"
	tn.Spec.PodSecurity = platformv1alpha1.PodSecurityBaseline
	entry := platformv1alpha1.TenantNamespace{Name: "prod", Labels: map[string]platformv1alpha1.LabelValue{
		"env": "prod", platformv1alpha1.TenantLabel: "evil", psaEnforce: "privileged",
	}}
	got := namespaceLabels(tn, entry)
	want := map[string]string{
		"env": "prod", platformv1alpha1.TenantLabel: "acme", platformv1alpha1.ManagedByLabel: "tenantai",
		psaEnforce: "baseline", psaEnforceVersion: "latest", psaAudit: "baseline", psaAuditVersion: "latest",
		psaWarn: "baseline", psaWarnVersion: "latest",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}

func TestDesiredRoleBindings(t *testing.T) {
	tn := &platformv1alpha1.Tenant{}
	tn.Name = "acme"
	tn.Spec.Owners = []platformv1alpha1.Subject{{Kind: platformv1alpha1.SubjectGroup, Name: "acme-admins"}}
	tn.Spec.Members = []platformv1alpha1.Member{
		{Subject: platformv1alpha1.Subject{Kind: platformv1alpha1.SubjectGroup, Name: "acme-admins"}, Role: platformv1alpha1.RoleAdmin},
		{Subject: platformv1alpha1.Subject{Kind: platformv1alpha1.SubjectServiceAccount, Name: "deployer", Namespace: "acme-prod"}, Role: platformv1alpha1.RoleDeveloper},
	}
	got := desiredRoleBindings(tn, "acme-prod")
	if len(got) != 2 {
		t.Fatalf("got %d RoleBindings, want admin and developer only (no viewer without subjects)", len(got))
	}
	admin, dev := got[0], got[1]
	if admin.Name != naming.TenantRole(platformv1alpha1.RoleAdmin) || admin.RoleRef.Name != "tenantai-tenant-admin" {
		t.Errorf("admin binding = %s -> %s", admin.Name, admin.RoleRef.Name)
	}
	wantAdmin := []rbacv1.Subject{{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "acme-admins"}}
	if diff := cmp.Diff(wantAdmin, admin.Subjects); diff != "" {
		t.Errorf("admin subjects, an owner listed twice is bound once (-want +got):\n%s", diff)
	}
	wantDev := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "deployer", Namespace: "acme-prod"}}
	if diff := cmp.Diff(wantDev, dev.Subjects); diff != "" {
		t.Errorf("developer subjects (-want +got):\n%s", diff)
	}
}

func TestDesiredNetworkPolicies(t *testing.T) {
	tn := &platformv1alpha1.Tenant{}
	tn.Name = "acme"
	nps, err := desiredNetworkPolicies(tn, "acme-prod")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, np := range nps {
		names = append(names, np.Name)
	}
	want := []string{naming.NetworkPolicyDefaultDeny, naming.NetworkPolicyAllowSameTenant, naming.NetworkPolicyAllowDNS}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("with no peers or CIDRs only deny, same-tenant and DNS (-want +got):\n%s", diff)
	}
	deny := nps[0].Spec
	if len(deny.PodSelector.MatchLabels) != 0 || len(deny.Ingress) != 0 || len(deny.Egress) != 0 || len(deny.PolicyTypes) != 2 {
		t.Errorf("default deny must select every pod and allow nothing both ways: %+v", deny)
	}
}

func TestHostnamesOverlap(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"chat.acme.example", "chat.acme.example", true},
		{"*.acme.example", "chat.acme.example", true},
		{"chat.acme.example", "*.acme.example", true},
		{"*.acme.example", "a.b.acme.example", false}, // one label, as Ingress wildcards
		{"*.acme.example", "acme.example", false},
		{"*.acme.example", "*.other.example", false},
		{"*.acme.example", "*.acme.example", true},
		{"chat.acme.example", "chat.acme.example.evil", false},
	}
	for _, tc := range cases {
		if got := hostnamesOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("hostnamesOverlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPolicyConfigMapIndexesSelectorsAndTolerations(t *testing.T) {
	tn := &platformv1alpha1.Tenant{}
	tn.Name = "acme"
	tn.Spec.Scheduling = &platformv1alpha1.TenantScheduling{
		NodeSelector:    map[string]platformv1alpha1.LabelValue{"z.example.com/pool": "acme", "a.example.com/gpu": "h100"},
		Tolerations:     []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}, {Key: "dedicated", Value: "acme"}},
		PriorityClasses: []string{"high", "low"},
	}
	got := policyConfigMap(tn, "acme-prod", []string{"*.acme.example"}, map[string]string{naming.PolicyDefaultPriorityClass: "high", naming.PolicyDefaultPriority: "1000"}).Data
	want := map[string]string{
		"nodeSelector.0.key": "a.example.com/gpu", "nodeSelector.0.value": "h100",
		"nodeSelector.1.key": "z.example.com/pool", "nodeSelector.1.value": "acme",
		"toleration.0.key": "nvidia.com/gpu", "toleration.0.operator": "Exists", "toleration.0.value": "", "toleration.0.effect": "NoSchedule",
		"toleration.1.key": "dedicated", "toleration.1.operator": "Equal", "toleration.1.value": "acme", "toleration.1.effect": "",
		"priorityClasses": "high,low", "runtimeClasses": "", "hostnames": "*.acme.example",
		"defaultPriorityClass": "high", "defaultPriority": "1000", "defaultPreemptionPolicy": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy data (-want +got):\n%s", diff)
	}
}
