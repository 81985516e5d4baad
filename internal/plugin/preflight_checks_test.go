package plugin

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// deltaProd is a tenant namespace whose published grants are NodePort, the
// class fast, nvidia.com/gpu, the default accelerator prefixes and the
// service account runner.
var deltaProd = tenantNamespace{name: "delta-prod", tenant: "delta", grants: &grants{
	serviceTypes:        []string{"NodePort"},
	storageClasses:      []string{"fast"},
	accelerators:        []string{"nvidia.com/gpu"},
	acceleratorPrefixes: naming.DefaultAcceleratorPrefixes,
	serviceAccounts:     []string{"runner"},
}}

// noGrants is a tenant namespace without a usable policy ConfigMap.
var noGrants = tenantNamespace{name: "delta-prod", tenant: "delta"}

// policyData is a ConfigMap's data as this release publishes it, with
// overrides.
func policyData(overrides map[string]string) map[string]string {
	d := map[string]string{
		naming.PolicyServiceTypes: "NodePort", naming.PolicyStorageClasses: "fast,standard",
		naming.PolicyAccelerators: "nvidia.com/gpu", naming.PolicyAcceleratorPrefixes: "nvidia.com/,amd.com/",
		naming.PolicyServiceAccounts: "", naming.PolicyHostnames: "",
	}
	for k, v := range overrides {
		if v == "-" {
			delete(d, k)
			continue
		}
		d[k] = v
	}
	return d
}

func TestPolicyFinding(t *testing.T) {
	cases := map[string]struct {
		cm          *corev1.ConfigMap
		wantGrants  *grants
		wantFinding string
		wantAction  string
	}{
		"published by this release": {
			cm: &corev1.ConfigMap{Data: policyData(nil)},
			wantGrants: &grants{serviceTypes: []string{"NodePort"}, storageClasses: []string{"fast", "standard"},
				accelerators: []string{"nvidia.com/gpu"}, acceleratorPrefixes: []string{"nvidia.com/", "amd.com/"}},
		},
		"empty grants grant nothing": {
			cm:         &corev1.ConfigMap{Data: policyData(map[string]string{naming.PolicyServiceTypes: "", naming.PolicyAccelerators: ""})},
			wantGrants: &grants{storageClasses: []string{"fast", "standard"}, acceleratorPrefixes: []string{"nvidia.com/", "amd.com/"}},
		},
		"missing": {
			wantFinding: "missing: every pod and Service created or changed here is refused until the operator publishes tenant delta's grants; " +
				"the checks that need them were skipped here",
			wantAction: "make sure Tenant delta exists and is Ready (kubectl get tenant delta): the operator publishes the ConfigMap " +
				"in every namespace the Tenant holds; then run preflight again",
		},
		"published by an earlier release": {
			cm: &corev1.ConfigMap{Data: policyData(map[string]string{naming.PolicyAccelerators: "-", naming.PolicyServiceAccounts: "-"})},
			wantFinding: "published by an earlier tenantai (no accelerators, serviceAccounts): " +
				"the checks that need the grants were skipped here",
			wantAction: "run this release's operator (with the guardrails in Warn mode), which publishes every grant; then run preflight again",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g, f := policyFinding("delta-prod", "delta", tc.cm)
			if diff := cmp.Diff(tc.wantGrants, g, cmp.AllowUnexported(grants{})); diff != "" {
				t.Errorf("grants (-want +got):\n%s", diff)
			}
			if tc.wantFinding == "" {
				if f != nil {
					t.Errorf("unexpected finding %+v", *f)
				}
				return
			}
			want := PreflightFinding{Check: checkPolicyConfigMap, Namespace: "delta-prod", Kind: "ConfigMap", Name: "tenantai-policy",
				Finding: tc.wantFinding, Action: tc.wantAction}
			if f == nil {
				t.Fatalf("no finding, want %+v", want)
			}
			if diff := cmp.Diff(want, *f); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenSecretFinding(t *testing.T) {
	named := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ghost-prod", Name: "old-token",
		Annotations: map[string]string{corev1.ServiceAccountNameKey: "deployer"}}}
	want := PreflightFinding{Check: checkTokenSecret, Namespace: "ghost-prod", Kind: "Secret", Name: "old-token",
		Finding: "holds a token of service account deployer that never expires: the operator deletes it (in Warn mode: reports it) " +
			"and new ones are refused",
		Action: "give its users tokens that expire (TokenRequest: kubectl create token deployer -n ghost-prod), then delete the Secret"}
	if diff := cmp.Diff(want, tokenSecretFinding(named)); diff != "" {
		t.Errorf("finding (-want +got):\n%s", diff)
	}
	unnamed := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "ghost-prod", Name: "bare"}}
	if got := tokenSecretFinding(unnamed).Finding; !strings.HasPrefix(got, "holds a token of service account (none named) ") {
		t.Errorf("finding = %q", got)
	}
}

