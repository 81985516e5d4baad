package plugin

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// TenantsOutput is the document `kubectl tenantai tenants -o json|yaml`
// prints: one entry per Tenant, sorted by name.
type TenantsOutput struct {
	Tenants []TenantRow `json:"tenants"`
}

// TenantRow is one Tenant: what the table shows, as typed fields.
type TenantRow struct {
	// Name of the Tenant.
	Name string `json:"name"`
	// Ready is the Tenant's Ready condition.
	Ready Readiness `json:"ready"`
	// Namespaces are the namespaces that exist and belong to the tenant
	// (status.namespaces), sorted.
	Namespaces []string `json:"namespaces"`
	// Quota summarizes the key resources of the tenant's TenantQuota.
	Quota QuotaSummary `json:"quota"`
	// CreationTimestamp of the Tenant (the table shows its age).
	CreationTimestamp metav1.Time `json:"creationTimestamp"`
}

// Readiness is an object's Ready condition.
type Readiness struct {
	// Status is True, False, or Unknown while the operator has not set Ready.
	Status metav1.ConditionStatus `json:"status"`
	// Reason and Message are the condition's.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// The states of a tenant's quota summary.
const (
	// QuotaPresent: the TenantQuota exists and reports its use.
	QuotaPresent = "Present"
	// QuotaMissing: the tenant has no TenantQuota.
	QuotaMissing = "Missing"
	// QuotaPending: the TenantQuota exists but the operator has not reported
	// what it enforces yet.
	QuotaPending = "Pending"
)

// QuotaSummary is the use of a tenant's key resources: every GPU, cpu and
// memory, in that order.
type QuotaSummary struct {
	// State is Present, Missing or Pending.
	State string `json:"state"`
	// Resources are the key resources (only when State is Present).
	Resources []ResourceUse `json:"resources,omitempty"`
}

// ResourceUse is the use of one resource against its hard limit.
type ResourceUse struct {
	// Resource is the ResourceQuota key, e.g. requests.nvidia.com/gpu.
	Resource corev1.ResourceName `json:"resource"`
	// Used and Hard are quantities in canonical form (1500m, 4Gi). Used is
	// empty while kube-controller-manager has not accounted the resource.
	Used string `json:"used,omitempty"`
	Hard string `json:"hard"`
	// Percent is used/hard in whole percent, rounded down; absent when hard
	// is 0 or use is not accounted yet.
	Percent *int64 `json:"percent,omitempty"`
}

func (c *cli) tenantsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "tenants",
		Short: "List tenants: readiness, namespaces and the use of their GPU, CPU and memory quota",
		Example: `  kubectl tenantai tenants
  kubectl tenantai tenants -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kube, err := c.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			tenants := &platformv1alpha1.TenantList{}
			if err := kube.List(ctx, tenants); err != nil {
				return readError(err, "Tenants", hintClusterScoped)
			}
			quotas := &platformv1alpha1.TenantQuotaList{}
			if err := kube.List(ctx, quotas); err != nil {
				return readError(err, "TenantQuotas", hintClusterScoped)
			}
			out := tenantsOutput(tenants.Items, quotas.Items)
			if len(out.Tenants) == 0 && c.output == outputTable {
				_, err := fmt.Fprintln(c.opts.IOStreams.ErrOut, "No tenants found.")
				return err
			}
			return printResult(c.opts.IOStreams.Out, c.output, out, func() *table { return c.tenantsTable(out) })
		},
	}
}

// tenantsOutput builds the rows, sorted by tenant name.
func tenantsOutput(tenants []platformv1alpha1.Tenant, quotas []platformv1alpha1.TenantQuota) TenantsOutput {
	byName := map[string]*platformv1alpha1.TenantQuota{}
	for i := range quotas {
		byName[quotas[i].Name] = &quotas[i]
	}
	out := TenantsOutput{Tenants: []TenantRow{}}
	for i := range tenants {
		out.Tenants = append(out.Tenants, tenantRow(&tenants[i], byName[tenants[i].Name]))
	}
	sort.Slice(out.Tenants, func(i, j int) bool { return out.Tenants[i].Name < out.Tenants[j].Name })
	return out
}

// tenantRow is one tenant; tq is its TenantQuota, or nil when it has none.
func tenantRow(t *platformv1alpha1.Tenant, tq *platformv1alpha1.TenantQuota) TenantRow {
	namespaces := append([]string{}, t.Status.Namespaces...)
	sort.Strings(namespaces)
	return TenantRow{
		Name:              t.Name,
		Ready:             readiness(t.Status.Conditions),
		Namespaces:        namespaces,
		Quota:             quotaSummary(tq),
		CreationTimestamp: t.CreationTimestamp,
	}
}

// quotaSummary is the use of a TenantQuota's key resources against its
// enforced total (status.hard).
func quotaSummary(tq *platformv1alpha1.TenantQuota) QuotaSummary {
	switch {
	case tq == nil:
		return QuotaSummary{State: QuotaMissing}
	case len(tq.Status.Hard) == 0:
		return QuotaSummary{State: QuotaPending}
	}
	s := QuotaSummary{State: QuotaPresent}
	for _, name := range keyResources(tq.Status.Hard) {
		s.Resources = append(s.Resources, resourceUse(name, tq.Status.Hard, tq.Status.Used))
	}
	return s
}

// resourceUse is one resource's use against its hard limit.
func resourceUse(name corev1.ResourceName, hard, used corev1.ResourceList) ResourceUse {
	u := ResourceUse{Resource: name, Hard: formatQuantity(hard[name])}
	q, accounted := used[name]
	if !accounted {
		return u
	}
	u.Used = formatQuantity(q)
	if pct, ok := percentUsed(q, hard[name]); ok {
		u.Percent = &pct
	}
	return u
}

// readiness reads the Ready condition.
func readiness(conds []metav1.Condition) Readiness {
	c := meta.FindStatusCondition(conds, platformv1alpha1.ConditionReady)
	if c == nil {
		return Readiness{Status: metav1.ConditionUnknown}
	}
	return Readiness{Status: c.Status, Reason: c.Reason, Message: c.Message}
}

// readyCell is the READY column: the status, with the reason when not True.
func readyCell(r Readiness) string {
	if r.Status == metav1.ConditionTrue || r.Reason == "" {
		return string(r.Status)
	}
	return fmt.Sprintf("%s (%s)", r.Status, r.Reason)
}

// maxListedNamespaces is how many namespace names the NAMESPACES column
// lists before it counts the rest.
const maxListedNamespaces = 3

// namespacesCell lists a few namespaces and counts the rest.
func namespacesCell(namespaces []string) string {
	switch n := len(namespaces); {
	case n == 0:
		return "<none>"
	case n <= maxListedNamespaces:
		return strings.Join(namespaces, ",")
	default:
		return fmt.Sprintf("%s,+%d more", strings.Join(namespaces[:maxListedNamespaces], ","), n-maxListedNamespaces)
	}
}

// quotaCell is the QUOTA column: "gpu 3/8  cpu 4500m/40  memory 48Gi/64Gi".
func quotaCell(s QuotaSummary) string {
	switch s.State {
	case QuotaMissing:
		return "<none>"
	case QuotaPending:
		return "<pending>"
	}
	if len(s.Resources) == 0 {
		return "<no gpu, cpu or memory limit>"
	}
	parts := make([]string, 0, len(s.Resources))
	for _, r := range s.Resources {
		parts = append(parts, fmt.Sprintf("%s %s/%s", shortLabel(r.Resource), usedCell(r), r.Hard))
	}
	return strings.Join(parts, "  ")
}

// usedCell is a use, or "?" while kube-controller-manager has not accounted it.
func usedCell(r ResourceUse) string {
	if r.Used == "" {
		return "?"
	}
	return r.Used
}

func (c *cli) tenantsTable(out TenantsOutput) *table {
	t := &table{header: []string{"NAME", "READY", "NAMESPACES", "QUOTA", "AGE"}}
	for _, r := range out.Tenants {
		t.add(r.Name, readyCell(r.Ready), namespacesCell(r.Namespaces), quotaCell(r.Quota), c.age(r.CreationTimestamp.Time))
	}
	return t
}
