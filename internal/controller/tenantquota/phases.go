package tenantquota

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/quota"
)

// exposureDefaults close NodePort and LoadBalancer Services unless the
// TenantQuota grants them by naming the keys.
var exposureDefaults = corev1.ResourceList{
	corev1.ResourceServicesNodePorts:     resource.MustParse("0"),
	corev1.ResourceServicesLoadBalancers: resource.MustParse("0"),
}

// effectiveHard is spec.hard plus the exposure defaults it does not name.
func effectiveHard(tq *platformv1alpha1.TenantQuota) corev1.ResourceList {
	hard := tq.Spec.Hard.DeepCopy()
	for k, v := range exposureDefaults {
		if _, ok := hard[k]; !ok {
			hard[k] = v.DeepCopy()
		}
	}
	return hard
}

// loadTenant finds the Tenant the quota is for; without it there is nothing
// to split, and the quota waits (not Stalled: GitOps may apply it next).
func (r *Reconciler) loadTenant(ctx context.Context, s *scope) (bool, error) {
	s.hard = effectiveHard(s.tq)
	s.tq.Status.Hard = s.hard
	tenant := &platformv1alpha1.Tenant{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: s.tq.Spec.TenantRef.Name}, tenant)
	if apierrors.IsNotFound(err) {
		msg := fmt.Sprintf("waiting for Tenant %s: no ResourceQuota is created before it exists", s.tq.Spec.TenantRef.Name)
		conditions.False(s.tq, platformv1alpha1.ConditionReady, platformv1alpha1.TenantQuotaReasonTenantNotFound, msg)
		conditions.False(s.tq, platformv1alpha1.TenantQuotaConditionQuotaApplied, platformv1alpha1.TenantQuotaReasonTenantNotFound, msg)
		conditions.MarkReconciling(s.tq, platformv1alpha1.TenantQuotaReasonTenantNotFound, msg)
		s.completed = true
		return false, nil
	}
	s.tenant = tenant
	return err == nil, err
}

// loadNamespaces reads the tenant's namespaces, their quotas, use and demand.
// Orphaned and terminating namespaces are frozen: their quota stays and
// counts toward the total.
func (r *Reconciler) loadNamespaces(ctx context.Context, s *scope) (bool, error) {
	list := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: s.tenant.Name}); err != nil {
		return false, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for i := range list.Items {
		ns := &list.Items[i]
		entry := quota.Namespace{
			Name:   ns.Name,
			Frozen: ns.Labels[platformv1alpha1.OrphanedLabel] == "true" || !ns.DeletionTimestamp.IsZero(),
		}
		rq := &corev1.ResourceQuota{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: naming.ResourceQuota}, rq)
		switch {
		case apierrors.IsNotFound(err):
			if entry.Frozen {
				continue // never give a quota to a namespace the tenant released
			}
		case err != nil:
			return false, err
		default:
			s.quotas[ns.Name] = rq
			entry.Current, entry.Used = rq.Spec.Hard, rq.Status.Used
		}
		wanted, err := r.demand(ctx, ns.Name, entry.Used)
		if err != nil {
			return false, err
		}
		entry.Wanted = wanted
		s.namespaces = append(s.namespaces, entry)
	}
	s.reserveMissing()
	return true, nil
}

// reserveMissing keeps, in the Dynamic split, a share for every namespace
// the Tenant declares but has not created yet. Handing that share to the
// namespaces that already exist would force a shrink (and a wait for
// kube-controller-manager to enforce it) the moment the next namespace
// appears, which is the common case while a Tenant is being provisioned.
// Reserving errs on the safe side: the sum of the existing quotas stays
// below the total.
func (s *scope) reserveMissing() {
	if s.tq.Spec.Distribution.Mode == platformv1alpha1.DistributionStatic {
		return // Static amounts are per entry already
	}
	for _, name := range s.missingNamespaces() {
		s.namespaces = append(s.namespaces, quota.Namespace{Name: name})
		s.reserved[name] = true
	}
	sort.Slice(s.namespaces, func(i, j int) bool { return s.namespaces[i].Name < s.namespaces[j].Name })
}

