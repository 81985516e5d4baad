package tenant

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	tn.Spec.Storage = &platformv1alpha1.TenantStorage{Classes: []string{"fast", "cheap"}}
	tn.Spec.Members = []platformv1alpha1.Member{
		{Subject: platformv1alpha1.Subject{Kind: platformv1alpha1.SubjectServiceAccount, Name: "deployer", Namespace: "acme-prod"}, Role: platformv1alpha1.RoleAdmin},
		{Subject: platformv1alpha1.Subject{Kind: platformv1alpha1.SubjectServiceAccount, Name: "ci", Namespace: "acme-dev"}, Role: platformv1alpha1.RoleAdmin},
	}
	got := policyConfigMap(tn, "acme-prod", policyGrants{
		hostnames: []string{"*.acme.example"}, defaults: map[string]string{naming.PolicyDefaultPriorityClass: "high", naming.PolicyDefaultPriority: "1000"},
		serviceTypes: []string{"NodePort"}, accelerators: []string{"nvidia.com/gpu"}, acceleratorPrefixes: []string{"nvidia.com/", "amd.com/"},
	}).Data
	want := map[string]string{
		"nodeSelector.0.key": "a.example.com/gpu", "nodeSelector.0.value": "h100",
		"nodeSelector.1.key": "z.example.com/pool", "nodeSelector.1.value": "acme",
		"toleration.0.key": "nvidia.com/gpu", "toleration.0.operator": "Exists", "toleration.0.value": "", "toleration.0.effect": "NoSchedule",
		"toleration.1.key": "dedicated", "toleration.1.operator": "Equal", "toleration.1.value": "acme", "toleration.1.effect": "",
		"priorityClasses": "high,low", "runtimeClasses": "", "hostnames": "*.acme.example",
		"defaultPriorityClass": "high", "defaultPriority": "1000", "defaultPreemptionPolicy": "",
		"serviceTypes": "NodePort", "storageClasses": "fast,cheap", "accelerators": "nvidia.com/gpu",
		"acceleratorPrefixes": "nvidia.com/,amd.com/", "serviceAccounts": "deployer",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy data (-want +got):\n%s", diff)
	}
}

// TestGrants: what the published policy grants beyond the Tenant's spec.
func TestGrants(t *testing.T) {
	q := &platformv1alpha1.TenantQuota{Spec: platformv1alpha1.TenantQuotaSpec{Hard: corev1.ResourceList{
		"requests.nvidia.com/gpu": resource.MustParse("4"), "limits.amd.com/gpu": resource.MustParse("0"),
		"requests.cpu": resource.MustParse("8"), "services.nodeports": resource.MustParse("2"), "services.loadbalancers": resource.MustParse("0"),
	}}}
	prefixes := naming.DefaultAcceleratorPrefixes
	if got := grantedAccelerators(q, prefixes); !cmp.Equal(got, []string{"amd.com/gpu", "nvidia.com/gpu"}) {
		t.Errorf("accelerators = %v: every accelerator the quota names (even at 0, which quota then refuses), nothing else", got)
	}
	if got := grantedAccelerators(nil, prefixes); len(got) != 0 {
		t.Errorf("accelerators without a TenantQuota = %v, want none", got)
	}
	tn := &platformv1alpha1.Tenant{}
	if got := grantedServiceTypes(tn, q); !cmp.Equal(got, []string{"NodePort"}) {
		t.Errorf("service types = %v: a non-zero nodeports count grants NodePort (as before serviceTypes existed), a zero one nothing", got)
	}
	tn.Spec.Exposure = &platformv1alpha1.TenantExposure{ServiceTypes: []platformv1alpha1.ExposedServiceType{platformv1alpha1.ServiceTypeLoadBalancer}}
	if got := grantedServiceTypes(tn, nil); !cmp.Equal(got, []string{"LoadBalancer"}) {
		t.Errorf("service types without a TenantQuota = %v, want the Tenant's own grant", got)
	}
}

