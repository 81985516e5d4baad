package tenantquota

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
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

// splitCountDefaults gives the namespaces of a Static split the object-count
// defaults that neither spec.hard nor any entry names, in whole units, evenly
// (the remainder to the first in name order): a Static split gives 0 to what
// it omits, and a default the user never wrote must not forbid every Job.
func splitCountDefaults(static map[string]corev1.ResourceList, hard corev1.ResourceList) {
	if len(static) == 0 {
		return
	}
	names := slices.Sorted(maps.Keys(static))
	for key, total := range platformv1alpha1.DefaultObjectCounts() {
		if _, named := hard[key]; named {
			continue
		}
		if slices.ContainsFunc(names, func(n string) bool { _, ok := static[n][key]; return ok }) {
			continue
		}
		share, rest := total.Value()/int64(len(names)), total.Value()%int64(len(names))
		for i, n := range names {
			amount := share
			if int64(i) < rest {
				amount++
			}
			if static[n] == nil {
				static[n] = corev1.ResourceList{}
			}
			static[n][key] = *resource.NewQuantity(amount, resource.DecimalSI)
		}
	}
}

// effectiveHard is spec.hard plus the defaults it does not name.
func effectiveHard(tq *platformv1alpha1.TenantQuota) corev1.ResourceList {
	hard := tq.Spec.Hard.DeepCopy()
	for _, defaults := range []corev1.ResourceList{exposureDefaults, platformv1alpha1.DefaultObjectCounts()} {
		for k, v := range defaults {
			if _, ok := hard[k]; !ok {
				hard[k] = v.DeepCopy()
			}
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
// counts toward the total. Namespaces retained by an earlier Tenant of the
// same name (another UID) are not this tenant's and are left out. Quotas are
// read from the cache first; freshen reads them again from the API server
// before anything is written.
func (r *Reconciler) loadNamespaces(ctx context.Context, s *scope) (bool, error) {
	list := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: s.tenant.Name}); err != nil {
		return false, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	s.namespaces, s.quotas, s.reserved = nil, map[string]*corev1.ResourceQuota{}, map[string]bool{}
	for i := range list.Items {
		ns := &list.Items[i]
		if uid := ns.Annotations[platformv1alpha1.TenantUIDAnnotation]; uid != "" && uid != string(s.tenant.UID) &&
			ns.Labels[platformv1alpha1.OrphanedLabel] == "true" {
			continue // retained by an earlier Tenant of this name: not this tenant's to count or change
		}
		entry := quota.Namespace{
			Name:   ns.Name,
			Frozen: ns.Labels[platformv1alpha1.OrphanedLabel] == "true" || !ns.DeletionTimestamp.IsZero(),
		}
		rq, err := r.readQuota(ctx, s, ns.Name)
		switch {
		case err != nil:
			return false, err
		case rq == nil:
			if entry.Frozen {
				continue // never give a quota to a namespace the tenant released
			}
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

// readQuota returns a namespace's ResourceQuota (nil when it has none): from
// the cache, or, once s.fresh holds what the API server listed, from that.
func (r *Reconciler) readQuota(ctx context.Context, s *scope, namespace string) (*corev1.ResourceQuota, error) {
	if s.fresh != nil {
		return s.fresh[namespace], nil
	}
	rq := &corev1.ResourceQuota{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: naming.ResourceQuota}, rq)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return rq, nil
}

// freshen makes every shrink or grow decision rest on current state: when
// the split computed from the cache means a write, the tenant's
// ResourceQuotas are read again from the API server (one List by the tenant
// label) and the split computed again from them, and the writes compare
// against those objects. A cache may not have seen the operator's own last
// write yet (finding 4 of the data-safety review); at rest, when nothing is
// to be written, no read is added.
func (r *Reconciler) freshen(ctx context.Context, s *scope) (bool, error) {
	if !freshDecisions || s.fresh != nil || !s.writesPlanned() {
		return true, nil
	}
	list := &corev1.ResourceQuotaList{}
	if err := r.APIReader.List(ctx, list, client.MatchingLabels{platformv1alpha1.TenantLabel: s.tenant.Name}); err != nil {
		return false, fmt.Errorf("reading the tenant's ResourceQuotas from the API server: %w", err)
	}
	s.fresh = map[string]*corev1.ResourceQuota{}
	for i := range list.Items {
		if list.Items[i].Name == naming.ResourceQuota {
			s.fresh[list.Items[i].Namespace] = &list.Items[i]
		}
	}
	if proceed, err := r.loadNamespaces(ctx, s); !proceed || err != nil {
		return proceed, err
	}
	return r.computeTargets(ctx, s)
}

// writesPlanned reports whether applying the targets would write anything.
func (s *scope) writesPlanned() bool {
	for _, ns := range s.namespaces {
		if ns.Frozen || s.reserved[ns.Name] {
			continue
		}
		rq, ok := s.quotas[ns.Name]
		if !ok || !quotav1.Equals(rq.Spec.Hard, s.targets[ns.Name]) {
			return true
		}
	}
	return false
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
	if unknown := s.unknownStaticEntries(); len(unknown) > 0 {
		msg := fmt.Sprintf("the static split names %s, which Tenant %s does not declare (its entries: %s): fix the entry names or add them to the Tenant",
			strings.Join(unknown, ", "), s.tenant.Name, strings.Join(s.declaredEntries(), ", "))
		s.stall(platformv1alpha1.TenantQuotaReasonUnknownNamespaceEntry, msg)
		return false, nil
	}
	static := map[string]corev1.ResourceList{}
	for entry, list := range s.tq.Spec.Distribution.Static {
		static[s.tenant.NamespaceName(entry)] = list.DeepCopy()
	}
	splitCountDefaults(static, s.tq.Spec.Hard)
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
		s.stall(platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard,
			"the static split exceeds hard: "+strings.Join(over, "; ")+"; lower the static amounts or raise hard")
		return false, nil
	}
	return true, nil
}

// unknownStaticEntries are the static entries the Tenant does not declare.
// Admission cannot see them (the TenantQuota may be applied first), so they
// stall here with what to fix instead of splitting a total no namespace has.
func (s *scope) unknownStaticEntries() []string {
	declared := map[string]bool{}
	for _, e := range s.tenant.Spec.Namespaces {
		declared[e.Name] = true
	}
	var unknown []string
	for entry := range s.tq.Spec.Distribution.Static {
		if !declared[entry] {
			unknown = append(unknown, entry)
		}
	}
	sort.Strings(unknown)
	return unknown
}

func (s *scope) declaredEntries() []string {
	out := make([]string, 0, len(s.tenant.Spec.Namespaces))
	for _, e := range s.tenant.Spec.Namespaces {
		out = append(out, e.Name)
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

// stall marks the quota Stalled (and not Ready) with what to fix: terminal
// until the TenantQuota, its Tenant or the cluster changes, never retried in
// a loop.
func (s *scope) stall(reason, msg string) {
	conditions.MarkStalled(s.tq, reason, msg)
	conditions.False(s.tq, platformv1alpha1.ConditionReady, reason, msg)
	s.stalled = true
	s.completed = true
}

// exceeded lists the resources whose split sums past the total, with the sums.
func exceeded(hard corev1.ResourceList, targets map[string]corev1.ResourceList) []string {
	sum := corev1.ResourceList{}
	for _, list := range targets {
		sum = quotav1.Add(sum, quotav1.Mask(list, quotav1.ResourceNames(hard)))
	}
	var out []string
	if ok, over := quotav1.LessThanOrEqual(sum, hard); !ok {
		slices.Sort(over)
		for _, name := range over {
			total, limit := sum[name], hard[name]
			out = append(out, fmt.Sprintf("%s: %s > %s", name, total.String(), limit.String()))
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
		if quotav1.Equals(step, rq.Spec.Hard) {
			continue
		}
		if err := r.write(ctx, s, ns.Name, step); err != nil {
			return false, err
		}
		r.shrinks.record(ns.Name, time.Now())
		shrunk = true
	}
	if shrunk || !allEnforced(s) {
		waitForEnforcement(s)
		return false, nil
	}
	if wait := r.shrinks.settling(s.quotas, time.Now()); wait > 0 {
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
		if err := r.write(ctx, s, ns.Name, s.targets[ns.Name]); err != nil {
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

// write applies one namespace's ResourceQuota with the given hard, compared
// with the quota read for this decision (no request when it already holds
// it), and remembers it as the current one. The API server refusing it as
// invalid is a spec error: Stalled, not retried.
func (r *Reconciler) write(ctx context.Context, s *scope, namespace string, hard corev1.ResourceList) error {
	desired := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: naming.ResourceQuota, Namespace: namespace, Labels: naming.TenantLabels(s.tenant.Name)},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}
	var current client.Object
	if rq, ok := s.quotas[namespace]; ok {
		current = rq
	}
	var err error
	if freshDecisions {
		_, _, err = r.applier().EnsureAgainst(ctx, desired, current)
	} else {
		_, _, err = r.applier().Ensure(ctx, desired) // the negative control: compared with the cache
	}
	if apierrors.IsInvalid(err) {
		s.stall(platformv1alpha1.ReasonInvalidSpec, "the API server refuses the ResourceQuota of "+namespace+": "+err.Error())
		return errStalled
	}
	if err != nil {
		return err
	}
	if rq, ok := s.quotas[namespace]; ok {
		rq.Spec.Hard = hard
	} else {
		s.quotas[namespace] = desired
	}
	return nil
}

// errStalled stops the phases after a stall; Reconcile does not return it.
var errStalled = errors.New("stalled")

// settleTime is how long use must have had to be recounted since a shrink
// before the freed headroom is given to another namespace.
const settleTime = 2 * time.Second

// shrinkLog remembers when the operator last shrank each namespace's quota
// (in memory: writing it on the ResourceQuota would be a write that enforces
// nothing).
type shrinkLog struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (l *shrinkLog) record(namespace string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.at == nil {
		l.at = map[string]time.Time{}
	}
	l.at[namespace] = now
}

// settling returns how long to wait until every recent shrink of these
// quotas has settled.
func (l *shrinkLog) settling(quotas map[string]*corev1.ResourceQuota, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for ns := range quotas {
		at, ok := l.at[ns]
		if !ok {
			continue
		}
		left := at.Add(settleTime).Sub(now)
		if left <= 0 {
			delete(l.at, ns)
			continue
		}
		wait = max(wait, left)
	}
	return wait
}

// allEnforced reports whether every quota's status.hard equals its spec.hard.
func allEnforced(s *scope) bool {
	for _, rq := range s.quotas {
		if !quotav1.Equals(rq.Spec.Hard, rq.Status.Hard) {
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
