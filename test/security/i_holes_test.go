package security_test

import (
	"context"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// The admission policies added for section I of the catalogue.
const (
	policyCredentials   = "tenantai-credentials"
	policyReservedNames = "tenantai-reserved-names"
	policyServiceTypes  = "tenantai-service-types"
	policyPods          = "tenantai-pods"
	policyStorage       = "tenantai-storage"
	policyNSSubresource = "tenantai-protect-namespace-subresources"
)

// withMessage narrows a mechanism to a denial whose message contains msg.
func withMessage(m mechanism, msg string) mechanism {
	return mechanism{m.name + " saying " + msg, func(err error) bool { return m.match(err) && strings.Contains(err.Error(), msg) }}
}

func tokenSecret(ns, name, account string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Annotations: map[string]string{corev1.ServiceAccountNameKey: account}}, Type: corev1.SecretTypeServiceAccountToken}
}

// waitForTenant waits until a tenant's condition has the given status and reason.
func waitForTenant(t *testing.T, name, condType, statusReason string) *platformv1alpha1.Tenant {
	t.Helper()
	tn := &platformv1alpha1.Tenant{}
	waitFor(t, func() bool {
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn); err != nil {
			return false
		}
		for _, c := range tn.Status.Conditions {
			if c.Type == condType && string(c.Status)+"/"+c.Reason == statusReason {
				return true
			}
		}
		return false
	}, "tenant "+name+" "+condType+"="+statusReason)
	return tn
}

func gpuPod(name, ns string, resourceName corev1.ResourceName) *corev1.Pod {
	p := compliantPod(name)
	p.Namespace = ns
	one := resource.MustParse("1")
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{resourceName: one}, Limits: corev1.ResourceList{resourceName: one}}
	return p
}

func TestI38_Credentials(t *testing.T) {
	ctx := context.Background()

	t.Run("a token Secret for an owner's service account, through every identity and verb", func(t *testing.T) {
		deny := withMessage(byPolicy(policyCredentials), "is of type kubernetes.io/service-account-token")
		refused(t, developer.Create(ctx, tokenSecret("blue-prod", "mint", "deployer")), deny)
		refused(t, namespaceSA.Create(ctx, tokenSecret("blue-prod", "mint", "deployer")), deny)
		refused(t, admin.Create(ctx, tokenSecret("blue-prod", "mint", "deployer"), client.DryRunAll), deny)
		refused(t, developer.Create(ctx, tokenSecret("blue-dev", "mint", "default"), client.DryRunAll), deny)
		applied := tokenSecret("blue-prod", "mint-apply", "deployer")
		applied.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
		refused(t, owner.Patch(ctx, applied, client.Apply, client.FieldOwner("attacker"), client.ForceOwnership), deny) //nolint:staticcheck // apply patch on purpose
		// An existing Secret cannot be turned into one: type is immutable.
		plain := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "plain"}, Type: corev1.SecretTypeOpaque}
		if err := developer.Create(ctx, plain); err != nil {
			t.Fatal(err)
		}
		plain.Type = corev1.SecretTypeServiceAccountToken
		plain.Annotations = map[string]string{corev1.ServiceAccountNameKey: "deployer"}
		err := developer.Update(ctx, plain)
		if err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "field is immutable") {
			t.Errorf("turning a Secret into a token Secret: %v, want the API server's immutable-field refusal", err)
		}
		// TokenRequest stays refused (RBAC), as before.
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "blue-prod", Resource: "serviceaccounts", Subresource: "token", Verb: "create", Name: "deployer"}}}
		if err := developer.Create(ctx, review); err != nil || review.Status.Allowed {
			t.Errorf("the developer may request tokens: %v %v", review.Status.Allowed, err)
		}
	})

	t.Run("a token Secret that exists is removed, with an Event", func(t *testing.T) {
		secret := tokenSecret("blue-dev", "legacy-token", "default")
		if err := breakGlass.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			return apierrors.IsNotFound(env.Admin.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{}))
		}, "the operator to delete the token Secret")
		waitFor(t, func() bool { return hasEvent("blue", platformv1alpha1.EventReasonTokenSecretRemoved) }, "a TokenSecretRemoved Event")
	})

	t.Run("a pod running as a service account named as a principal", func(t *testing.T) {
		pod := compliantPod("as-deployer")
		pod.Spec.ServiceAccountName = "deployer"
		refused(t, admin.Create(ctx, pod, client.DryRunAll),
			withMessage(byPolicy(policyPods), "the pod runs as service account deployer, which the Tenant names as an owner or member"))
		pod.Spec.ServiceAccountName = "other"
		if err := admin.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Errorf("a pod as an unnamed service account was refused: %v", err)
		}
	})

	t.Run("a service account principal outside the tenant's namespaces", func(t *testing.T) {
		tn := MakeTenant("blue-sa").Namespaces("prod").
			Member(platformv1alpha1.SubjectServiceAccount, "default", "red-prod", platformv1alpha1.RoleAdmin).Obj()
		refused(t, env.Admin.Create(ctx, tn, client.DryRunAll),
			bySchema("a ServiceAccount named as an owner or member must live in one of this tenant's namespaces"))
	})
}

