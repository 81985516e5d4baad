package tenant

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Hostname claims are first come, first served across tenants. Finding the
// tenants a hostname may overlap goes through a cache index, never a scan
// of every Tenant: a change to one Tenant costs work in proportion to its
// own hostnames and their real neighbours, not to the number of tenants.
//
// Two hostnames overlap when they are equal or when "*.d" covers an exact
// host one label below d. The index files an exact host h under "host:h"
// and "under:<parent of h>", and a wildcard "*.d" under "wild:d"; the keys to
// look up are, for h, "host:h" and "wild:<parent of h>", and for "*.d",
// "wild:d" and "under:d".
const (
	hostnameIndex      = "tenantai.hostnames"
	priorityClassIndex = "tenantai.injectedPriorityClass"
)

// hostnameIndexKeys are the keys a Tenant is filed under.
func hostnameIndexKeys(obj client.Object) []string {
	t, ok := obj.(*platformv1alpha1.Tenant)
	if !ok || t.Spec.Exposure == nil {
		return nil
	}
	var keys []string
	for _, h := range t.Spec.Exposure.Hostnames {
		if d, ok := strings.CutPrefix(h, "*."); ok {
			keys = append(keys, "wild:"+d)
			continue
		}
		keys = append(keys, "host:"+h)
		if _, parent, ok := strings.Cut(h, "."); ok {
			keys = append(keys, "under:"+parent)
		}
	}
	return keys
}

// hostnameLookups are the index keys under which the Tenants whose hostnames
// may overlap h are filed.
func hostnameLookups(h string) []string {
	if d, ok := strings.CutPrefix(h, "*."); ok {
		return []string{"wild:" + d, "under:" + d}
	}
	keys := []string{"host:" + h}
	if _, parent, ok := strings.Cut(h, "."); ok {
		keys = append(keys, "wild:"+parent)
	}
	return keys
}

// injectedPriorityClassKeys files a Tenant under the PriorityClasses whose
// name and value its published policy carries: the default, and the batch
// class when it has one.
func injectedPriorityClassKeys(obj client.Object) []string {
	t, ok := obj.(*platformv1alpha1.Tenant)
	if !ok || t.Spec.Scheduling == nil || len(t.Spec.Scheduling.PriorityClasses) == 0 {
		return nil
	}
	keys := []string{t.Spec.Scheduling.PriorityClasses[0]}
	if b := t.Spec.Scheduling.BatchPriorityClass; b != "" {
		keys = append(keys, b)
	}
	return keys
}

// overlapping returns the other Tenants with a hostname overlapping one of
// hostnames, with the pairs that overlap.
func (r *Reconciler) overlapping(ctx context.Context, self string, hostnames []string) (map[string]*platformv1alpha1.Tenant, map[string][]string, error) {
	tenants := map[string]*platformv1alpha1.Tenant{}
	pairs := map[string][]string{}
	for _, mine := range hostnames {
		for _, key := range hostnameLookups(mine) {
			list := &platformv1alpha1.TenantList{}
			if err := r.Client.List(ctx, list, client.MatchingFields{hostnameIndex: key}); err != nil {
				return nil, nil, fmt.Errorf("looking up tenants claiming hostnames like %s: %w", mine, err)
			}
			for i := range list.Items {
				o := &list.Items[i]
				if o.Name == self || o.Spec.Exposure == nil {
					continue
				}
				for _, theirs := range o.Spec.Exposure.Hostnames {
					if hostnamesOverlap(mine, theirs) {
						tenants[o.Name] = o
						pairs[o.Name] = append(pairs[o.Name], mine+"|"+theirs)
					}
				}
			}
		}
	}
	return tenants, pairs, nil
}

// claimableHostnames returns the tenant's exposure hostnames, or none when one
// of them overlaps a hostname of a tenant created earlier: the later tenant is
// Stalled with HostnameConflict, so two tenants never share a domain.
func (r *Reconciler) claimableHostnames(ctx context.Context, s *scope) ([]string, error) {
	t := s.tenant
	if t.Spec.Exposure == nil || len(t.Spec.Exposure.Hostnames) == 0 {
		return nil, nil
	}
	others, pairs, err := r.overlapping(ctx, t.Name, t.Spec.Exposure.Hostnames)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var conflicts []string
	for name, o := range others {
		if !earlier(o, t) {
			continue
		}
		for _, pair := range pairs[name] {
			mine, theirs, _ := strings.Cut(pair, "|")
			if msg := fmt.Sprintf("%s (tenant %s claims %s)", mine, name, theirs); !seen[msg] {
				seen[msg] = true
				conflicts = append(conflicts, msg)
			}
		}
	}
	if len(conflicts) > 0 {
		slices.Sort(conflicts)
		s.hostnameConflicts = conflicts
		return nil, nil
	}
	return t.Spec.Exposure.Hostnames, nil
}

// mapHostnameClaimants enqueues the tenants whose hostnames overlap those of
// a Tenant that changed or went (controller-runtime maps both the old and
// the new object of an update): a conflict may have appeared or cleared.
func (r *Reconciler) mapHostnameClaimants(ctx context.Context, obj client.Object) []reconcile.Request {
	t, ok := obj.(*platformv1alpha1.Tenant)
	if !ok || t.Spec.Exposure == nil || len(t.Spec.Exposure.Hostnames) == 0 {
		return nil
	}
	others, _, err := r.overlapping(ctx, t.Name, t.Spec.Exposure.Hostnames)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Finding tenants whose hostnames overlap", "tenant", t.Name)
		return nil
	}
	out := make([]reconcile.Request, 0, len(others))
	for name := range others {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: name}})
	}
	return out
}

// mapPriorityClassUsers enqueues the tenants whose default or batch
// PriorityClass it is.
func (r *Reconciler) mapPriorityClassUsers(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &platformv1alpha1.TenantList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{priorityClassIndex: obj.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Finding tenants whose default or batch PriorityClass changed", "priorityClass", obj.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: list.Items[i].Name}})
	}
	return out
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