// computeTargets computes the split: Static as listed (refused when its sums
// exceed the total), Dynamic from use and demand.
func (r *Reconciler) computeTargets(_ context.Context, s *scope) (bool, error) {
	if s.tq.Spec.Distribution.Mode != platformv1alpha1.DistributionStatic {
		s.targets = quota.Dynamic(s.hard, s.namespaces)
		return true, nil
	}
	static := map[string]corev1.ResourceList{}
	for entry, list := range s.tq.Spec.Distribution.Static {
		static[s.tenant.NamespaceName(entry)] = list
	}
	s.targets = quota.Static(s.hard, s.namespaces, static)
	// The sums are checked on the spec, not on the namespaces that exist yet:
	// otherwise the first namespace would get its amount before a later one
	// shows the split cannot fit.
	declared := map[string]corev1.ResourceList{}
	for name, list := range static {
		declared[name] = list
	}
	for _, ns := range s.namespaces {
		if ns.Frozen {
			declared[ns.Name] = s.targets[ns.Name]
		}
	}
	if over := exceeded(s.hard, declared); len(over) > 0 {
		msg := "the static split exceeds hard: " + strings.Join(over, "; ") + "; lower the static amounts or raise hard"
		conditions.MarkStalled(s.tq, platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard, msg)
		s.stalled = true
		conditions.False(s.tq, platformv1alpha1.ConditionReady, platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard, msg)
		s.completed = true
		return false, nil
	}
	return true, nil
}

// exceeded lists the resources whose split sums past the total, with the sums.
func exceeded(hard corev1.ResourceList, targets map[string]corev1.ResourceList) []string {
	var out []string
	for _, name := range quota.SortedNames(hard) {
		sum := resource.Quantity{}
		for _, list := range targets {
			if q, ok := list[name]; ok {
				sum.Add(q)
			}
		}
		if limit := hard[name]; sum.Cmp(limit) > 0 {
			out = append(out, fmt.Sprintf("%s: %s > %s", name, sum.String(), limit.String()))
		}
	}
	return out
}

// applyTargets writes the split, shrinking first: a namespace grows (or gets
// its first quota) only once every ResourceQuota enforces its spec
// (status.hard == spec.hard, copied by kube-controller-manager), so that the
// enforced sum never exceeds the total, even for an instant.
func (r *Reconciler) applyTargets(ctx context.Context, s *scope) (bool, error) {
	shrunk := false
	for _, ns := range s.namespaces {
		rq, ok := s.quotas[ns.Name]
		if ns.Frozen || !ok {
			continue
		}
		step := minList(rq.Spec.Hard, s.targets[ns.Name])
		if equality.Semantic.DeepEqual(step, rq.Spec.Hard) {
			continue
		}
		if err := r.write(ctx, s, ns.Name, step, map[string]string{shrunkAtAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}); err != nil {
			return false, err
		}
		shrunk = true
	}
	if shrunk || !allEnforced(s) {
		waitForEnforcement(s)
		return false, nil
	}
	if wait := settling(s, time.Now()); wait > 0 {
		// A namespace admitted pods against its old hard until the shrink was
		// enforced, and kube-controller-manager recounts use from its own
		// informer, which may lag those admissions: give the count time to
		// settle before growing anyone with the headroom.
		waitForEnforcement(s)
		s.requeueAfter = wait
		return false, nil
	}
	for _, ns := range s.namespaces {
		if ns.Frozen || s.reserved[ns.Name] {
			continue
		}
		if err := r.write(ctx, s, ns.Name, s.targets[ns.Name], nil); err != nil {
			return false, err
		}
	}
	if !allEnforced(s) {
		waitForEnforcement(s)
		return false, nil
	}
	if missing := s.missingNamespaces(); len(missing) > 0 {
		conditions.False(s.tq, platformv1alpha1.TenantQuotaConditionQuotaApplied, platformv1alpha1.TenantQuotaReasonWaitingForNamespaces,
			fmt.Sprintf("waiting for the Tenant to create namespace %s", strings.Join(missing, ", ")))
		s.completed = true
		return false, nil
	}
	if uncounted := s.uncountedResources(); len(uncounted) > 0 {
		// kube-controller-manager copies hard at once but counts a kind only
		// once its quota monitor knows it (a CRD installed moments ago, such as
		// count/modeldeployments...): until then quota admission refuses every
		// such object with "status unknown for quota".
		conditions.False(s.tq, platformv1alpha1.TenantQuotaConditionQuotaApplied, platformv1alpha1.TenantQuotaReasonWaitingForEnforcement,
			"waiting for kube-controller-manager to count "+strings.Join(uncounted, ", ")+"; until then quota admission refuses these objects")
		s.requeueAfter = uncountedRecheck
		s.completed = true
		return false, nil
	}
	conditions.True(s.tq, platformv1alpha1.TenantQuotaConditionQuotaApplied, platformv1alpha1.ReasonReconciled,
		fmt.Sprintf("quota enforced in %d namespaces", len(s.quotas)))
	return true, nil
}