// hasEvent reports whether an Event with reason was recorded about a tenant.
func hasEvent(tenant, reason string) bool {
	for _, r := range tenantEventReasons(tenant) {
		if r == reason {
			return true
		}
	}
	return false
}

// amberTenant makes a tenant whose namespaces the release and reuse cases
// may take apart.
func amberTenant(t *testing.T) {
	t.Helper()
	tn := MakeTenant("amber").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectUser, "amber-owner").
		QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	if err := env.Admin.Create(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	waitForTenant(t, "amber", platformv1alpha1.ConditionReady, "True/"+platformv1alpha1.ReasonReconciled)
}

func TestI39_I41_ReleaseAndReuse(t *testing.T) {
	ctx := context.Background()
	amberTenant(t)
	amberOwner, err := env.UserClient("amber-owner")
	if err != nil {
		t.Fatal(err)
	}
	const ns = "amber-dev"
	// The owner plants its own access, which release must take away too.
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}}
	planted := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "planted"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "amber-owner"}}}
	for _, obj := range []client.Object{role, planted} {
		if err := amberOwner.Create(ctx, obj); err != nil {
			t.Fatalf("the owner planting %s: %v", obj.GetName(), err)
		}
	}

	t.Run("I39 only a cluster admin marks a binding to survive release", func(t *testing.T) {
		marked := planted.DeepCopy()
		marked.Labels = map[string]string{platformv1alpha1.SurviveReleaseLabel: "true"}
		refused(t, amberOwner.Update(ctx, marked), withMessage(byPolicy(policyReservedNames), "only a cluster admin (break-glass) may set or change platform.tenantai.io/survive-release"))
		kept := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backup",
			Labels: map[string]string{platformv1alpha1.SurviveReleaseLabel: "true"}},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "velero", Namespace: "velero"}}}
		refused(t, admin.Create(ctx, kept, client.DryRunAll), byPolicy(policyReservedNames))
		if err := breakGlass.Create(ctx, kept); err != nil {
			t.Fatalf("break-glass marking a binding: %v", err)
		}
	})

	t.Run("I39 after release no tenant principal keeps access", func(t *testing.T) {
		if err := breakGlass.Create(ctx, tokenSecret(ns, "release-token", "default")); err != nil {
			t.Fatal(err)
		}
		tn := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "amber"}, tn); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(tn.DeepCopy())
		tn.Spec.Namespaces = tn.Spec.Namespaces[:1]
		if err := env.Admin.Patch(ctx, tn, patch); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			n := &corev1.Namespace{}
			return env.Admin.Get(ctx, client.ObjectKey{Name: ns}, n) == nil && n.Labels[platformv1alpha1.OrphanedLabel] == "true"
		}, "amber-dev to be released")
		refused(t, amberOwner.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.DataKeySecret}, &corev1.Secret{}), byRBAC())
		refused(t, amberOwner.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)), byRBAC())
		bindings := &rbacv1.RoleBindingList{}
		if err := env.Admin.List(ctx, bindings, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, rb := range bindings.Items {
			left = append(left, rb.Name)
		}
		if len(left) != 1 || left[0] != "backup" {
			t.Errorf("bindings left after release: %v, want only the one marked to survive", left)
		}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "release-token"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Errorf("a token Secret survived release: %v", err)
		}
		policies := &networkingv1.NetworkPolicyList{}
		if err := env.Admin.List(ctx, policies, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(policies.Items) != 1 || policies.Items[0].Name != naming.NetworkPolicyDefaultDeny || len(policies.Items[0].Spec.PolicyTypes) != 2 {
			t.Errorf("network policies after release: %d, want only the deny-all one", len(policies.Items))
		}
		record := &corev1.ConfigMap{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.ReleasedBindingsConfigMap(ns)}, record); err != nil {
			t.Fatalf("the removed bindings were not recorded: %v", err)
		}
		if _, ok := record.Data["planted.yaml"]; !ok {
			t.Errorf("the planted binding is not in the record: %v", record.Data)
		}
	})

	t.Run("I41 a new Tenant of a deleted one's name gets none of its namespaces or key", func(t *testing.T) {
		old := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "amber"}, old); err != nil {
			t.Fatal(err)
		}
		if err := env.Admin.Delete(ctx, old); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			return apierrors.IsNotFound(env.Admin.Get(ctx, client.ObjectKey{Name: "amber"}, &platformv1alpha1.Tenant{}))
		},
			"the old amber to be gone")
		successor := MakeTenant("amber").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectUser, "amber-new").
			QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
		if err := env.Admin.Create(ctx, successor); err != nil {
			t.Fatal(err)
		}
		tn := waitForTenant(t, "amber", platformv1alpha1.ConditionStalled, "True/"+platformv1alpha1.TenantReasonAdoptionRequired)
		for _, c := range tn.Status.Conditions {
			if c.Type == platformv1alpha1.ConditionStalled && !strings.Contains(c.Message, platformv1alpha1.AdoptFromAnnotation+"="+string(old.UID)) {
				t.Errorf("the stall does not give the adoption command: %s", c.Message)
			}
		}
		newOwner, err := env.UserClient("amber-new")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		for _, ns := range []string{"amber-prod", "amber-dev"} {
			refused(t, newOwner.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.DataKeySecret}, &corev1.Secret{}), byRBAC())
		}
		err = env.Admin.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret("amber")}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("the new amber has a canonical key before holding a namespace (or the old one kept its name): %v", err)
		}
		archived := &corev1.Secret{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace,
			Name: naming.ArchivedKeySecret("amber", string(old.UID))}, archived); err != nil {
			t.Errorf("the old amber's key was not kept: %v", err)
		}
	})
}

