package api_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func TestTenantDefaultsRoundTrip(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	in := MakeTenant("defaults").Namespaces("prod").Obj()
	if err := env.Admin.Create(ctx, in); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() { _ = env.Admin.Delete(ctx, in) })

	got := &platformv1alpha1.Tenant{}
	if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(in), got); err != nil {
		t.Fatalf("get: %v", err)
	}
	checks := map[string]struct{ got, want any }{
		"status.observedGeneration": {got.Status.ObservedGeneration, int64(-1)},
		"spec.podSecurity":          {got.Spec.PodSecurity, platformv1alpha1.PodSecurityRestricted},
		"spec.quotaPolicy":          {got.Spec.QuotaPolicy, platformv1alpha1.QuotaRequired},
		"spec.network.isolation":    {got.Spec.Network.Isolation, platformv1alpha1.NetworkDefaultDeny},
		"spec.deletionPolicy":       {got.Spec.DeletionPolicy, platformv1alpha1.DeletionRetain},
	}
	for field, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want default %v", field, c.got, c.want)
		}
	}
	if rp := got.Spec.Encryption.RotationPeriod; rp == nil || rp.Duration != 720*time.Hour {
		t.Errorf("spec.encryption.rotationPeriod = %v, want default 720h", rp)
	}
}

func TestTenantValidation(t *testing.T) {
	env := testenv.Require(t)
	cases := map[string]struct {
		tenant *platformv1alpha1.Tenant
		field  string
		msg    string
	}{
		"reserved kube prefix": {
			tenant: MakeTenant("kubeflow").Obj(),
			field:  rootField, msg: "may not be 'default' or start with 'kube'",
		},
		"reserved default name": {
			tenant: MakeTenant("default").Obj(),
			field:  rootField, msg: "may not be 'default'",
		},
		"name with a dot is not a DNS label": {
			tenant: MakeTenant("acme.corp").Obj(),
			field:  rootField, msg: "tenant name must be a DNS-1123 label",
		},
		"namespace name too long": {
			tenant: MakeTenant("a-rather-long-tenant-name-for-testing").Namespaces("and-a-long-namespace-entry-name").Obj(),
			field:  "spec.namespaces", msg: "at most 63 characters: shorten the tenant name or the namespace entry name",
		},
		"namespace entry not a DNS label": {
			tenant: MakeTenant("acme").Namespaces("Prod_1").Obj(),
			field:  "spec.namespaces[0].name", msg: "name must be a DNS-1123 label",
		},
		"duplicate namespace entry": {
			tenant: MakeTenant("acme").Namespaces("prod", "prod").Obj(),
			field:  "spec.namespaces[1]", msg: "Duplicate value",
		},
		"reserved label prefix": {
			tenant: MakeTenant("acme").NamespaceLabels("prod", map[string]platformv1alpha1.LabelValue{"pod-security.kubernetes.io/enforce": "privileged"}).Obj(),
			field:  "spec.namespaces[0].labels", msg: "labels may not use the reserved prefixes",
		},
		"tenant label forged": {
			tenant: MakeTenant("acme").NamespaceLabels("prod", map[string]platformv1alpha1.LabelValue{"platform.tenantai.io/tenant": "other"}).Obj(),
			field:  "spec.namespaces[0].labels", msg: "labels may not use the reserved prefixes",
		},
		"argocd label": {
			tenant: MakeTenant("acme").NamespaceLabels("prod", map[string]platformv1alpha1.LabelValue{"argocd.argoproj.io/instance": "x"}).Obj(),
			field:  "spec.namespaces[0].labels", msg: "labels may not use the reserved prefixes",
		},
		"malformed label value": {
			tenant: MakeTenant("acme").NamespaceLabels("prod", map[string]platformv1alpha1.LabelValue{"env": "not ok!"}).Obj(),
			field:  "spec.namespaces[0].labels[env]", msg: "label values must be at most 63 characters",
		},
		"unknown role": {
			tenant: MakeTenant("acme").Member(platformv1alpha1.SubjectUser, "bob", "", "root").Obj(),
			field:  "spec.members[0].role", msg: `supported values: "admin", "developer", "viewer"`,
		},
		"service account without namespace": {
			tenant: MakeTenant("acme").Member(platformv1alpha1.SubjectServiceAccount, "deployer", "", platformv1alpha1.RoleDeveloper).Obj(),
			field:  "spec.members[0]", msg: "namespace is required for kind ServiceAccount",
		},
		"user with namespace": {
			tenant: MakeTenant("acme").Member(platformv1alpha1.SubjectUser, "bob", "acme-prod", platformv1alpha1.RoleDeveloper).Obj(),
			field:  "spec.members[0]", msg: "not allowed for User or Group",
		},
		"duplicate member": {
			tenant: MakeTenant("acme").
				Member(platformv1alpha1.SubjectUser, "bob", "", platformv1alpha1.RoleDeveloper).
				Member(platformv1alpha1.SubjectUser, "bob", "", platformv1alpha1.RoleViewer).Obj(),
			field: "spec.members", msg: "members must be unique",
		},
		"malformed CIDR": {
			tenant: MakeTenant("acme").EgressCIDRs("10.0.0.0/33").Obj(),
			field:  "spec.network.allowEgressCIDRs", msg: "entries must be CIDRs",
		},
		"non-canonical CIDR": {
			tenant: MakeTenant("acme").EgressCIDRs("10.1.2.3/16").Obj(),
			field:  "spec.network.allowEgressCIDRs", msg: "canonical form",
		},
		"everyone as an owner (I44)": {
			tenant: MakeTenant("acme").Owner(platformv1alpha1.SubjectGroup, "system:authenticated").Obj(),
			field:  "spec.owners[0]", msg: "User and Group names may not start with 'system:'",
		},
		"anonymous as a member": {
			tenant: MakeTenant("acme").Member(platformv1alpha1.SubjectUser, "system:anonymous", "", platformv1alpha1.RoleViewer).Obj(),
			field:  "spec.members[0]", msg: "User and Group names may not start with 'system:'",
		},
		"every service account as a group": {
			tenant: MakeTenant("acme").Member(platformv1alpha1.SubjectGroup, "system:serviceaccounts:acme-prod", "", platformv1alpha1.RoleViewer).Obj(),
			field:  "spec.members[0]", msg: "User and Group names may not start with 'system:'",
		},
		"a service account impersonated as a user name": {
			tenant: MakeTenant("acme").Owner(platformv1alpha1.SubjectUser, "system:serviceaccount:kube-system:default").Obj(),
			field:  "spec.owners[0]", msg: "User and Group names may not start with 'system:'",
		},
		"batch class outside priorityClasses": {
			tenant: withScheduling(MakeTenant("acme").Obj(), platformv1alpha1.TenantScheduling{PriorityClasses: []string{"serve"}, BatchPriorityClass: "batch"}),
			field:  "spec.scheduling.batchPriorityClass", msg: "batchPriorityClass must be one of priorityClasses other than the first",
		},
		"batch class is the default": {
			tenant: withScheduling(MakeTenant("acme").Obj(), platformv1alpha1.TenantScheduling{PriorityClasses: []string{"batch", "serve"}, BatchPriorityClass: "batch"}),
			field:  "spec.scheduling.batchPriorityClass", msg: "the first is the default that model pods get",
		},
		"service account outside the tenant's namespaces (I38)": {
			tenant: MakeTenant("acme").Namespaces("prod").
				Member(platformv1alpha1.SubjectServiceAccount, "deployer", "other-prod", platformv1alpha1.RoleAdmin).Obj(),
			field: "spec", msg: "a ServiceAccount named as an owner or member must live in one of this tenant's namespaces",
		},
		"service account owner in kube-system": {
			tenant: func() *platformv1alpha1.Tenant {
				tn := MakeTenant("acme").Namespaces("prod").Obj()
				tn.Spec.Owners = []platformv1alpha1.Subject{{Kind: platformv1alpha1.SubjectServiceAccount, Name: "default", Namespace: "kube-system"}}
				return tn
			}(),
			field: "spec", msg: "a ServiceAccount named as an owner or member must live in one of this tenant's namespaces",
		},
		"unknown exposed service type": {
			tenant: func() *platformv1alpha1.Tenant {
				tn := MakeTenant("acme").Obj()
				tn.Spec.Exposure = &platformv1alpha1.TenantExposure{ServiceTypes: []platformv1alpha1.ExposedServiceType{"ExternalName"}}
				return tn
			}(),
			field: "spec.exposure.serviceTypes[0]", msg: `supported values: "NodePort", "LoadBalancer"`,
		},
		"storage class not a DNS name": {
			tenant: func() *platformv1alpha1.Tenant {
				tn := MakeTenant("acme").Obj()
				tn.Spec.Storage = &platformv1alpha1.TenantStorage{Classes: []string{"Fast SSD"}}
				return tn
			}(),
			field: "spec.storage.classes[0]", msg: "should match",
		},
		"rotation period too short": {
			tenant: MakeTenant("acme").RotationPeriod(metav1.Duration{Duration: 30 * time.Minute}).Obj(),
			field:  "spec.encryption.rotationPeriod", msg: "rotationPeriod must be at least 1h",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := env.Admin.Create(context.Background(), tc.tenant, client.DryRunAll)
			expectInvalid(t, err, tc.field, tc.msg)
		})
	}
}

