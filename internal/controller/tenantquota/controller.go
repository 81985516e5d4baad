// Package tenantquota reconciles a TenantQuota into one native ResourceQuota
// per tenant namespace, whose enforced sum never exceeds the tenant's total:
// quota admission in the API server does the enforcing, the operator only
// moves headroom between namespaces, shrinking before it grows.
package tenantquota

import (
	"context"
	"errors"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/events"
	"github.com/tenantai/tenantai/internal/metrics"
	"github.com/tenantai/tenantai/internal/observed"
	"github.com/tenantai/tenantai/internal/predicates"
	"github.com/tenantai/tenantai/internal/priority"
)

// Finalizer lets the operator remove the tenant's ResourceQuotas when its
// TenantQuota is deleted.
const Finalizer = "platform.tenantai.io/quota-cleanup"

// enforcementRecheck is how soon a reconcile waiting for kube-controller-manager
// to enforce a shrunk quota looks again, should no watch event arrive first.
const enforcementRecheck = 2 * time.Second

// uncountedRecheck is how often a quota waits for kube-controller-manager to
// start counting a newly installed kind (its status changes wake us too).
const uncountedRecheck = 5 * time.Second

// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenantquotas,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenantquotas/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenantquotas/finalizers,verbs=update
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=modeldeployments,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=resourcequotas,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch

// Reconciler reconciles TenantQuotas.
type Reconciler struct {
	// Client reads from the label-restricted cache and writes to the API server.
	Client client.Client
	// APIReader reads the tenant's ResourceQuotas from the API server before
	// any of them is written (see freshen).
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// written remembers the conditions last written per TenantQuota, so that
	// a pass reading a stale cache records no transition twice.
	written events.Written
	// progress spaces out in-progress status writes (coalesce.go).
	progress progressWrites
	// shrinks remembers recent shrinks, for the settling wait.
	shrinks shrinkLog
}

// Setup registers the TenantQuota controller with a manager.
// guardrails observes the RoleBindings (see internal/observed).
func Setup(mgr ctrl.Manager, maxConcurrent int, guardrails *observed.Store) error {
	r := &Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("tenantai-tenantquota")}
	return r.SetupWithManager(mgr, maxConcurrent, guardrails)
}

// SetupWithManager watches the TenantQuota, its Tenant, the tenant's
// namespaces and ResourceQuotas (status included: use drives the split), and
// ModelDeployments (demand).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int, guardrails *observed.Store) error {
	// A changed or deleted ResourceQuota, namespace or binding is queued
	// ahead of new TenantQuotas (package priority).
	byTenant := priority.RepairFirst(handler.EnqueueRequestsFromMapFunc(mapByTenantLabel))
	return ctrl.NewControllerManagedBy(mgr).
		Named("tenantquota").
		For(&platformv1alpha1.TenantQuota{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&platformv1alpha1.Tenant{}, handler.EnqueueRequestsFromMapFunc(mapTenant)).
		Watches(&corev1.Namespace{}, byTenant).
		Watches(&corev1.ResourceQuota{}, byTenant).
		Watches(&platformv1alpha1.ModelDeployment{}, handler.EnqueueRequestsFromMapFunc(r.mapByNamespace)).
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(r.mapByNamespace), builder.WithPredicates(jobDemandChanged{})).
		// A TenantQuota being deleted under quotaPolicy Required waits for
		// the tenant's RoleBindings to go before its quotas do.
		WatchesRawSource(guardrails.Source(&rbacv1.RoleBinding{}, byTenant, predicates.DeletionOnly{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Complete(r)
}

// A TenantQuota is named after its tenant (CEL enforces it), so every mapping
// is a name.
func mapTenant(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetName()}}}
}

func mapByTenantLabel(_ context.Context, obj client.Object) []reconcile.Request {
	if name := obj.GetLabels()[platformv1alpha1.TenantLabel]; name != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
	}
	return nil
}

// mapByNamespace maps an object in a tenant namespace (a ModelDeployment, a
// Job: demand) to its tenant's TenantQuota, through the namespace's label.
func (r *Reconciler) mapByNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns); err != nil {
		return nil
	}
	return mapByTenantLabel(ctx, ns)
}

// Reconcile brings a tenant's ResourceQuotas to the split of its TenantQuota.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	tq := &platformv1alpha1.TenantQuota{}
	if err := r.Client.Get(ctx, req.NamespacedName, tq); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Forget(req.NamespacedName)
			r.progress.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	s := newScope(tq)
	defer func() {
		retErr = errors.Join(retErr, r.patchStatus(ctx, s, retErr))
		if retErr == nil {
			result = ctrl.Result{RequeueAfter: s.requeueAfter}
		}
		metrics.ObserveReconcile(metrics.KindTenantQuota, tq, retErr)
	}()
	if !tq.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, s)
	}
	if !controllerutil.ContainsFinalizer(tq, Finalizer) {
		patch := client.MergeFromWithOptions(tq.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(tq, Finalizer)
		if err := r.Client.Patch(ctx, tq, patch); err != nil {
			return ctrl.Result{}, err
		}
	}
	for _, p := range []func(context.Context, *scope) (bool, error){
		r.loadTenant, r.loadNamespaces, r.computeTargets, r.freshen, r.applyTargets, r.applyReservation,
	} {
		proceed, err := p(ctx, s)
		if errors.Is(err, errStalled) {
			return ctrl.Result{}, nil
		}
		if err != nil || !proceed {
			return ctrl.Result{}, err
		}
	}
	s.completed = true
	return ctrl.Result{}, nil
}

func (r *Reconciler) applier() apply.Applier { return apply.Applier{Client: r.Client} }