func TestSubjectFindings(t *testing.T) {
	cases := map[string]struct {
		tenant *platformv1alpha1.Tenant
		want   []PreflightFinding
	}{
		"compliant: own users, groups and a service account in its namespace": {
			tenant: MakeTenant("delta").Namespaces("prod").Owner(platformv1alpha1.SubjectGroup, "delta-admins").
				Owner(platformv1alpha1.SubjectUser, "systemadmin@delta.example").
				Member(platformv1alpha1.SubjectServiceAccount, "runner", "delta-prod", platformv1alpha1.RoleDeveloper).
				Member(platformv1alpha1.SubjectServiceAccount, "system:ci", "delta-prod", platformv1alpha1.RoleViewer).Obj(),
		},
		"a system: group owner and a user member": {
			tenant: MakeTenant("relic").Owner(platformv1alpha1.SubjectGroup, "system:authenticated").
				Member(platformv1alpha1.SubjectUser, "system:anonymous", "", platformv1alpha1.RoleViewer).Obj(),
			want: []PreflightFinding{
				{Check: checkSystemSubject, Kind: "Tenant", Name: "relic",
					Finding: "spec.owners names Group system:authenticated: the operator never binds it, and changes to spec.owners are refused while it is there",
					Action:  "remove Group system:authenticated from spec.owners; name the tenant's own users or groups"},
				{Check: checkSystemSubject, Kind: "Tenant", Name: "relic",
					Finding: "spec.members names User system:anonymous: the operator never binds it, and changes to spec.members are refused while it is there",
					Action:  "remove User system:anonymous from spec.members; name the tenant's own users or groups"},
			},
		},
		"service accounts outside the tenant's namespaces": {
			tenant: MakeTenant("relic").Namespaces("prod", "dev").
				Member(platformv1alpha1.SubjectServiceAccount, "ci", "ci-tools", platformv1alpha1.RoleDeveloper).Obj(),
			want: []PreflightFinding{{Check: checkServiceAccountSubject, Kind: "Tenant", Name: "relic",
				Finding: "spec.members names ServiceAccount ci-tools/ci, outside the tenant's namespaces (relic-prod, relic-dev): " +
					"every change to this Tenant is refused until it is fixed",
				Action: "name a ServiceAccount that lives in one of the tenant's namespaces (relic-<entry>), or remove ci-tools/ci from spec.members"}},
		},
	}
	noNamespaces := MakeTenant("bare").Obj()
	noNamespaces.Spec.Owners = []platformv1alpha1.Subject{{Kind: platformv1alpha1.SubjectServiceAccount, Name: "bot", Namespace: "bare-prod"}}
	cases["a service account owner of a tenant without namespaces"] = struct {
		tenant *platformv1alpha1.Tenant
		want   []PreflightFinding
	}{noNamespaces, []PreflightFinding{{Check: checkServiceAccountSubject, Kind: "Tenant", Name: "bare",
		Finding: "spec.owners names ServiceAccount bare-prod/bot, outside the tenant's namespaces (it declares none): " +
			"every change to this Tenant is refused until it is fixed",
		Action: "name a ServiceAccount that lives in one of the tenant's namespaces (bare-<entry>), or remove bare-prod/bot from spec.owners"}}}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, subjectFindings(tc.tenant)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func service(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: name}, Spec: corev1.ServiceSpec{Type: typ}}
}

