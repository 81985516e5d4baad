package security_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// TestNegativeControls proves that the cases above depend on the policies
// they name: with a policy's binding removed, a case it refused succeeds (as a
// dry run, so nothing changes); with the binding back, it is refused again.
func TestNegativeControls(t *testing.T) {
	ctx := context.Background()
	greenTenant(t)
	controls := map[string]struct {
		file   string
		attack func() error
	}{
		policyScheduling: {"scheduling.yaml", func() error {
			pod := greenPod("greedy")
			pod.Spec.PriorityClassName = "other-team-high"
			return admin.Create(ctx, pod, client.DryRunAll)
		}},
		policyExposure: {"exposure.yaml", func() error {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "green-prod", Name: "ext"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}, ExternalIPs: []string{"203.0.113.10"}}}
			return admin.Create(ctx, svc, client.DryRunAll)
		}},
		policyNS: {"protect-namespaces.yaml", func() error {
			return admin.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
				client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"`+platformv1alpha1.TenantLabel+`":"blue"}}}`)),
				client.DryRunAll)
		}},
		policyOwned: {"protect-managed-objects.yaml", func() error {
			return admin.Delete(ctx, &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: naming.LimitRange}},
				client.DryRunAll)
		}},
		policyCredentials: {"credentials.yaml", func() error {
			return admin.Create(ctx, tokenSecret("blue-prod", "mint", "deployer"), client.DryRunAll)
		}},
		policyReservedNames: {"reserved-names.yaml", func() error {
			return admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "tenantai-tenant-viewer"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "tenantai-tenant-admin"},
				Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName, Name: "mallory"}}}, client.DryRunAll)
		}},
		policyServiceTypes: {"service-types.yaml", func() error {
			return admin.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "blue-prod", Name: "alias"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "kubernetes.default.svc.cluster.local"}}, client.DryRunAll)
		}},
		policyPods: {"pods.yaml", func() error {
			return admin.Create(ctx, gpuPod("greedy", "blue-prod", "nvidia.com/gpu"), client.DryRunAll)
		}},
		policyStorage: {"storage.yaml", func() error {
			return admin.Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "green-prod", Name: "grab"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To("fast"), VolumeName: "someone-elses-pv",
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				}}, client.DryRunAll)
		}},
		policyNSSubresource: {"protect-namespace-subresources.yaml", func() error {
			live := &corev1.Namespace{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: "blue-prod"}, live); err != nil {
				return err
			}
			live.Labels[platformv1alpha1.TenantLabel] = "red"
			return admin.SubResource("status").Update(ctx, live, client.DryRunAll)
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

// TestNegativeControlCredentialsMintsAToken shows the token-Secret attack
// (I38) end to end without tenantai-credentials: kube-controller-manager
// really fills the Secret with a token. It runs in a tenant namespace whose
// Tenant does not exist, so the operator does not remove the Secret first.
func TestNegativeControlCredentialsMintsAToken(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ghost-prod", Labels: map[string]string{
		platformv1alpha1.TenantLabel: "ghost", platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue}}}
	if err := breakGlass.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secret := tokenSecret("ghost-prod", "minted", "default")
	refused(t, admin.Create(ctx, secret.DeepCopy()), byPolicy(policyCredentials))
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policyCredentials}}
	if err := env.Admin.Delete(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.ApplyManifestFile(ctx, filepath.Join(env.Root, "config", "policies", "credentials.yaml")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			return byPolicy(policyCredentials).match(admin.Create(ctx, secret.DeepCopy(), client.DryRunAll))
		},
			"tenantai-credentials enforced again")
	})
	waitFor(t, func() bool { return admin.Create(ctx, secret.DeepCopy()) == nil }, "the token Secret to be admitted without the policy")
	waitFor(t, func() bool {
		got := &corev1.Secret{}
		return env.Admin.Get(ctx, client.ObjectKeyFromObject(secret), got) == nil && len(got.Data[corev1.ServiceAccountTokenKey]) > 0
	}, "kube-controller-manager to fill the Secret with a token")
	if err := env.Admin.Delete(ctx, secret); err != nil {
		t.Fatal(err)
	}
}

// TestNegativeControlMutation: without the mutating policy's binding, a pod is
// no longer given its tenant's pool (and the validating policy then refuses
// it, since its selector is missing); with the binding back, it is.
func TestNegativeControlMutation(t *testing.T) {
	greenTenant(t)
	ctx := context.Background()
	injected := func() bool {
		pod := greenPod("plain")
		return admin.Create(ctx, pod, client.DryRunAll) == nil && pod.Spec.NodeSelector["pool.example.com/tenant"] == "green"
	}
	if !injected() {
		t.Fatal("the pool is not injected to begin with")
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policyDefaults}}
	if err := env.Admin.Delete(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.ApplyManifestFile(ctx, filepath.Join(env.Root, "config", "policies", "scheduling.yaml")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, injected, "injection to resume")
	})
	waitFor(t, func() bool {
		err := admin.Create(ctx, greenPod("plain"), client.DryRunAll)
		return byPolicy(policyScheduling).match(err)
	}, "pods without injection to be refused by "+policyScheduling)
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

// TestNegativeControlTokenAutomount: without tenantai-token-automount's
// binding, a tenant pod keeps the token volume it did not ask for; with the
// binding back, the volume is removed again.
func TestNegativeControlTokenAutomount(t *testing.T) {
	violetTenant(t)
	ctx := context.Background()
	stripped := func() bool {
		pod := compliantPod("token")
		pod.Namespace = violetNS
		pod.Spec.ServiceAccountName = "default"
		pod.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
		if err := admin.Create(ctx, pod, client.DryRunAll); err != nil {
			t.Fatalf("a tenant pod was refused: %v", err)
		}
		return len(pod.Spec.Volumes) == 0 && pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken
	}
	if !stripped() {
		t.Fatal("the token is not removed to begin with")
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: "tenantai-token-automount"}}
	if err := env.Admin.Delete(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.ApplyManifestFile(ctx, filepath.Join(env.Root, "config", "policies", "token-automount.yaml")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, stripped, "the token to be removed again")
	})
	waitFor(t, func() bool { return !stripped() }, "the pod to keep its token without the policy")
}
