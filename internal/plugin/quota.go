package plugin

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// QuotaOutput is the document `kubectl tenantai quota <tenant> -o json|yaml`
// prints: the rows of the table, in the table's order.
type QuotaOutput struct {
	// Tenant is the tenant asked about.
	Tenant string `json:"tenant"`
	// Rows are, per resource (GPUs first, then cpu, memory and the rest
	// alphabetically), the tenant total and then each namespace by name.
	Rows []QuotaRow `json:"rows"`
}

// The scopes of a quota row.
const (
	// ScopeTenant is the tenant's total, from its TenantQuota.
	ScopeTenant = "tenant"
	// ScopeNamespace is one namespace's share, from its ResourceQuota.
	ScopeNamespace = "namespace"
)

// QuotaRow is one resource of the tenant total or of one namespace.
type QuotaRow struct {
	ResourceUse `json:",inline"`
	// Scope is "tenant" for the total or "namespace" for one namespace.
	Scope string `json:"scope"`
	// Namespace is set on namespace rows.
	Namespace string `json:"namespace,omitempty"`
}

// totalLabel is the NAMESPACE cell of the tenant-total rows.
const totalLabel = "(total)"

func (c *cli) quotaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "quota TENANT",
		Short: "Show a tenant's quota use per resource and per namespace, GPUs first",
		Long: "Show how much of a tenant's quota is used: the tenant total from its TenantQuota and each " +
			"namespace's share from the ResourceQuota the operator keeps there.\n\n" +
			"With -n, only that namespace's ResourceQuota is read: tenant members, whose roles do not " +
			"grant the cluster-scoped Tenant and TenantQuota, see their namespace this way.",
		Example: `  kubectl tenantai quota acme
  kubectl tenantai quota acme -n acme-prod   # one namespace; enough for tenant members
  kubectl tenantai quota acme -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kube, err := c.client()
			if err != nil {
				return err
			}
			ns, explicit, err := c.namespace()
			if err != nil {
				return err
			}
			var out QuotaOutput
			if explicit {
				out, err = namespaceQuota(cmd.Context(), kube, args[0], ns)
			} else {
				out, err = tenantQuota(cmd.Context(), kube, args[0])
			}
			if err != nil {
				return err
			}
			return printResult(c.opts.IOStreams.Out, c.output, out, func() *table { return quotaTable(out) })
		},
	}
}

// tenantQuota reads the Tenant and its TenantQuota: the total and every
// namespace's share as the operator last observed them.
func tenantQuota(ctx context.Context, kube client.Client, tenant string) (QuotaOutput, error) {
	t := &platformv1alpha1.Tenant{}
	if err := kube.Get(ctx, client.ObjectKey{Name: tenant}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return QuotaOutput{}, fmt.Errorf("tenant %q not found (kubectl tenantai tenants lists the tenants)", tenant)
		}
		return QuotaOutput{}, readError(err, fmt.Sprintf("Tenant %q", tenant), hintClusterScoped)
	}
	tq := &platformv1alpha1.TenantQuota{}
	if err := kube.Get(ctx, client.ObjectKey{Name: tenant}, tq); err != nil {
		if apierrors.IsNotFound(err) {
			return QuotaOutput{}, fmt.Errorf("tenant %q has no TenantQuota; create one named %s (spec.tenantRef.name: %s) to give it a quota",
				tenant, tenant, tenant)
		}
		return QuotaOutput{}, readError(err, fmt.Sprintf("TenantQuota %q", tenant), hintClusterScoped)
	}
	if len(tq.Status.Hard) == 0 {
		return QuotaOutput{}, pendingQuotaError(tq)
	}
	total := platformv1alpha1.NamespaceQuotaStatus{Hard: tq.Status.Hard, Used: tq.Status.Used}
	return quotaOutput(tenant, &total, tq.Status.Namespaces), nil
}

// pendingQuotaError says why a TenantQuota reports nothing yet, from its
// Ready condition.
func pendingQuotaError(tq *platformv1alpha1.TenantQuota) error {
	r := readiness(tq.Status.Conditions)
	why := "the operator has not reconciled it yet: is tenantai running?"
	if r.Reason != "" {
		why = fmt.Sprintf("Ready=%s %s: %s", r.Status, r.Reason, r.Message)
	}
	return fmt.Errorf("TenantQuota %q reports no enforced quota yet (%s)", tq.Name, why)
}

// namespaceQuota reads the ResourceQuota the operator keeps in one namespace
// of the tenant: what quota admission enforces there and what is used.
func namespaceQuota(ctx context.Context, kube client.Client, tenant, ns string) (QuotaOutput, error) {
	rq := &corev1.ResourceQuota{}
	if err := kube.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.ResourceQuota}, rq); err != nil {
		if apierrors.IsNotFound(err) {
			return QuotaOutput{}, fmt.Errorf("namespace %q has no ResourceQuota %s: it is not a namespace of tenant %q, "+
				"or the tenant's TenantQuota has not been applied to it yet", ns, naming.ResourceQuota, tenant)
		}
		return QuotaOutput{}, readError(err, fmt.Sprintf("ResourceQuota %s in namespace %q", naming.ResourceQuota, ns), hintNamespace)
	}
	if owner := rq.Labels[platformv1alpha1.TenantLabel]; owner != tenant {
		return QuotaOutput{}, fmt.Errorf("namespace %q belongs to tenant %q, not %q", ns, owner, tenant)
	}
	// status.hard is what quota admission enforces; until
	// kube-controller-manager has copied it, the declared spec.hard.
	hard := rq.Status.Hard
	if len(hard) == 0 {
		hard = rq.Spec.Hard
	}
	return quotaOutput(tenant, nil, []platformv1alpha1.NamespaceQuotaStatus{{Name: ns, Hard: hard, Used: rq.Status.Used}}), nil
}

// quotaOutput builds the rows: per resource in display order, the total (when
// known) and then each namespace by name.
func quotaOutput(tenant string, total *platformv1alpha1.NamespaceQuotaStatus, namespaces []platformv1alpha1.NamespaceQuotaStatus) QuotaOutput {
	namespaces = append([]platformv1alpha1.NamespaceQuotaStatus{}, namespaces...)
	sort.Slice(namespaces, func(i, j int) bool { return namespaces[i].Name < namespaces[j].Name })
	hards := []corev1.ResourceList{}
	if total != nil {
		hards = append(hards, total.Hard)
	}
	for _, ns := range namespaces {
		hards = append(hards, ns.Hard)
	}
	out := QuotaOutput{Tenant: tenant, Rows: []QuotaRow{}}
	for _, name := range sortedResources(hards...) {
		if total != nil {
			if _, ok := total.Hard[name]; ok {
				out.Rows = append(out.Rows, QuotaRow{ResourceUse: resourceUse(name, total.Hard, total.Used), Scope: ScopeTenant})
			}
		}
		for _, ns := range namespaces {
			if _, ok := ns.Hard[name]; ok {
				out.Rows = append(out.Rows, QuotaRow{
					ResourceUse: resourceUse(name, ns.Hard, ns.Used), Scope: ScopeNamespace, Namespace: ns.Name,
				})
			}
		}
	}
	return out
}

func quotaTable(out QuotaOutput) *table {
	t := &table{header: []string{"RESOURCE", "NAMESPACE", "USED", "HARD", "USED%"}}
	for _, r := range out.Rows {
		ns := r.Namespace
		if r.Scope == ScopeTenant {
			ns = totalLabel
		}
		t.add(string(r.Resource), ns, usedCell(r.ResourceUse), r.Hard, formatPercent(r.Percent))
	}
	return t
}
