// Package testutil holds builders for test objects, so that tests say only
// what matters to them: MakeTenant("acme").Namespaces("prod").Obj().
package testutil

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// TenantWrapper builds a Tenant.
type TenantWrapper struct{ platformv1alpha1.Tenant }

// MakeTenant starts a Tenant with no namespaces.
func MakeTenant(name string) *TenantWrapper {
	return &TenantWrapper{platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}}}
}

// Obj returns a copy of the built Tenant.
func (w *TenantWrapper) Obj() *platformv1alpha1.Tenant { return w.DeepCopy() }

// Namespaces adds namespace entries.
func (w *TenantWrapper) Namespaces(names ...string) *TenantWrapper {
	for _, n := range names {
		w.Spec.Namespaces = append(w.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: n})
	}
	return w
}

// NamespaceLabels adds a namespace entry with labels.
func (w *TenantWrapper) NamespaceLabels(name string, labels map[string]platformv1alpha1.LabelValue) *TenantWrapper {
	w.Spec.Namespaces = append(w.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: name, Labels: labels})
	return w
}

// Owner adds an owner.
func (w *TenantWrapper) Owner(kind platformv1alpha1.SubjectKind, name string) *TenantWrapper {
	w.Spec.Owners = append(w.Spec.Owners, platformv1alpha1.Subject{Kind: kind, Name: name})
	return w
}

// Member adds a member.
func (w *TenantWrapper) Member(kind platformv1alpha1.SubjectKind, name, namespace string, role platformv1alpha1.TenantRole) *TenantWrapper {
	w.Spec.Members = append(w.Spec.Members, platformv1alpha1.Member{
		Subject: platformv1alpha1.Subject{Kind: kind, Name: name, Namespace: namespace}, Role: role,
	})
	return w
}

// EgressCIDRs sets the allowed egress CIDRs.
func (w *TenantWrapper) EgressCIDRs(cidrs ...string) *TenantWrapper {
	w.Spec.Network.AllowEgressCIDRs = cidrs
	return w
}

// QuotaPolicy sets the quota policy.
func (w *TenantWrapper) QuotaPolicy(p platformv1alpha1.QuotaPolicy) *TenantWrapper {
	w.Spec.QuotaPolicy = p
	return w
}

// DeletionPolicy sets the deletion policy.
func (w *TenantWrapper) DeletionPolicy(p platformv1alpha1.DeletionPolicy) *TenantWrapper {
	w.Spec.DeletionPolicy = p
	return w
}

// RotationPeriod sets the key rotation period.
func (w *TenantWrapper) RotationPeriod(d metav1.Duration) *TenantWrapper {
	w.Spec.Encryption.RotationPeriod = &d
	return w
}

// TenantQuotaWrapper builds a TenantQuota.
type TenantQuotaWrapper struct{ platformv1alpha1.TenantQuota }

// MakeTenantQuota starts a TenantQuota named after, and referring to, tenant.
func MakeTenantQuota(tenant string) *TenantQuotaWrapper {
	return &TenantQuotaWrapper{platformv1alpha1.TenantQuota{
		ObjectMeta: metav1.ObjectMeta{Name: tenant},
		Spec: platformv1alpha1.TenantQuotaSpec{
			TenantRef: platformv1alpha1.TenantRef{Name: tenant},
			Hard:      corev1.ResourceList{},
		},
	}}
}

// Obj returns a copy of the built TenantQuota.
func (w *TenantQuotaWrapper) Obj() *platformv1alpha1.TenantQuota { return w.DeepCopy() }

// Hard sets a resource of the tenant total.
func (w *TenantQuotaWrapper) Hard(name corev1.ResourceName, q string) *TenantQuotaWrapper {
	w.Spec.Hard[name] = resource.MustParse(q)
	return w
}

// TenantRef points the quota at another tenant.
func (w *TenantQuotaWrapper) TenantRef(name string) *TenantQuotaWrapper {
	w.Spec.TenantRef.Name = name
	return w
}