func TestI40_ReservedNames(t *testing.T) {
	ctx := context.Background()
	deny := withMessage(byPolicy(policyReservedNames), "names starting with tenantai- are reserved in tenant namespaces")
	squat := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "tenantai-tenant-viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-admin"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: blueOwner}}}
	refused(t, owner.Create(ctx, squat), deny)
	refused(t, namespaceSA.Create(ctx, squat.DeepCopy()), deny)
	refused(t, admin.Create(ctx, squat.DeepCopy(), client.DryRunAll), deny)
	refused(t, owner.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "tenantai-tenant-admin"}}), deny)
	refused(t, developer.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "tenantai-data-key-2"}}), deny)
	refused(t, developer.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-dev", Name: "tenantai-policy-2"}}), deny)
	if err := owner.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-dev", Name: "my-tenantai-notes"}}, client.DryRunAll); err != nil {
		t.Errorf("a name merely containing tenantai was refused: %v", err)
	}
}

func TestI42_I46_ServiceTypes(t *testing.T) {
	ctx := context.Background()
	gold := MakeTenant("gold").Namespaces("prod").Owner(platformv1alpha1.SubjectUser, "gold-owner").
		QuotaPolicy(platformv1alpha1.QuotaOptional).Obj() // and no TenantQuota
	if err := env.Admin.Create(ctx, gold); err != nil {
		t.Fatal(err)
	}
	waitForTenant(t, "gold", platformv1alpha1.ConditionReady, "True/"+platformv1alpha1.ReasonReconciled)
	goldOwner, err := env.UserClient("gold-owner")
	if err != nil {
		t.Fatal(err)
	}
	svc := func(name string, typ corev1.ServiceType) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "gold-prod", Name: name},
			Spec: corev1.ServiceSpec{Type: typ, Ports: []corev1.ServicePort{{Port: 8000}}}}
		if typ == corev1.ServiceTypeExternalName {
			s.Spec.ExternalName = "chat.blue-prod.svc.cluster.local"
			s.Spec.Ports = nil
		}
		return s
	}
	for _, typ := range []corev1.ServiceType{corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer} {
		refused(t, goldOwner.Create(ctx, svc("open", typ)),
			withMessage(byPolicy(policyServiceTypes), "type "+string(typ)+" is not granted to this tenant (granted: none)"))
	}
	externalName := withMessage(byPolicy(policyServiceTypes), "type ExternalName is refused in tenant namespaces")
	refused(t, goldOwner.Create(ctx, svc("alias", corev1.ServiceTypeExternalName)), externalName)
	refused(t, admin.Create(ctx, svc("alias", corev1.ServiceTypeExternalName), client.DryRunAll), externalName)
	ext := svc("ext", corev1.ServiceTypeClusterIP)
	ext.Spec.ExternalIPs = []string{"203.0.113.7"}
	refused(t, goldOwner.Create(ctx, ext), byPolicy(policyExposure))

	t.Run("I46 changing a Service to ExternalName", func(t *testing.T) {
		plain := svc("plain", corev1.ServiceTypeClusterIP)
		if err := goldOwner.Create(ctx, plain); err != nil {
			t.Fatal(err)
		}
		refused(t, goldOwner.Patch(ctx, plain, client.RawPatch(types.MergePatchType,
			[]byte(`{"spec":{"type":"ExternalName","externalName":"kubernetes.default.svc.cluster.local","clusterIP":"","clusterIPs":null,"ports":null}}`))), externalName)
	})

	t.Run("the grant lives in the Tenant when there is no TenantQuota", func(t *testing.T) {
		live := &platformv1alpha1.Tenant{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: "gold"}, live); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(live.DeepCopy())
		live.Spec.Exposure = &platformv1alpha1.TenantExposure{ServiceTypes: []platformv1alpha1.ExposedServiceType{platformv1alpha1.ServiceTypeNodePort}}
		if err := env.Admin.Patch(ctx, live, patch); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			return goldOwner.Create(ctx, svc("open", corev1.ServiceTypeNodePort), client.DryRunAll) == nil
		},
			"NodePort to be admitted once granted")
		refused(t, goldOwner.Create(ctx, svc("open", corev1.ServiceTypeLoadBalancer), client.DryRunAll), byPolicy(policyServiceTypes))
	})
}

