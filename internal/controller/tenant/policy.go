package tenant

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// reconcilePolicy publishes the tenant's scheduling, exposure, storage,
// accelerator and identity policy in every tenant namespace, where only the
// operator can write it and where the admission policies read it (paramRef
// in the request's namespace). Without it, pods and Services in the namespace
// are refused (parameterNotFoundAction: Deny), so it comes before RBAC.
func (r *Reconciler) reconcilePolicy(ctx context.Context, s *scope) error {
	hostnames, err := r.claimableHostnames(ctx, s)
	if err != nil {
		return err
	}
	defaults, err := r.defaultPriority(ctx, s.tenant)
	if err != nil {
		return err
	}
	grants := policyGrants{
		hostnames: hostnames, defaults: defaults,
		serviceTypes:        grantedServiceTypes(s.tenant, s.quota),
		accelerators:        grantedAccelerators(s.quota, r.acceleratorPrefixes()),
		acceleratorPrefixes: r.acceleratorPrefixes(),
	}
	for _, ns := range s.active() {
		if err := r.ensure(ctx, s, policyConfigMap(s.tenant, ns, grants)); err != nil {
			s.fail(ns, err)
		}
	}
	return nil
}

// policyGrants is what the published policy says beyond the Tenant's spec.
type policyGrants struct {
	hostnames           []string
	defaults            map[string]string
	serviceTypes        []string
	accelerators        []string
	acceleratorPrefixes []string
}

// policyConfigMap renders the published policy. Every key is always present
// (empty when unset) so the policies never read a missing key.
func policyConfigMap(t *platformv1alpha1.Tenant, namespace string, g policyGrants) *corev1.ConfigMap {
	data := map[string]string{
		naming.PolicyPriorityClasses:         "",
		naming.PolicyRuntimeClasses:          "",
		naming.PolicyHostnames:               strings.Join(g.hostnames, ","),
		naming.PolicyDefaultPriorityClass:    g.defaults[naming.PolicyDefaultPriorityClass],
		naming.PolicyDefaultPriority:         g.defaults[naming.PolicyDefaultPriority],
		naming.PolicyDefaultPreemptionPolicy: g.defaults[naming.PolicyDefaultPreemptionPolicy],
		naming.PolicyServiceTypes:            strings.Join(g.serviceTypes, ","),
		naming.PolicyStorageClasses:          "",
		naming.PolicyAccelerators:            strings.Join(g.accelerators, ","),
		naming.PolicyAcceleratorPrefixes:     strings.Join(g.acceleratorPrefixes, ","),
		naming.PolicyServiceAccounts:         strings.Join(namedServiceAccounts(t, namespace), ","),
	}
	// The batch keys only when set: a tenant without a batch class keeps the
	// policy it had (no write on upgrade).
	for _, k := range []string{naming.PolicyBatchPriorityClass, naming.PolicyBatchPriority, naming.PolicyBatchPreemptionPolicy} {
		if v := g.defaults[k]; v != "" {
			data[k] = v
		}
	}
	if st := t.Spec.Storage; st != nil {
		data[naming.PolicyStorageClasses] = strings.Join(st.Classes, ",")
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

// grantedServiceTypes are the Service types beyond ClusterIP the tenant may
// create: those its exposure lists, and (as releases before serviceTypes
// granted them) those its TenantQuota gives a non-zero count.
func grantedServiceTypes(t *platformv1alpha1.Tenant, q *platformv1alpha1.TenantQuota) []string {
	granted := map[string]bool{}
	if e := t.Spec.Exposure; e != nil {
		for _, st := range e.ServiceTypes {
			granted[string(st)] = true
		}
	}
	if q != nil {
		if n, ok := q.Spec.Hard[corev1.ResourceServicesNodePorts]; ok && n.Sign() > 0 {
			granted[string(platformv1alpha1.ServiceTypeNodePort)] = true
		}
		if n, ok := q.Spec.Hard[corev1.ResourceServicesLoadBalancers]; ok && n.Sign() > 0 {
			granted[string(platformv1alpha1.ServiceTypeLoadBalancer)] = true
		}
	}
	return slices.Sorted(maps.Keys(granted))
}

// grantedAccelerators are the accelerator resources the TenantQuota names
// (requests.nvidia.com/gpu grants nvidia.com/gpu, even at 0: quota then
// refuses it with its own message). An accelerator it does not name is not
// granted: a ResourceQuota cannot match a prefix, so without this an
// unnamed accelerator would be unlimited.
func grantedAccelerators(q *platformv1alpha1.TenantQuota, prefixes []string) []string {
	if q == nil {
		return nil
	}
	granted := map[string]bool{}
	for key := range q.Spec.Hard {
		name := strings.TrimPrefix(strings.TrimPrefix(string(key), "requests."), "limits.")
		if isAccelerator(name, prefixes) {
			granted[name] = true
		}
	}
	return slices.Sorted(maps.Keys(granted))
}

func isAccelerator(resource string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(resource, p) {
			return true
		}
	}
	return false
}

// namedServiceAccounts are the service accounts of namespace that the
// Tenant names as owners or members: no pod may run as one of them, or
// whoever creates pods would hold its role.
func namedServiceAccounts(t *platformv1alpha1.Tenant, namespace string) []string {
	named := map[string]bool{}
	for _, o := range t.Spec.Owners {
		if o.Kind == platformv1alpha1.SubjectServiceAccount && o.Namespace == namespace {
			named[o.Name] = true
		}
	}
	for _, m := range t.Spec.Members {
		if m.Kind == platformv1alpha1.SubjectServiceAccount && m.Namespace == namespace {
			named[m.Name] = true
		}
	}
	return slices.Sorted(maps.Keys(named))
}

// defaultPriority resolves the tenant's default PriorityClass (the first
// allowed one) and its batch class. Admission policies run after the Priority
// plugin, so the policy that injects a class must also set the priority value
// it stands for.
func (r *Reconciler) defaultPriority(ctx context.Context, t *platformv1alpha1.Tenant) (map[string]string, error) {
	out := map[string]string{}
	if t.Spec.Scheduling == nil || len(t.Spec.Scheduling.PriorityClasses) == 0 {
		return out, nil
	}
	for _, c := range []struct{ class, nameKey, priorityKey, preemptionKey string }{
		{t.Spec.Scheduling.PriorityClasses[0], naming.PolicyDefaultPriorityClass, naming.PolicyDefaultPriority, naming.PolicyDefaultPreemptionPolicy},
		{t.Spec.Scheduling.BatchPriorityClass, naming.PolicyBatchPriorityClass, naming.PolicyBatchPriority, naming.PolicyBatchPreemptionPolicy},
	} {
		if c.class == "" {
			continue
		}
		pc := &schedulingv1.PriorityClass{}
		err := r.Client.Get(ctx, client.ObjectKey{Name: c.class}, pc)
		if apierrors.IsNotFound(err) {
			continue // nothing to inject until it exists; the watch on PriorityClasses brings us back
		}
		if err != nil {
			return nil, err
		}
		out[c.nameKey] = pc.Name
		out[c.priorityKey] = strconv.Itoa(int(pc.Value))
		if pc.PreemptionPolicy != nil {
			out[c.preemptionKey] = string(*pc.PreemptionPolicy)
		}
	}
	return out, nil
}