func TestServiceFinding(t *testing.T) {
	externalName := &PreflightFinding{Check: checkExternalName, Namespace: "delta-prod", Kind: "Service", Name: "alias",
		Finding: "type ExternalName: refused in tenant namespaces on every create and update " +
			"(it aliases any DNS name, other tenants' Services and kubernetes.default included)",
		Action: "replace it with a ClusterIP Service; as it is, it can no longer be changed"}
	cases := map[string]struct {
		svc  *corev1.Service
		ns   tenantNamespace
		want *PreflightFinding
	}{
		"ClusterIP":                    {svc: service("web", corev1.ServiceTypeClusterIP), ns: deltaProd},
		"no type (ClusterIP)":          {svc: service("web", ""), ns: deltaProd},
		"a granted NodePort":           {svc: service("nodes", corev1.ServiceTypeNodePort), ns: deltaProd},
		"ExternalName":                 {svc: service("alias", corev1.ServiceTypeExternalName), ns: deltaProd, want: externalName},
		"ExternalName, grants unknown": {svc: service("alias", corev1.ServiceTypeExternalName), ns: noGrants, want: externalName},
		"LoadBalancer, grants unknown": {svc: service("public", corev1.ServiceTypeLoadBalancer), ns: noGrants},
		"an ungranted LoadBalancer": {svc: service("public", corev1.ServiceTypeLoadBalancer), ns: deltaProd,
			want: &PreflightFinding{Check: checkServiceType, Namespace: "delta-prod", Kind: "Service", Name: "public",
				Finding: "type LoadBalancer is not granted to tenant delta (granted: NodePort): this Service keeps its type, " +
					"but new LoadBalancer Services are refused",
				Action: "a cluster admin adds LoadBalancer to Tenant delta's spec.exposure.serviceTypes, or change the Service to ClusterIP"}},
		"a NodePort where nothing is granted": {svc: service("nodes", corev1.ServiceTypeNodePort),
			ns: tenantNamespace{name: "delta-prod", tenant: "delta", grants: &grants{}},
			want: &PreflightFinding{Check: checkServiceType, Namespace: "delta-prod", Kind: "Service", Name: "nodes",
				Finding: "type NodePort is not granted to tenant delta (granted: none): this Service keeps its type, " +
					"but new NodePort Services are refused",
				Action: "a cluster admin adds NodePort to Tenant delta's spec.exposure.serviceTypes, or change the Service to ClusterIP"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, serviceFinding(tc.svc, tc.ns)); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		})
	}
}

func claim(name string, class *string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: class}}
}

func TestClaimFinding(t *testing.T) {
	cases := map[string]struct {
		pvc  *corev1.PersistentVolumeClaim
		ns   tenantNamespace
		want *PreflightFinding
	}{
		"an allowed class":              {pvc: claim("data", ptr.To("fast")), ns: deltaProd},
		"another class, grants unknown": {pvc: claim("scratch", ptr.To("slow")), ns: noGrants},
		"another class": {pvc: claim("scratch", ptr.To("slow")), ns: deltaProd,
			want: &PreflightFinding{Check: checkStorageClass, Namespace: "delta-prod", Kind: "PersistentVolumeClaim", Name: "scratch",
				Finding: "StorageClass slow is not allowed for tenant delta (allowed: fast): this claim keeps working, " +
					"but new claims of that class are refused",
				Action: "a cluster admin lists slow in Tenant delta's spec.storage.classes, or new claims use an allowed class"}},
		"no class": {pvc: claim("classless", ptr.To("")), ns: deltaProd,
			want: &PreflightFinding{Check: checkStorageClass, Namespace: "delta-prod", Kind: "PersistentVolumeClaim", Name: "classless",
				Finding: "names no StorageClass (allowed for tenant delta: fast): this claim keeps working, " +
					"but new claims must name an allowed class",
				Action: "new claims set spec.storageClassName to a class in Tenant delta's spec.storage.classes"}},
		"no class field, nothing allowed": {pvc: claim("classless", nil), ns: tenantNamespace{name: "delta-prod", tenant: "delta", grants: &grants{}},
			want: &PreflightFinding{Check: checkStorageClass, Namespace: "delta-prod", Kind: "PersistentVolumeClaim", Name: "classless",
				Finding: "names no StorageClass (allowed for tenant delta: none): this claim keeps working, " +
					"but new claims must name an allowed class",
				Action: "new claims set spec.storageClassName to a class in Tenant delta's spec.storage.classes"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, claimFinding(tc.pvc, tc.ns)); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		})
	}
}