func TestI43_I47_Accelerators(t *testing.T) {
	greenTenant(t)
	ctx := context.Background()

	t.Run("I43 an accelerator the TenantQuota does not name is not available", func(t *testing.T) {
		for _, name := range []corev1.ResourceName{"nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "amd.com/gpu"} {
			refused(t, admin.Create(ctx, gpuPod("greedy", "blue-prod", name), client.DryRunAll),
				withMessage(byPolicy(policyPods), "the pod requests "+string(name)+", which this tenant is not granted (granted accelerators: none)"))
		}
		if err := admin.Create(ctx, gpuPod("granted", "green-prod", "nvidia.com/gpu"), client.DryRunAll); err != nil {
			t.Errorf("a GPU the quota names was refused: %v", err)
		}
		refused(t, admin.Create(ctx, gpuPod("other", "green-prod", "amd.com/gpu"), client.DryRunAll), byPolicy(policyPods))
	})

	t.Run("I43 through a ModelDeployment: Ready says why its pods are missing", func(t *testing.T) {
		md := MakeModelDeployment("blue-dev", "greedy").Requests(corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}).Obj()
		if err := env.Admin.Create(ctx, md); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Admin.Delete(ctx, md) })
		waitFor(t, func() bool {
			got := &platformv1alpha1.ModelDeployment{}
			_ = env.Admin.Get(ctx, client.ObjectKeyFromObject(md), got)
			for _, c := range got.Status.Conditions {
				if c.Type == platformv1alpha1.ConditionReady && c.Reason == platformv1alpha1.ModelReasonPodsRefused &&
					strings.Contains(c.Message, "ValidatingAdmissionPolicy '"+policyPods+"'") && strings.Contains(c.Message, "not granted") {
					return true
				}
			}
			return false
		}, "Ready=False PodsRefused with the policy's message")
	})

	t.Run("I47 a pod that requests no GPU cannot tolerate the GPU taint", func(t *testing.T) {
		pod := greenPod("sneaky")
		pod.Spec.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		refused(t, admin.Create(ctx, pod, client.DryRunAll),
			withMessage(byPolicy(policyPods), "the pod requests no accelerator but tolerates nvidia.com/gpu"))
		gpu := gpuPod("gpu", "green-prod", "nvidia.com/gpu")
		gpu.Spec.Tolerations = pod.Spec.Tolerations
		if err := admin.Create(ctx, gpu, client.DryRunAll); err != nil {
			t.Errorf("a GPU pod tolerating the GPU taint was refused: %v", err)
		}
	})

	t.Run("I47 GPU visibility through env, in containers and ephemeral containers", func(t *testing.T) {
		deny := withMessage(byPolicy(policyPods), "through env: the container runtime would show it GPUs it did not request")
		for _, name := range []string{"NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "AMD_VISIBLE_DEVICES"} {
			pod := greenPod("visible")
			pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: name, Value: "all"}}
			refused(t, admin.Create(ctx, pod, client.DryRunAll), deny)
		}
		init := greenPod("visible-init")
		init.Spec.InitContainers = []corev1.Container{*init.Spec.Containers[0].DeepCopy()}
		init.Spec.InitContainers[0].Name = "init"
		init.Spec.InitContainers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
		refused(t, admin.Create(ctx, init, client.DryRunAll), deny)

		running := greenPod("debug-target")
		if err := admin.Create(ctx, running); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Admin.Delete(ctx, running) })
		running.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debug", Image: "example.com/debug:1", Env: []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}},
			SecurityContext: running.Spec.Containers[0].SecurityContext,
		}}}
		refused(t, admin.SubResource("ephemeralcontainers").Update(ctx, running), deny)

		md := MakeModelDeployment("green-prod", "visible").Obj()
		md.Spec.Runtime.Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
		refused(t, owner.Create(ctx, md), byRBAC()) // blue's owner, in green's namespace
		greenOwner, err := env.UserClient("green-owner")
		if err != nil {
			t.Fatal(err)
		}
		refused(t, greenOwner.Create(ctx, md), bySchema("env names starting with NVIDIA_"))
	})
}