// TestForbiddenSubjectsAreNeverBound: system: users and groups are left out
// (and reported) even when an old Tenant, let through by validation
// ratcheting, carries them.
func TestForbiddenSubjectsAreNeverBound(t *testing.T) {
	tn := &platformv1alpha1.Tenant{}
	tn.Name = "acme"
	tn.Spec.Owners = []platformv1alpha1.Subject{
		{Kind: platformv1alpha1.SubjectGroup, Name: "system:authenticated"},
		{Kind: platformv1alpha1.SubjectGroup, Name: "acme-admins"},
	}
	tn.Spec.Members = []platformv1alpha1.Member{{Subject: platformv1alpha1.Subject{Kind: platformv1alpha1.SubjectUser, Name: "system:anonymous"}, Role: platformv1alpha1.RoleViewer}}
	byRole, forbidden := subjectsByRole(tn)
	if !cmp.Equal(forbidden, []string{"Group system:authenticated", "User system:anonymous"}) {
		t.Errorf("forbidden = %v", forbidden)
	}
	for role, subjects := range byRole {
		for _, s := range subjects {
			if strings.HasPrefix(s.Name, "system:") {
				t.Errorf("%s binds %s", role, s.Name)
			}
		}
	}
	if got := desiredRoleBindings(tn, "acme-prod"); len(got) != 1 || len(got[0].Subjects) != 1 {
		t.Errorf("bindings = %+v, want only the admin binding of acme-admins", got)
	}
}

// TestHeldBy: which Tenant holds a namespace, from the UID it records or,
// for objects of a release that did not record it, from what that release
// did.
func TestHeldBy(t *testing.T) {
	tenantCreated := metav1.NewTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	tn := &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", UID: "new", CreationTimestamp: tenantCreated}}
	ns := func(uid string, orphaned bool, created time.Duration) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme-prod", Labels: map[string]string{},
			Annotations: map[string]string{}, CreationTimestamp: metav1.NewTime(tenantCreated.Add(created))}}
		if uid != "" {
			n.Annotations[platformv1alpha1.TenantUIDAnnotation] = uid
		}
		if orphaned {
			n.Labels[platformv1alpha1.OrphanedLabel] = "true"
		}
		return n
	}
	cases := map[string]struct {
		ns   *corev1.Namespace
		want string
	}{
		"recorded: this Tenant":                       {ns("new", false, time.Minute), ""},
		"recorded: this Tenant, retained":             {ns("new", true, time.Minute), ""},
		"recorded: an earlier Tenant, retained":       {ns("old", true, -time.Hour), "old"},
		"recorded: an earlier Tenant, never released": {ns("old", false, -time.Hour), "old"},
		"legacy, held: the live Tenant's":             {ns("", false, -time.Hour), ""},
		"legacy orphan made by this Tenant":           {ns("", true, time.Minute), ""},
		"legacy orphan older than this Tenant":        {ns("", true, -time.Hour), platformv1alpha1.AdoptLegacy},
	}
	for name, tc := range cases {
		if got := namespaceHolder(tc.ns, tn); got != tc.want {
			t.Errorf("%s: held by %q, want %q", name, got, tc.want)
		}
	}
}

// TestHostnameIndexFindsEveryOverlap: the index lookups find every pair
// hostnamesOverlap accepts, so claim checks never need a scan of all tenants.
func TestHostnameIndexFindsEveryOverlap(t *testing.T) {
	hosts := []string{"*.acme.example", "chat.acme.example", "acme.example", "*.b.acme.example", "x.b.acme.example", "chat.other.example"}
	for _, a := range hosts {
		tn := &platformv1alpha1.Tenant{Spec: platformv1alpha1.TenantSpec{Exposure: &platformv1alpha1.TenantExposure{Hostnames: []string{a}}}}
		filed := map[string]bool{}
		for _, k := range hostnameIndexKeys(tn) {
			filed[k] = true
		}
		for _, b := range hosts {
			found := false
			for _, k := range hostnameLookups(b) {
				found = found || filed[k]
			}
			if hostnamesOverlap(a, b) && !found {
				t.Errorf("%s overlaps %s but the lookups of %s miss it", a, b, b)
			}
		}
	}
}
