// Package modeldeployment reconciles a ModelDeployment into the workload that
// serves its model in a tenant namespace: a ServiceAccount, a Deployment per
// version (stable and canary), a Service, an HPA scaling the ModelDeployment
// through /scale, and a PodDisruptionBudget; and it reports what they do in a
// kstatus-compliant status.
package modeldeployment

import (
	"context"
	"errors"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/events"
	"github.com/tenantai/tenantai/internal/metrics"
	"github.com/tenantai/tenantai/internal/predicates"
)

// recheckAfter is how often a stall that the cluster (not the spec) may
// resolve is rechecked: a conflicting object is usually outside the cache,
// and an admission policy's parameters are not watched, so no event says when
// they change.
const recheckAfter = 3 * time.Minute

// The operator reads ModelDeployments and writes only their status: it never
// writes spec.replicas (the user's or the HPA's field), and RBAC holds it to
// that. finalizers/update lets children carry blockOwnerDeletion where the
// OwnerReferencesPermissionEnforcement admission plugin is enabled.
//
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=tenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=modeldeployments,verbs=get;list;watch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=modeldeployments/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=platform.tenantai.io,resources=modeldeployments/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts;services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete

// Reconciler reconciles ModelDeployments. It holds dependencies only; what
// one reconcile shares between its phases lives in a scope.
type Reconciler struct {
	// Client reads from the label-restricted cache and writes to the API server.
	Client client.Client
	// APIReader reads from the API server: an object that takes a child's
	// name without the managed-by label is invisible to the cache.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// CostTeamLabel, when set, is a further label key set to the tenant's
	// name on the pod templates, for cost tools that aggregate pods by a team
	// label (OpenCost's "team"); the tenant label itself is always set.
	CostTeamLabel string
	// AcceleratorPrefixes are the resource-name prefixes of accelerators
	// (naming.DefaultAcceleratorPrefixes when nil): a model that requests
	// none is never given a toleration of an accelerator taint.
	AcceleratorPrefixes []string
	// Verified compares Deployments, which the cache keeps without their pod
	// template (apply.PruneDeployment), by generation; nil when the cache
	// keeps them whole.
	Verified *apply.Verified
	// written remembers the conditions last written per ModelDeployment, so
	// that a pass reading a stale cache records no transition twice.
	written events.Written
	// phases are run in order; see phases.go.
	phases []phase
}

// phase is one step of a reconcile. A failing phase stops the reconcile; so
// does a stall (see scope.stall).
type phase func(ctx context.Context, s *scope) error

// SetupWithManager registers the controller and its watches: the
// ModelDeployment's spec and annotations (not its status, which only the
// operator writes), every event of its Deployments and HPA (their status is
// what the ModelDeployment's status mirrors), changes to its other children
// (drift), and namespaces (a namespace becoming a tenant namespace unstalls
// the ModelDeployments in it).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	r.phases = r.orderedPhases()
	return ctrl.NewControllerManagedBy(mgr).
		Named("modeldeployment").
		For(&platformv1alpha1.ModelDeployment{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{},
			predicates.DeletionStarted{}))).
		Owns(&appsv1.Deployment{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&policyv1.PodDisruptionBudget{}, builder.WithPredicates(specOrMetadataChanged{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.mapNamespace),
			builder.WithPredicates(predicates.LabelsChanged{})).
		// The tenant's scheduling policy is merged into the pods' placement.
		Watches(&platformv1alpha1.Tenant{}, handler.EnqueueRequestsFromMapFunc(r.mapTenant),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Complete(r)
}

// mapNamespace enqueues every ModelDeployment of a namespace (from the cache).
func (r *Reconciler) mapNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	list := &platformv1alpha1.ModelDeploymentList{}
	if err := r.Client.List(ctx, list, client.InNamespace(ns.GetName())); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing ModelDeployments of a namespace", "namespace", ns.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, md := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&md)})
	}
	return reqs
}

// mapTenant enqueues every ModelDeployment in a tenant's namespaces.
func (r *Reconciler) mapTenant(ctx context.Context, tenant client.Object) []reconcile.Request {
	namespaces := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, namespaces, client.MatchingLabels{platformv1alpha1.TenantLabel: tenant.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing a tenant's namespaces", "tenant", tenant.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range namespaces.Items {
		reqs = append(reqs, r.mapNamespace(ctx, &namespaces.Items[i])...)
	}
	return reqs
}

// Reconcile brings one ModelDeployment's children to the declared state and
// reports their state in its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	md := &platformv1alpha1.ModelDeployment{}
	if err := r.Client.Get(ctx, req.NamespacedName, md); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !md.DeletionTimestamp.IsZero() {
		// The garbage collector deletes the children (owner references); a
		// child applied now would race it, e.g. in a foreground deletion.
		return ctrl.Result{}, nil
	}
	s := newScope(md)
	defer func() {
		retErr = errors.Join(retErr, r.patchStatus(ctx, s, retErr))
		result = s.result(retErr)
		metrics.ObserveReconcile(metrics.KindModelDeployment, md, retErr)
	}()

	for _, p := range r.phases {
		if err := p(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		if s.stall != nil {
			break
		}
	}
	s.completed = true
	if s.stall != nil && s.stall.terminal {
		return ctrl.Result{}, reconcile.TerminalError(errors.New(s.stall.message))
	}
	return ctrl.Result{}, nil
}

// specOrMetadataChanged passes creations, deletions and updates that change
// the spec (generation), labels, annotations or owner references: the parts
// of a child the operator owns. A PodDisruptionBudget's status, which changes
// with every pod, is not the ModelDeployment's business.
type specOrMetadataChanged struct{ predicate.Funcs }

func (specOrMetadataChanged) Update(e event.UpdateEvent) bool {
	o, n := e.ObjectOld, e.ObjectNew
	return o.GetGeneration() != n.GetGeneration() ||
		!equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) ||
		!equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(o.GetOwnerReferences(), n.GetOwnerReferences())
}