func TestI44_SystemSubjects(t *testing.T) {
	for _, s := range []platformv1alpha1.Subject{
		{Kind: platformv1alpha1.SubjectGroup, Name: "system:authenticated"},
		{Kind: platformv1alpha1.SubjectUser, Name: "system:anonymous"},
		{Kind: platformv1alpha1.SubjectGroup, Name: "system:serviceaccounts"},
		{Kind: platformv1alpha1.SubjectGroup, Name: "system:serviceaccounts:blue-prod"},
		{Kind: platformv1alpha1.SubjectGroup, Name: "system:nodes"},
		{Kind: platformv1alpha1.SubjectGroup, Name: "system:masters"},
	} {
		tn := MakeTenant("everyone").Namespaces("prod").Obj()
		tn.Spec.Owners = []platformv1alpha1.Subject{s}
		refused(t, env.Admin.Create(context.Background(), tn, client.DryRunAll), bySchema("User and Group names may not start with 'system:'"))
	}
}

func TestI45_Storage(t *testing.T) {
	greenTenant(t)
	ctx := context.Background()
	greenOwner, err := env.UserClient("green-owner")
	if err != nil {
		t.Fatal(err)
	}
	pvc := func(name, class, volume string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "green-prod", Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				VolumeName:  volume,
			}}
		if class != "" {
			c.Spec.StorageClassName = ptr.To(class)
		}
		return c
	}
	prebound := withMessage(byPolicy(policyStorage), "may not name spec.volumeName (someone-elses-pv)")
	refused(t, greenOwner.Create(ctx, pvc("grab", "fast", "someone-elses-pv")), prebound)
	refused(t, admin.Create(ctx, pvc("grab", "fast", "someone-elses-pv"), client.DryRunAll), prebound)
	refused(t, greenOwner.Create(ctx, pvc("slow", "slow", "")),
		withMessage(byPolicy(policyStorage), "StorageClass slow is not allowed for this tenant (allowed: fast)"))
	refused(t, greenOwner.Create(ctx, pvc("classless", "", "")),
		withMessage(byPolicy(policyStorage), "it names no StorageClass and no default one applies"))

	claim := pvc("data", "fast", "")
	if err := greenOwner.Create(ctx, claim); err != nil {
		t.Fatalf("a claim of an allowed class was refused: %v", err)
	}
	refused(t, greenOwner.Patch(ctx, claim, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"volumeName":"someone-elses-pv"}}`))), prebound)
	refused(t, admin.Patch(ctx, claim, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"volumeName":"someone-elses-pv"}}`)), client.DryRunAll), prebound)
}

