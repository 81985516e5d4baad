// Package tenant reconciles a Tenant into its namespaces and their guardrails:
// Pod Security labels, a LimitRange, NetworkPolicies, the tenant data key and,
// last, the RoleBindings of the tenant's principals.
package tenant

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/events"
	"github.com/tenantai/tenantai/internal/metrics"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/observed"
	"github.com/tenantai/tenantai/internal/predicates"
	"github.com/tenantai/tenantai/internal/priority"
)

// Finalizer lets the operator apply the deletion policy before a Tenant goes.
const Finalizer = "platform.tenantai.io/tenant-cleanup"

// conflictRecheck is how often a namespace conflict is rechecked: the other
// owner may release the name, and nothing we watch says so.
const conflictRecheck = 3 * time.Minute

// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenantquotas,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=limitranges;secrets;configmaps,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=scheduling.k8s.io,resources=priorityclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=resourcequotas,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;patch;update;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=tenantai-tenant-admin;tenantai-tenant-developer;tenantai-tenant-viewer

// Reconciler reconciles Tenants. It holds dependencies only; what one
// reconcile shares between its phases lives in a scope.
type Reconciler struct {
	// Client reads from the label-restricted cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server, for the few reads the cache cannot
	// answer (a namespace that exists but is not ours, RoleBindings the tenant
	// made, a key the cache says is gone).
	APIReader client.Reader
	// Tokens reads Secrets of type kubernetes.io/service-account-token (and
	// only those) from a cache of their own; nil disables their removal.
	Tokens client.Reader
	// Observed knows the guardrails by fingerprint (internal/observed); nil
	// reads them from Client's cache instead (unit tests).
	Observed *observed.Store
	Recorder recorder.EventRecorder
	Clock    clock.PassiveClock
	// CostTeamLabel, when set, is a further label key set to the tenant's
	// name on its namespaces, for cost tools that aggregate by a team label
	// (OpenCost's "team"); the tenant label itself is always set.
	CostTeamLabel string
	// AcceleratorPrefixes are the resource-name prefixes of accelerators
	// (naming.DefaultAcceleratorPrefixes when empty), published for the
	// admission policies.
	AcceleratorPrefixes []string
	// GuardrailsWarn is the report-only rollout of the guardrails added by an
	// upgrade: token Secrets are reported, not deleted (the matching
	// admission policies are installed in Warn/Audit mode alongside).
	GuardrailsWarn bool
	// written remembers the conditions last written per Tenant, so that a
	// pass reading a stale cache records no transition twice.
	written events.Written
	// swept remembers the namespaces (by UID) already swept for squatted
	// names in this process.
	swept sync.Map
	// reportedTokens remembers the token Secrets (by UID) reported in Warn mode.
	reportedTokens sync.Map
	// phases are run in order; see phases.go.
	phases []phase
}

// phase is one step of a reconcile. A phase records a namespace it cannot
// bring to its state in the scope and goes on with the others; later phases
// skip that namespace, so RBAC (the last phase) never runs for a namespace
// whose guardrails failed. A phase returns an error only when no namespace
// can make progress.
type phase func(ctx context.Context, s *scope) error