// pod is a bare pod in delta-prod with one container; mutate changes it.
func pod(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestPodFindings(t *testing.T) {
	const (
		acceleratorFinding = "requests amd.com/gpu, which tenant delta is not granted (granted accelerators: nvidia.com/gpu): " +
			"running pods keep running, new ones are refused"
		acceleratorAction = "name it in TenantQuota delta's spec.hard (e.g. requests.amd.com/gpu)"
		tolerationAction  = "remove the toleration, or request the accelerator in resources"
		envAction         = "remove the variable; request GPUs as resources (e.g. nvidia.com/gpu)"
	)
	tolerationFinding := func(tolerated string) string {
		return "tolerates " + tolerated + " but requests no accelerator: running pods keep running, new ones are refused " +
			"(only pods that request an accelerator may run on accelerator nodes)"
	}
	envFinding := func(names string) string {
		return "sets " + names + " through env: the container runtime would show it GPUs it did not request; " +
			"running pods keep running, new ones are refused"
	}
	finding := func(check, name, text, action string) PreflightFinding {
		return PreflightFinding{Check: check, Namespace: "delta-prod", Kind: "Pod", Name: name, Pods: []string{name}, Finding: text, Action: action}
	}
	gpuToleration := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	cases := map[string]struct {
		pod  *corev1.Pod
		ns   tenantNamespace
		want []PreflightFinding
	}{
		"compliant: a granted GPU with its toleration, an ordinary env and service account": {
			pod: pod("ok", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Limits = list("nvidia.com/gpu", "1", "cpu", "1")
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "CUDA_VISIBLE_DEVICES", Value: "0"}, {Name: "NVIDIA"}}
				p.Spec.Tolerations = []corev1.Toleration{gpuToleration, {Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists}}
				p.Spec.ServiceAccountName = "web"
			}),
			ns: deltaProd,
		},
		"a token it did not ask for (informational)": {
			pod: pod("api", func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-4xk2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
			}),
			ns: deltaProd,
			want: []PreflightFinding{{Check: checkPodToken, Namespace: "delta-prod", Kind: "Pod", Name: "api", Pods: []string{"api"}, Informational: true,
				Finding: "mounts a service-account token it did not ask for (automountServiceAccountToken unset): running pods keep theirs, " +
					"pods created from now on get none (tenantai-token-automount)",
				Action: "if it calls the Kubernetes API, set automountServiceAccountToken: true in its pod template; otherwise nothing to do"}},
		},
		"a token it asked for": {
			pod: pod("asked", func(p *corev1.Pod) {
				p.Spec.AutomountServiceAccountToken = ptr.To(true)
				p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access-4xk2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
			}),
			ns: deltaProd,
		},
		"an ungranted accelerator in an init container's limits": {
			pod: pod("amd", func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "warm", Resources: corev1.ResourceRequirements{Limits: list("amd.com/gpu", "1")}}}
			}),
			ns:   deltaProd,
			want: []PreflightFinding{finding(checkPodAccelerator, "amd", acceleratorFinding, acceleratorAction)},
		},
		"an ungranted accelerator that tolerates its taint: the toleration is not the problem": {
			pod: pod("amd", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests = list("amd.com/gpu", "1")
				p.Spec.Tolerations = []corev1.Toleration{{Key: "amd.com/gpu", Operator: corev1.TolerationOpExists}}
			}),
			ns:   deltaProd,
			want: []PreflightFinding{finding(checkPodAccelerator, "amd", acceleratorFinding, acceleratorAction)},
		},
		"an accelerator toleration without an accelerator": {
			pod:  pod("tolerant", func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{gpuToleration} }),
			ns:   deltaProd,
			want: []PreflightFinding{finding(checkPodToleration, "tolerant", tolerationFinding("nvidia.com/gpu"), tolerationAction)},
		},
		"tolerating every taint": {
			pod: pod("tolerant", func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}, {Key: "amd.com/gpu", Operator: corev1.TolerationOpExists}}
			}),
			ns:   deltaProd,
			want: []PreflightFinding{finding(checkPodToleration, "tolerant", tolerationFinding("every taint, amd.com/gpu"), tolerationAction)},
		},
		"an empty key with operator Equal tolerates nothing": {
			pod:  pod("odd", func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}} }),
			ns:   deltaProd,
			want: nil,
		},
		"GPU env in a container, an init and an ephemeral container": {
			pod: pod("visible", func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Env: []corev1.EnvVar{{Name: "AMD_VISIBLE_DEVICES", Value: "0"}}}}
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", Env: []corev1.EnvVar{{Name: "NVIDIA_DRIVER_CAPABILITIES", Value: "all"}, {Name: "NVIDIA_VISIBLE_DEVICES", Value: "0"}}}}}
			}),
			ns: noGrants, // needs no grants
			want: []PreflightFinding{finding(checkPodGPUEnv, "visible",
				envFinding("AMD_VISIBLE_DEVICES, NVIDIA_DRIVER_CAPABILITIES, NVIDIA_VISIBLE_DEVICES"), envAction)},
		},
		"a service account the Tenant names": {
			pod: pod("runner", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "runner" }),
			ns:  deltaProd,
			want: []PreflightFinding{finding(checkPodServiceAccount, "runner",
				"runs as service account runner, which Tenant delta names as an owner or member: running pods keep running, "+
					"new ones are refused (whoever creates pods would hold its role)",
				"run the pods as another service account, or stop naming runner in Tenant delta")},
		},
		"grants unknown: only the env is checked": {
			pod: pod("runner", func(p *corev1.Pod) {
				p.Spec.ServiceAccountName = "runner"
				p.Spec.Containers[0].Resources.Requests = list("amd.com/gpu", "1")
			}),
			ns: noGrants,
		},
		"a finished pod": {
			pod: pod("done", func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
				p.Status.Phase = corev1.PodSucceeded
			}),
			ns: deltaProd,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, podFindings(tc.pod, tc.ns)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// owned is a pod of a controller, labelled as the Deployment controller
// labels a ReplicaSet's pods when hash is set.
func owned(name, kind, owner, hash string) *corev1.Pod {
	return pod(name, func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: owner, UID: types.UID(owner), Controller: ptr.To(true)}}
		if hash != "" {
			p.Labels = map[string]string{"pod-template-hash": hash}
		}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
	})
}