// Static sets Static mode with a namespace entry's amounts.
func (w *TenantQuotaWrapper) Static(entry string, list corev1.ResourceList) *TenantQuotaWrapper {
	w.Spec.Distribution.Mode = platformv1alpha1.DistributionStatic
	if w.Spec.Distribution.Static == nil {
		w.Spec.Distribution.Static = map[string]corev1.ResourceList{}
	}
	w.Spec.Distribution.Static[entry] = list
	return w
}

// ModelDeploymentWrapper builds a ModelDeployment.
type ModelDeploymentWrapper struct {
	platformv1alpha1.ModelDeployment
}

// MakeModelDeployment starts a vLLM ModelDeployment serving version v1.
func MakeModelDeployment(namespace, name string) *ModelDeploymentWrapper {
	return &ModelDeploymentWrapper{platformv1alpha1.ModelDeployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: platformv1alpha1.ModelDeploymentSpec{
			Model: platformv1alpha1.ModelSource{
				Name: "llama", Version: "v1", URI: "s3://models/llama/v1",
			},
			Runtime: platformv1alpha1.Runtime{Engine: platformv1alpha1.EngineVLLM},
		},
	}}
}

// Obj returns a copy of the built ModelDeployment.
func (w *ModelDeploymentWrapper) Obj() *platformv1alpha1.ModelDeployment { return w.DeepCopy() }

// Engine sets the runtime engine.
func (w *ModelDeploymentWrapper) Engine(e platformv1alpha1.Engine) *ModelDeploymentWrapper {
	w.Spec.Runtime.Engine = e
	return w
}

// Image sets the runtime image.
func (w *ModelDeploymentWrapper) Image(image string) *ModelDeploymentWrapper {
	w.Spec.Runtime.Image = image
	return w
}

// Port sets the runtime port.
func (w *ModelDeploymentWrapper) Port(p int32) *ModelDeploymentWrapper {
	w.Spec.Runtime.Port = ptr.To(p)
	return w
}

// URI sets the model URI.
func (w *ModelDeploymentWrapper) URI(uri string) *ModelDeploymentWrapper {
	w.Spec.Model.URI = uri
	return w
}

// Version sets the model version.
func (w *ModelDeploymentWrapper) Version(v string) *ModelDeploymentWrapper {
	w.Spec.Model.Version = v
	return w
}

// Replicas sets spec.replicas.
func (w *ModelDeploymentWrapper) Replicas(n int32) *ModelDeploymentWrapper {
	w.Spec.Replicas = ptr.To(n)
	return w
}

// Autoscaling sets autoscaling bounds with a CPU target of 70%.
func (w *ModelDeploymentWrapper) Autoscaling(lo, hi int32) *ModelDeploymentWrapper {
	w.Spec.Autoscaling = &platformv1alpha1.Autoscaling{
		MinReplicas: ptr.To(lo), MaxReplicas: hi, TargetCPUUtilizationPercentage: ptr.To[int32](70),
	}
	return w
}

// Canary sets a canary version with a weight.
func (w *ModelDeploymentWrapper) Canary(version string, weight int32) *ModelDeploymentWrapper {
	w.Spec.Canary = &platformv1alpha1.Canary{Version: version, URI: "s3://models/llama/" + version, Weight: weight}
	return w
}

// Requests sets the container requests.
func (w *ModelDeploymentWrapper) Requests(list corev1.ResourceList) *ModelDeploymentWrapper {
	w.Spec.Runtime.Resources.Requests = list
	return w
}

// Labels sets the ModelDeployment's own labels (which children never copy).
func (w *ModelDeploymentWrapper) Labels(labels map[string]string) *ModelDeploymentWrapper {
	w.ObjectMeta.Labels = labels
	return w
}

// Annotations sets the ModelDeployment's own annotations (which children
// never copy).
func (w *ModelDeploymentWrapper) Annotations(annotations map[string]string) *ModelDeploymentWrapper {
	w.ObjectMeta.Annotations = annotations
	return w
}

// Args sets the runtime args.
func (w *ModelDeploymentWrapper) Args(args ...string) *ModelDeploymentWrapper {
	w.Spec.Runtime.Args = args
	return w
}

// Limits sets the container limits.
func (w *ModelDeploymentWrapper) Limits(list corev1.ResourceList) *ModelDeploymentWrapper {
	w.Spec.Runtime.Resources.Limits = list
	return w
}