// SetupWithManager registers the controller and its watches: the Tenant
// itself and, through the tenant label, every object it manages, so that
// drift is repaired from watch events rather than resyncs.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int, tokens cache.Cache, guardrails *observed.Store) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.phases = r.orderedPhases()
	ctx := context.Background()
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &platformv1alpha1.Tenant{}, hostnameIndex, hostnameIndexKeys); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &platformv1alpha1.Tenant{}, priorityClassIndex, injectedPriorityClassKeys); err != nil {
		return err
	}
	// A change to anything a Tenant manages is queued ahead of provisioning
	// (package priority): drift is repaired first.
	byTenant := priority.RepairFirst(handler.EnqueueRequestsFromMapFunc(mapByTenantLabel))
	b := ctrl.NewControllerManagedBy(mgr).
		Named("tenant").
		For(&platformv1alpha1.Tenant{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{},
			predicates.DeletionStarted{}))).
		Watches(&corev1.Namespace{}, byTenant).
		// Canonical data keys, in the operator's namespace (the copies are
		// observed with the other guardrails, below).
		Watches(&corev1.Secret{}, byTenant).
		// Only the presence of a ResourceQuota gates RBAC: its status, which
		// changes with every pod, is not the Tenant's business.
		Watches(&corev1.ResourceQuota{}, byTenant, builder.WithPredicates(predicates.LabelsChanged{})).
		// The TenantQuota (named after its tenant) gates RBAC, grants
		// accelerators and Service types, and revokes access when deleted.
		Watches(&platformv1alpha1.TenantQuota{}, handler.EnqueueRequestsFromMapFunc(mapByName),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicates.DeletionStarted{}))).
		// Hostname claims are first come, first served across tenants, and the
		// default and batch priorities are read from their PriorityClasses.
		Watches(&platformv1alpha1.Tenant{}, handler.EnqueueRequestsFromMapFunc(r.mapHostnameClaimants),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&schedulingv1.PriorityClass{}, handler.EnqueueRequestsFromMapFunc(r.mapPriorityClassUsers)).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent})
	r.Observed = guardrails
	for _, kind := range []client.Object{&corev1.LimitRange{}, &corev1.Secret{}, &corev1.ConfigMap{}, &networkingv1.NetworkPolicy{}, &rbacv1.RoleBinding{}} {
		b = b.WatchesRawSource(guardrails.Source(kind, byTenant))
	}
	if tokens != nil {
		r.Tokens = tokens
		b = b.WatchesRawSource(source.Kind(tokens, client.Object(&corev1.Secret{}),
			priority.RepairFirst(handler.EnqueueRequestsFromMapFunc(r.mapTokenSecret))))
	}
	return b.Complete(r)
}

// mapTokenSecret enqueues the tenant of the namespace a token Secret is in.
func (r *Reconciler) mapTokenSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns); err != nil {
		return nil // not a namespace the operator manages
	}
	return mapByTenantLabel(ctx, ns)
}

func mapByName(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetName()}}}
}

func mapByTenantLabel(_ context.Context, obj client.Object) []reconcile.Request {
	name, ok := obj.GetLabels()[platformv1alpha1.TenantLabel]
	if !ok || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
}

// Reconcile brings one Tenant's namespaces and guardrails to the declared state.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	tenant := &platformv1alpha1.Tenant{}
	if err := r.Client.Get(ctx, req.NamespacedName, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Forget(req.NamespacedName)
			return ctrl.Result{}, r.releaseAbandoned(ctx, req.Name)
		}
		return ctrl.Result{}, err
	}
	s := newScope(tenant, r.Clock.Now())
	defer func() {
		retErr = errors.Join(retErr, r.patchStatus(ctx, s, retErr))
		result = s.result(retErr)
		metrics.ObserveReconcile(metrics.KindTenant, tenant, retErr)
	}()

	if !tenant.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, s)
	}
	if !controllerutil.ContainsFinalizer(tenant, Finalizer) {
		if err := r.addFinalizer(ctx, tenant); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.loadQuota(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	for _, p := range r.phases {
		if err := p(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := s.failures(); err != nil {
		return ctrl.Result{}, err
	}
	s.completed = true
	return ctrl.Result{}, nil
}

// loadQuota reads the tenant's TenantQuota (named after it) from the cache.
func (r *Reconciler) loadQuota(ctx context.Context, s *scope) error {
	q := &platformv1alpha1.TenantQuota{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: s.tenant.Name}, q)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return err
	}
	s.quota = q
	return nil
}

func (r *Reconciler) addFinalizer(ctx context.Context, tenant *platformv1alpha1.Tenant) error {
	patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(tenant, Finalizer)
	if err := r.Client.Patch(ctx, tenant, patch, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return err
	}
	return nil
}

// acceleratorPrefixes returns the configured accelerator prefixes.
func (r *Reconciler) acceleratorPrefixes() []string {
	if len(r.AcceleratorPrefixes) > 0 {
		return r.AcceleratorPrefixes
	}
	return naming.DefaultAcceleratorPrefixes
}

// event records an Event about the tenant (none without a recorder, nor for
// a Tenant that no longer exists).
func (r *Reconciler) event(s *scope, eventType, reason, action, format string, args ...any) {
	if r.Recorder != nil && s.tenant.UID != "" {
		r.Recorder.Eventf(s.tenant, nil, eventType, reason, action, format, args...)
	}
}

func (r *Reconciler) applier() apply.Applier {
	a := apply.Applier{Client: r.Client}
	if r.Observed != nil {
		a.Observed = r.Observed
	}
	return a
}