// TestTenantSubjectsInItsNamespaces: a ServiceAccount named in one of the
// tenant's own namespaces is accepted, and removing the entry it lives in is
// refused while it is named (the namespace cannot be released with it).
func TestTenantSubjectsInItsNamespaces(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	tn := MakeTenant("sa-home").Namespaces("prod", "dev").
		Member(platformv1alpha1.SubjectServiceAccount, "deployer", "sa-home-prod", platformv1alpha1.RoleDeveloper).Obj()
	if err := env.Admin.Create(ctx, tn, client.DryRunAll); err != nil {
		t.Fatalf("a service account in the tenant's own namespace was refused: %v", err)
	}
	tn.Spec.Namespaces = tn.Spec.Namespaces[1:]
	err := env.Admin.Create(ctx, tn, client.DryRunAll)
	expectInvalid(t, err, "spec", "cannot be removed while such a ServiceAccount lives in it")
}

func TestTenantEnumsRefuseUnknownValues(t *testing.T) {
	env := testenv.Require(t)
	cases := map[string]struct {
		path  []string
		value string
		field string
	}{
		"podSecurity":    {[]string{"spec", "podSecurity"}, "privileged", "spec.podSecurity"},
		"quotaPolicy":    {[]string{"spec", "quotaPolicy"}, "Never", "spec.quotaPolicy"},
		"deletionPolicy": {[]string{"spec", "deletionPolicy"}, "Orphan", "spec.deletionPolicy"},
		"isolation":      {[]string{"spec", "network", "isolation"}, "AllowAll", "spec.network.isolation"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": platformv1alpha1.GroupVersion.String(), "kind": "Tenant",
				"metadata": map[string]any{"name": "enum-" + name[:4]}, "spec": map[string]any{},
			}}
			if err := unstructured.SetNestedField(u.Object, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			err := env.Admin.Create(context.Background(), u, client.DryRunAll)
			expectInvalid(t, err, tc.field, "Unsupported value")
		})
	}
}

func TestTenantLimitRangeQuantities(t *testing.T) {
	env := testenv.Require(t)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": platformv1alpha1.GroupVersion.String(), "kind": "Tenant",
		"metadata": map[string]any{"name": "quantities"},
		"spec": map[string]any{"limitRange": map[string]any{
			"defaultRequest": map[string]any{string(corev1.ResourceCPU): "a lot"},
		}},
	}}
	err := env.Admin.Create(context.Background(), u, client.DryRunAll)
	expectInvalid(t, err, "spec.limitRange.defaultRequest.cpu", "should match")
}

func withScheduling(t *platformv1alpha1.Tenant, s platformv1alpha1.TenantScheduling) *platformv1alpha1.Tenant {
	t.Spec.Scheduling = &s
	return t
}