func TestPodFindingsAreGroupedByOwner(t *testing.T) {
	pods := []*corev1.Pod{
		owned("visible-7d9f-b", "ReplicaSet", "visible-7d9f", "7d9f"),
		owned("visible-7d9f-a", "ReplicaSet", "visible-7d9f", "7d9f"),
		owned("batch-x", "Job", "batch", ""),
		owned("bare-rs-q", "ReplicaSet", "bare-rs", ""), // a ReplicaSet of its own
		owned("lone", "", "", ""),
	}
	pods[4].OwnerReferences = nil
	var fs []PreflightFinding
	for _, p := range pods {
		fs = append(fs, podFindings(p, deltaProd)...)
	}
	got := map[string][]string{}
	for _, f := range groupPodFindings(fs) {
		got[objectCell(f)] = f.Pods
	}
	want := map[string][]string{
		"Deployment/visible (2 pods)": {"visible-7d9f-a", "visible-7d9f-b"},
		"Job/batch (1 pod)":           {"batch-x"},
		"ReplicaSet/bare-rs (1 pod)":  {"bare-rs-q"},
		"Pod/lone":                    {"lone"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestModelFindings(t *testing.T) {
	const (
		envFinding = "runtime.env sets NVIDIA_VISIBLE_DEVICES, which the ModelDeployment CRD now refuses: changes to runtime.env are refused " +
			"until it goes, and so are new pods of this model"
		envAction        = "remove it from runtime.env; request GPUs in runtime.resources instead"
		tolerationAction = "remove the toleration, or request the accelerator in runtime.resources"
	)
	tolerationFinding := func(tolerated string) string {
		return "placement.tolerations tolerates " + tolerated + " but runtime.resources requests no accelerator, which the " +
			"ModelDeployment CRD now refuses: changes to its spec are refused until it is fixed"
	}
	model := func(mutate func(*platformv1alpha1.ModelDeployment)) *platformv1alpha1.ModelDeployment {
		md := MakeModelDeployment("delta-prod", "old").Obj()
		mutate(md)
		return md
	}
	tolerate := func(tolerations ...corev1.Toleration) func(*platformv1alpha1.ModelDeployment) {
		return func(md *platformv1alpha1.ModelDeployment) {
			md.Spec.Placement = &platformv1alpha1.Placement{Tolerations: tolerations}
		}
	}
	finding := func(check, text, action string) PreflightFinding {
		return PreflightFinding{Check: check, Namespace: "delta-prod", Kind: "ModelDeployment", Name: "old", Finding: text, Action: action}
	}
	cases := map[string]struct {
		md   *platformv1alpha1.ModelDeployment
		want []PreflightFinding
	}{
		"compliant: a GPU with its toleration": {md: model(func(md *platformv1alpha1.ModelDeployment) {
			tolerate(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists})(md)
			md.Spec.Runtime.Resources.Limits = list("nvidia.com/gpu", "1")
			md.Spec.Runtime.Env = []corev1.EnvVar{{Name: "HF_HOME", Value: "/cache"}}
		})},
		"compliant: an ordinary toleration": {md: model(tolerate(corev1.Toleration{Key: "pool", Operator: corev1.TolerationOpExists}))},
		"GPU env": {
			md: model(func(md *platformv1alpha1.ModelDeployment) {
				md.Spec.Runtime.Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
			}),
			want: []PreflightFinding{finding(checkModelGPUEnv, envFinding, envAction)},
		},
		"an accelerator toleration without an accelerator": {
			md:   model(tolerate(corev1.Toleration{Key: "habana.ai/gaudi", Operator: corev1.TolerationOpExists})),
			want: []PreflightFinding{finding(checkModelToleration, tolerationFinding("habana.ai/gaudi"), tolerationAction)},
		},
		"an empty key, whatever the operator (the CRD rule's reading)": {
			md:   model(tolerate(corev1.Toleration{Operator: corev1.TolerationOpEqual, Value: "x"})),
			want: []PreflightFinding{finding(checkModelToleration, tolerationFinding("every taint"), tolerationAction)},
		},
		"an accelerator the CRD rule does not name is no accelerator there": {
			md: model(tolerate(corev1.Toleration{Key: "xilinx.com/fpga", Operator: corev1.TolerationOpExists})),
		},
		"both": {
			md: model(func(md *platformv1alpha1.ModelDeployment) {
				md.Spec.Runtime.Env = []corev1.EnvVar{{Name: "NVIDIA_VISIBLE_DEVICES", Value: "all"}}
				tolerate(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists})(md)
				md.Spec.Runtime.Resources.Requests = list("cpu", "1")
			}),
			want: []PreflightFinding{
				finding(checkModelGPUEnv, envFinding, envAction),
				finding(checkModelToleration, tolerationFinding("nvidia.com/gpu"), tolerationAction),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, modelFindings(tc.md)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoleBindingFinding(t *testing.T) {
	binding := func(name string, labels map[string]string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "ghost-prod", Name: name, Labels: labels},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}}
	}
	cases := map[string]struct {
		rb   *rbacv1.RoleBinding
		want *PreflightFinding
	}{
		"the operator's own": {rb: binding("tenantai-tenant-admin", naming.TenantLabels("ghost"))},
		"another name":       {rb: binding("ci-view", nil)},
		"a squatter": {rb: binding("tenantai-tenant-admin", map[string]string{platformv1alpha1.ManagedByLabel: "helm"}),
			want: &PreflightFinding{Check: checkReservedRoleBinding, Namespace: "ghost-prod", Kind: "RoleBinding", Name: "tenantai-tenant-admin",
				Finding: "binds ClusterRole view under a name reserved for tenantai (tenantai-*) without app.kubernetes.io/managed-by=tenantai: " +
					"the operator deletes it, and new ones are refused",
				Action: "recreate the binding under a name that does not start with tenantai-, then delete this one"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, roleBindingFinding(tc.rb)); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReleaseBindingFinding: in a namespace the upgraded operator releases
// again (retained by an earlier release without taking everything away, or
// whose Tenant is gone), every binding not marked to survive is reported.
func TestReleaseBindingFinding(t *testing.T) {
	ns := func(name, tenant string, orphaned, revoked bool) corev1.Namespace {
		n := corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{platformv1alpha1.TenantLabel: tenant},
			Annotations: map[string]string{}}}
		if orphaned {
			n.Labels[platformv1alpha1.OrphanedLabel] = "true"
		}
		if revoked {
			n.Annotations[platformv1alpha1.AccessRevokedAnnotation] = "true"
		}
		return n
	}
	s := &snapshot{}
	s.tenants.Items = []platformv1alpha1.Tenant{{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}}
	s.namespaces.Items = []corev1.Namespace{
		ns("acme-prod", "acme", false, false), ns("acme-old", "acme", true, false), ns("acme-done", "acme", true, true),
		ns("gone-prod", "gone", false, false),
	}
	want := map[string]bool{"acme-old": true, "gone-prod": true}
	if diff := cmp.Diff(want, s.toBeReleased()); diff != "" {
		t.Errorf("namespaces to be released (-want +got):\n%s", diff)
	}
	planted := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-old", Name: "planted"},
		RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "reader"}}
	f := releaseBindingFinding(planted)
	if f == nil || f.Check != checkReleaseBinding || f.Finding != "binds Role reader in a namespace the operator releases under this "+
		"release's rules (no tenant access is left): it is removed, after being recorded in tenantai-system/tenantai-released-acme-old" {
		t.Errorf("finding = %+v", f)
	}
	planted.Labels = map[string]string{platformv1alpha1.SurviveReleaseLabel: "true"}
	if f := releaseBindingFinding(planted); f != nil {
		t.Errorf("a binding marked to survive release is reported: %+v", f)
	}
}

func TestOrphanFinding(t *testing.T) {
	earlier := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	later := metav1.NewTime(earlier.Add(time.Hour))
	namespace := func(name, tenant, uid string, orphaned bool, created metav1.Time) *corev1.Namespace {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: created,
			Labels: map[string]string{platformv1alpha1.TenantLabel: tenant}}}
		if orphaned {
			ns.Labels[platformv1alpha1.OrphanedLabel] = "true"
		}
		if uid != "" {
			ns.Annotations = map[string]string{platformv1alpha1.TenantUIDAnnotation: uid}
		}
		return ns
	}
	tenant := func(name, uid, adoptFrom string, created metav1.Time) *platformv1alpha1.Tenant {
		t := MakeTenant(name).Obj()
		t.UID, t.CreationTimestamp = types.UID(uid), created
		if adoptFrom != "" {
			t.Annotations = map[string]string{platformv1alpha1.AdoptFromAnnotation: adoptFrom}
		}
		return t
	}
	finding := func(ns, text, action string) *PreflightFinding {
		return &PreflightFinding{Check: checkOrphanedNamespace, Namespace: ns, Kind: "Namespace", Name: ns, Finding: text, Action: action}
	}
	cases := map[string]struct {
		ns     *corev1.Namespace
		tenant *platformv1alpha1.Tenant
		want   *PreflightFinding
	}{
		"held, not orphaned": {ns: namespace("delta-prod", "delta", "", false, earlier)},
		"no UID, no Tenant": {ns: namespace("gone-prod", "gone", "", true, earlier),
			want: finding("gone-prod",
				"retained from tenant gone by a release that recorded no owner UID: a new Tenant gone takes it only through the annotation "+
					"platform.tenantai.io/adopt-from=legacy",
				"if it is the same team's, once Tenant gone exists: kubectl annotate tenant gone platform.tenantai.io/adopt-from=legacy; "+
					"otherwise leave it retained or delete it")},
		"no UID, older than the Tenant": {ns: namespace("gone-prod", "gone", "", true, earlier), tenant: tenant("gone", "u2", "", later),
			want: finding("gone-prod",
				"retained from an earlier tenant gone by a release that recorded no owner UID: Tenant gone, created after it, no longer takes it by name",
				"if it is the same team's: kubectl annotate tenant gone platform.tenantai.io/adopt-from=legacy; otherwise leave it retained or delete it")},
		"no UID, older than a Tenant that adopts legacy": {ns: namespace("gone-prod", "gone", "", true, earlier),
			tenant: tenant("gone", "u2", "u1,legacy", later)},
		"no UID, created by the Tenant": {ns: namespace("gone-prod", "gone", "", true, later), tenant: tenant("gone", "u2", "", earlier)},
		"the live Tenant's UID":         {ns: namespace("delta-old", "delta", "u2", true, earlier), tenant: tenant("delta", "u2", "", earlier)},
		"another UID, no Tenant":        {ns: namespace("delta-old", "delta", "u1", true, earlier)},
		"another UID, adopted":          {ns: namespace("delta-old", "delta", "u1", true, earlier), tenant: tenant("delta", "u2", "u1", later)},
		"another UID": {ns: namespace("delta-old", "delta", "u1", true, earlier), tenant: tenant("delta", "u2", "legacy", later),
			want: finding("delta-old",
				"retained by an earlier Tenant delta (UID u1): the current Tenant delta, another UID, takes it only by adoption",
				"if it is the same team's: kubectl annotate tenant delta platform.tenantai.io/adopt-from=u1; otherwise leave it retained or delete it")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, orphanFinding(tc.ns, tc.tenant)); diff != "" {
				t.Errorf("finding (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuotaGrantFindings(t *testing.T) {
	exposing := func(types ...platformv1alpha1.ExposedServiceType) *platformv1alpha1.Tenant {
		t := MakeTenant("delta").Obj()
		t.Spec.Exposure = &platformv1alpha1.TenantExposure{ServiceTypes: types}
		return t
	}
	quota := MakeTenantQuota("delta").Hard("services.nodeports", "2").Hard("services.loadbalancers", "1").Hard("requests.cpu", "4").Obj()
	nodePort := PreflightFinding{Check: checkQuotaServiceGrant, Kind: "Tenant", Name: "delta", Informational: true,
		Finding: "TenantQuota delta gives services.nodeports 2, but spec.exposure.serviceTypes does not list NodePort: " +
			"it stays granted through the quota for compatibility",
		Action: "add NodePort to spec.exposure.serviceTypes: that field is the grant from now on"}
	loadBalancer := PreflightFinding{Check: checkQuotaServiceGrant, Kind: "Tenant", Name: "delta", Informational: true,
		Finding: "TenantQuota delta gives services.loadbalancers 1, but spec.exposure.serviceTypes does not list LoadBalancer: " +
			"it stays granted through the quota for compatibility",
		Action: "add LoadBalancer to spec.exposure.serviceTypes: that field is the grant from now on"}
	cases := map[string]struct {
		tenant *platformv1alpha1.Tenant
		quota  *platformv1alpha1.TenantQuota
		want   []PreflightFinding
	}{
		"no exposure":               {tenant: MakeTenant("delta").Obj(), quota: quota, want: []PreflightFinding{nodePort, loadBalancer}},
		"NodePort listed":           {tenant: exposing(platformv1alpha1.ServiceTypeNodePort), quota: quota, want: []PreflightFinding{loadBalancer}},
		"both listed":               {tenant: exposing(platformv1alpha1.ServiceTypeNodePort, platformv1alpha1.ServiceTypeLoadBalancer), quota: quota},
		"counts of zero grant none": {tenant: MakeTenant("delta").Obj(), quota: MakeTenantQuota("delta").Hard("services.nodeports", "0").Obj()},
		"no Tenant":                 {quota: quota},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, quotaGrantFindings(tc.tenant, tc.quota)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuotaCountFindings(t *testing.T) {
	jobs := PreflightFinding{Check: checkQuotaCountDefault, Kind: "TenantQuota", Name: "delta",
		Finding: "the tenant's namespaces hold 51 objects counted by count/jobs.batch, and this release enforces count/jobs.batch 50 " +
			"when spec.hard does not name it: existing ones stay, new ones are refused until fewer remain (finished Jobs count until deleted)",
		Action: "name count/jobs.batch in TenantQuota delta's spec.hard with the number the tenant needs, or delete what it no longer uses"}
	cases := map[string]struct {
		quota  *platformv1alpha1.TenantQuota
		counts map[corev1.ResourceName]int64
		want   []PreflightFinding
	}{
		"above the default":  {MakeTenantQuota("delta").Obj(), map[corev1.ResourceName]int64{"count/jobs.batch": 51, "count/cronjobs.batch": 10}, []PreflightFinding{jobs}},
		"at the default":     {MakeTenantQuota("delta").Obj(), map[corev1.ResourceName]int64{"count/jobs.batch": 50}, nil},
		"named in spec.hard": {MakeTenantQuota("delta").Hard("count/jobs.batch", "10").Obj(), map[corev1.ResourceName]int64{"count/jobs.batch": 51}, nil},
		"no workloads":       {MakeTenantQuota("delta").Obj(), nil, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, quotaCountFindings(tc.quota, tc.counts)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPreflightOutput runs the checks on a snapshot: only tenant namespaces
// are checked, a check whose reads failed is dropped, findings are sorted
// by check, namespace and object, and the table ends with its summary.
func TestPreflightOutput(t *testing.T) {
	tenantNS := func(name, tenant string) corev1.Namespace {
		return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{platformv1alpha1.TenantLabel: tenant}}}
	}
	s := &snapshot{}
	s.namespaces.Items = []corev1.Namespace{tenantNS("delta-prod", "delta"), tenantNS("ghost-prod", "ghost"), {ObjectMeta: metav1.ObjectMeta{Name: "default"}}}
	s.policies.Items = []corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "delta-prod", Name: naming.PolicyConfigMap}, Data: policyData(nil)}}
	s.services.Items = []corev1.Service{*service("alias", corev1.ServiceTypeExternalName), *service("public", corev1.ServiceTypeLoadBalancer)}
	outside := service("outside", corev1.ServiceTypeExternalName)
	outside.Namespace = "default"
	s.services.Items = append(s.services.Items, *outside)
	s.tenants.Items = []platformv1alpha1.Tenant{*MakeTenant("delta").Namespaces("prod").Obj(),
		*MakeTenant("relic").Owner(platformv1alpha1.SubjectGroup, "system:masters").Obj()}
	s.quotas.Items = []platformv1alpha1.TenantQuota{*MakeTenantQuota("delta").Hard("services.nodeports", "1").Obj()}

	out := preflightOutput(s, nil)
	var rows []string
	for _, f := range out.Findings {
		rows = append(rows, f.Check+" "+f.Namespace+" "+objectCell(f))
	}
	if diff := cmp.Diff([]string{
		"policy-configmap ghost-prod ConfigMap/tenantai-policy",
		"system-subject  Tenant/relic",
		"service-externalname delta-prod Service/alias",
		"service-type delta-prod Service/public",
		"quota-service-grant  Tenant/delta",
	}, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if out.Count != 4 || out.Informational != 1 {
		t.Errorf("count = %d, informational = %d; want 4, 1", out.Count, out.Informational)
	}
	if got, want := summaryLine(out), "4 findings; 1 informational note"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}

	unreadable := []UnreadableResource{{Resource: "tenants", Message: "forbidden", Skipped: checksNeeding("tenants")}}
	out = preflightOutput(s, unreadable)
	if out.Count != 3 || out.Informational != 0 {
		t.Errorf("without tenants: count = %d, informational = %d; want 3, 0", out.Count, out.Informational)
	}
	if diff := cmp.Diff([]string{checkSystemSubject, checkServiceAccountSubject, checkReleaseBinding, checkOrphanedNamespace, checkQuotaServiceGrant},
		unreadable[0].Skipped); diff != "" {
		t.Errorf("checks skipped without tenants (-want +got):\n%s", diff)
	}
	if got, want := summaryLine(out), "3 findings; 1 resource could not be listed (see the warnings)"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestPreflightSummaryLine(t *testing.T) {
	cases := map[string]struct {
		doc  PreflightOutput
		want string
	}{
		"nothing":            {PreflightOutput{}, "no findings: the upgrade refuses nothing that exists"},
		"one":                {PreflightOutput{Count: 1}, "1 finding"},
		"only informational": {PreflightOutput{Informational: 2}, "no findings: the upgrade refuses nothing that exists; 2 informational notes"},
		"nothing readable found": {PreflightOutput{Unreadable: []UnreadableResource{{}, {}}},
			"no findings in what could be read; 2 resources could not be listed (see the warnings)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := summaryLine(tc.doc); got != tc.want {
				t.Errorf("summary = %q, want %q", got, tc.want)
			}
		})
	}
}