// uncountedResources are the resources of some quota whose use
// kube-controller-manager has not reported yet.
func (s *scope) uncountedResources() []string {
	seen := map[string]bool{}
	for _, rq := range s.quotas {
		for name := range rq.Spec.Hard {
			if _, ok := rq.Status.Used[name]; !ok {
				seen[string(name)] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// missingNamespaces are the Tenant's declared namespaces that do not exist
// yet (or are not yet in the cache): the quota is not applied to them, and in
// the Dynamic split their share is held in reserve.
func (s *scope) missingNamespaces() []string {
	seen := map[string]bool{}
	for _, ns := range s.namespaces {
		if !s.reserved[ns.Name] {
			seen[ns.Name] = true
		}
	}
	var missing []string
	for _, e := range s.tenant.Spec.Namespaces {
		if name := s.tenant.NamespaceName(e.Name); !seen[name] {
			missing = append(missing, name)
		}
	}
	return missing
}

func waitForEnforcement(s *scope) {
	conditions.False(s.tq, platformv1alpha1.TenantQuotaConditionQuotaApplied, platformv1alpha1.TenantQuotaReasonWaitingForEnforcement,
		"waiting for kube-controller-manager to enforce the new quotas (status.hard == spec.hard) before growing any namespace")
	s.requeueAfter = enforcementRecheck
	s.completed = true
}

// write applies one namespace's ResourceQuota with the given hard (no request
// when the cache already holds it) and remembers it as the current one.
func (r *Reconciler) write(ctx context.Context, s *scope, namespace string, hard corev1.ResourceList, annotations map[string]string) error {
	desired := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: naming.ResourceQuota, Namespace: namespace, Labels: naming.TenantLabels(s.tenant.Name),
			Annotations: annotations},
		Spec: corev1.ResourceQuotaSpec{Hard: hard},
	}
	if _, _, err := r.applier().Ensure(ctx, desired); err != nil {
		return err
	}
	if rq, ok := s.quotas[namespace]; ok {
		rq.Spec.Hard = hard
	} else {
		s.quotas[namespace] = desired
	}
	return nil
}

// shrunkAtAnnotation records on a ResourceQuota when the operator last shrank
// it; settleTime is how long use must have had to be recounted since then
// before the freed headroom is given to another namespace.
const (
	shrunkAtAnnotation = "platform.tenantai.io/shrunk-at"
	settleTime         = 2 * time.Second
)

// settling returns how long to wait until every recent shrink has settled.
func settling(s *scope, now time.Time) time.Duration {
	var wait time.Duration
	for _, rq := range s.quotas {
		at, err := time.Parse(time.RFC3339Nano, rq.Annotations[shrunkAtAnnotation])
		if err != nil {
			continue
		}
		if left := at.Add(settleTime).Sub(now); left > wait {
			wait = left
		}
	}
	return wait
}

// allEnforced reports whether every quota's status.hard equals its spec.hard.
func allEnforced(s *scope) bool {
	for _, rq := range s.quotas {
		if !equality.Semantic.DeepEqual(rq.Spec.Hard, rq.Status.Hard) {
			return false
		}
	}
	return true
}

// minList is the shrink step from a towards b: per resource the smaller of
// the two (a resource b adds starts at 0; one b drops stays as in a until the
// grow step, since dropping a limit grows it).
func minList(a, b corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range a {
		if _, ok := b[name]; !ok {
			out[name] = q.DeepCopy()
		}
	}
	for name, q := range b {
		cur, ok := a[name]
		if !ok || cur.Cmp(q) < 0 {
			if ok {
				out[name] = cur.DeepCopy()
			} else {
				out[name] = resource.Quantity{}
			}
			continue
		}
		out[name] = q.DeepCopy()
	}
	return out
}