func TestI48_NamespaceSubresources(t *testing.T) {
	ctx := context.Background()
	deny := byPolicy(policyNSSubresource)
	relabel := func(ns, subresource, key, value string) error {
		live := &corev1.Namespace{}
		if err := env.Admin.Get(ctx, client.ObjectKey{Name: ns}, live); err != nil {
			return err
		}
		if live.Labels == nil {
			live.Labels = map[string]string{}
		}
		live.Labels[key] = value
		return admin.SubResource(subresource).Update(ctx, live)
	}
	for _, sub := range []string{"status", "finalize"} {
		refused(t, relabel("blue-prod", sub, platformv1alpha1.TenantLabel, "red"), withMessage(deny, "may not be changed through namespaces/"+sub))
		refused(t, relabel("default", sub, platformv1alpha1.TenantLabel, "blue"), deny)
		refused(t, relabel("blue-dev", sub, "pod-security.kubernetes.io/enforce", "privileged"), deny)
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+platformv1alpha1.TenantUIDAnnotation+`":"forged"}}}`))
	refused(t, admin.Status().Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "blue-prod"}}, patch), deny)
	refused(t, admin.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "blue-prod"}}, patch), byPolicy(policyNS))

	t.Run("Kubernetes' namespace controller still deletes tenant namespaces", func(t *testing.T) {
		onyx := MakeTenant("onyx").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).DeletionPolicy(platformv1alpha1.DeletionDelete).Obj()
		if err := env.Admin.Create(ctx, onyx); err != nil {
			t.Fatal(err)
		}
		waitForTenant(t, "onyx", platformv1alpha1.ConditionReady, "True/"+platformv1alpha1.ReasonReconciled)
		if err := env.Admin.Delete(ctx, onyx); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for !apierrors.IsNotFound(env.Admin.Get(ctx, client.ObjectKey{Name: "onyx-prod"}, &corev1.Namespace{})) {
			if time.Now().After(deadline) {
				t.Fatal("the namespace controller did not finish deleting onyx-prod within 90s")
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
}
