package tenant

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
)

// reconcilePolicy publishes the tenant's scheduling and exposure policy in
// every tenant namespace, where only the operator can write it and where the
// admission policies read it (paramRef in the request's namespace). Without
// it, pods in the namespace are refused (parameterNotFoundAction: Deny), so it
// comes before RBAC.
func (r *Reconciler) reconcilePolicy(ctx context.Context, s *scope) error {
	hostnames, err := r.claimableHostnames(ctx, s)
	if err != nil {
		return err
	}
	defaults, err := r.defaultPriority(ctx, s.tenant)
	if err != nil {
		return err
	}
	for _, ns := range s.owned {
		cm := policyConfigMap(s.tenant, ns, hostnames, defaults)
		if err := r.ensure(ctx, s, cm); err != nil {
			return err
		}
	}
	return nil
}

// policyConfigMap renders the published policy. Every key is always present
// (empty when unset) so the policies never read a missing key.
func policyConfigMap(t *platformv1alpha1.Tenant, namespace string, hostnames []string, defaults map[string]string) *corev1.ConfigMap {
	data := map[string]string{
		naming.PolicyPriorityClasses:         "",
		naming.PolicyRuntimeClasses:          "",
		naming.PolicyHostnames:               strings.Join(hostnames, ","),
		naming.PolicyDefaultPriorityClass:    defaults[naming.PolicyDefaultPriorityClass],
		naming.PolicyDefaultPriority:         defaults[naming.PolicyDefaultPriority],
		naming.PolicyDefaultPreemptionPolicy: defaults[naming.PolicyDefaultPreemptionPolicy],
	}
	if sc := t.Spec.Scheduling; sc != nil {
		data[naming.PolicyPriorityClasses] = strings.Join(sc.PriorityClasses, ",")
		data[naming.PolicyRuntimeClasses] = strings.Join(sc.RuntimeClasses, ",")
		keys := make([]string, 0, len(sc.NodeSelector))
		for k := range sc.NodeSelector {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			data[fmt.Sprintf("nodeSelector.%d.key", i)] = k
			data[fmt.Sprintf("nodeSelector.%d.value", i)] = string(sc.NodeSelector[k])
		}
		for i, tol := range sc.Tolerations {
			prefix := fmt.Sprintf("toleration.%d.", i)
			operator := tol.Operator
			if operator == "" {
				operator = corev1.TolerationOpEqual
			}
			data[prefix+"key"] = tol.Key
			data[prefix+"operator"] = string(operator)
			data[prefix+"value"] = tol.Value
			data[prefix+"effect"] = string(tol.Effect)
		}
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: naming.PolicyConfigMap, Namespace: namespace, Labels: naming.TenantLabels(t.Name)},
		Data:       data,
	}
}

// defaultPriority resolves the tenant's default PriorityClass (the first
// allowed one). Admission policies run after the Priority plugin, so the
// policy that injects the class must also set the priority value it stands for.
func (r *Reconciler) defaultPriority(ctx context.Context, t *platformv1alpha1.Tenant) (map[string]string, error) {
	out := map[string]string{}
	if t.Spec.Scheduling == nil || len(t.Spec.Scheduling.PriorityClasses) == 0 {
		return out, nil
	}
	pc := &schedulingv1.PriorityClass{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: t.Spec.Scheduling.PriorityClasses[0]}, pc)
	if apierrors.IsNotFound(err) {
		return out, nil // nothing to inject until it exists; the watch on PriorityClasses brings us back
	}
	if err != nil {
		return nil, err
	}
	out[naming.PolicyDefaultPriorityClass] = pc.Name
	out[naming.PolicyDefaultPriority] = strconv.Itoa(int(pc.Value))
	if pc.PreemptionPolicy != nil {
		out[naming.PolicyDefaultPreemptionPolicy] = string(*pc.PreemptionPolicy)
	}
	return out, nil
}

// claimableHostnames returns the tenant's exposure hostnames, or none when one
// of them overlaps a hostname of a tenant created earlier: the later tenant is
// Stalled with HostnameConflict, so two tenants never share a domain.
func (r *Reconciler) claimableHostnames(ctx context.Context, s *scope) ([]string, error) {
	t := s.tenant
	if t.Spec.Exposure == nil || len(t.Spec.Exposure.Hostnames) == 0 {
		return nil, nil
	}
	others := &platformv1alpha1.TenantList{}
	if err := r.Client.List(ctx, others); err != nil {
		return nil, err
	}
	var conflicts []string
	for i := range others.Items {
		o := &others.Items[i]
		if o.Name == t.Name || o.Spec.Exposure == nil || !earlier(o, t) {
			continue
		}
		for _, mine := range t.Spec.Exposure.Hostnames {
			for _, theirs := range o.Spec.Exposure.Hostnames {
				if hostnamesOverlap(mine, theirs) {
					conflicts = append(conflicts, fmt.Sprintf("%s (tenant %s claims %s)", mine, o.Name, theirs))
				}
			}
		}
	}
	if len(conflicts) > 0 {
		s.hostnameConflicts = conflicts
		return nil, nil
	}
	return t.Spec.Exposure.Hostnames, nil
}

func earlier(a, b *platformv1alpha1.Tenant) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// hostnamesOverlap reports whether two hostname patterns can match one host.
// "*.acme.example" matches one label below acme.example, as Ingress does.
func hostnamesOverlap(a, b string) bool {
	return a == b || wildcardCovers(a, b) || wildcardCovers(b, a)
}

func wildcardCovers(wildcard, host string) bool {
	if !strings.HasPrefix(wildcard, "*.") || strings.HasPrefix(host, "*.") {
		return false
	}
	suffix := wildcard[1:] // ".acme.example"
	return strings.HasSuffix(host, suffix) && !strings.Contains(strings.TrimSuffix(host, suffix), ".")
}

// setHostnameCondition marks the tenant Stalled while its hostnames conflict.
func setHostnameCondition(s *scope) {
	if len(s.hostnameConflicts) == 0 {
		return
	}
	conditions.MarkStalled(s.tenant, platformv1alpha1.TenantReasonHostnameConflict,
		"exposure.hostnames overlap another tenant's, so none are granted: "+strings.Join(s.hostnameConflicts, "; "))
}
