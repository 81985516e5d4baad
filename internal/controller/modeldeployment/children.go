package modeldeployment

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/naming"
)

// modelDeploymentKind is the kind children's owner references and the HPA's
// scale target name.
const modelDeploymentKind = "ModelDeployment"

// children are the objects a ModelDeployment renders into, fully specified.
type children struct {
	serviceAccount *corev1.ServiceAccount
	stable         *appsv1.Deployment
	// canary is nil without spec.canary.
	canary  *appsv1.Deployment
	service *corev1.Service
	// autoscaler is nil without spec.autoscaling.
	autoscaler *autoscalingv2.HorizontalPodAutoscaler
	// disruptionBudget is nil when at most one pod can run.
	disruptionBudget *policyv1.PodDisruptionBudget
	// port is the serving port of the pods and the Service.
	port int32
}

// objects lists the children that exist in the desired state, in the order
// they are applied.
func (c *children) objects() []client.Object {
	objs := []client.Object{c.serviceAccount, c.stable}
	if c.canary != nil {
		objs = append(objs, c.canary)
	}
	objs = append(objs, c.service)
	if c.autoscaler != nil {
		objs = append(objs, c.autoscaler)
	}
	if c.disruptionBudget != nil {
		objs = append(objs, c.disruptionBudget)
	}
	return objs
}

// render computes every child of md in a tenant's namespace. A spec that
// cannot be rendered (an engine that cannot load the URI's scheme, a
// pvc:// path leaving its claim) is a *specError.
func render(md *platformv1alpha1.ModelDeployment, tenant string) (*children, error) {
	return renderFor(md, tenant, nil, nil)
}

// renderFor renders the children under the tenant's scheduling policy, which
// the pods' placement is merged with (a *placementConflict when they
// contradict it). acceleratorPrefixes (naming.DefaultAcceleratorPrefixes
// when nil) say which resources and taints are accelerators'.
func renderFor(md *platformv1alpha1.ModelDeployment, tenant string, sched *platformv1alpha1.TenantScheduling, acceleratorPrefixes []string) (*children, error) {
	rt := md.Spec.Runtime
	if acceleratorPrefixes == nil {
		acceleratorPrefixes = naming.DefaultAcceleratorPrefixes
	}
	pl, err := placement(md, sched, acceleratorPrefixes)
	if err != nil {
		return nil, err
	}
	if rt.Engine == platformv1alpha1.EngineCustom && (rt.Image == "" || rt.Port == nil) {
		return nil, invalidSpec("engine custom needs runtime.image and runtime.port")
	}
	stableSrc, err := resolveSource(rt.Engine, md.Spec.Model.Name, md.Spec.Model.Version, md.Spec.Model.URI, "model.uri")
	if err != nil {
		return nil, err
	}
	stableReplicas, canaryReplicas := splitReplicas(totalReplicas(md), md.Spec.Canary)
	port := servingPort(md)
	c := &children{
		serviceAccount:   desiredServiceAccount(md, tenant),
		stable:           desiredDeployment(md, tenant, platformv1alpha1.TrackStable, stableSrc, stableReplicas, pl),
		service:          desiredService(md, tenant, port),
		autoscaler:       desiredAutoscaler(md, tenant),
		disruptionBudget: desiredDisruptionBudget(md, tenant),
		port:             port,
	}
	if cn := md.Spec.Canary; cn != nil {
		canarySrc, err := resolveSource(rt.Engine, md.Spec.Model.Name, cn.Version, cn.URI, "canary.uri")
		if err != nil {
			return nil, err
		}
		c.canary = desiredDeployment(md, tenant, platformv1alpha1.TrackCanary, canarySrc, canaryReplicas, pl)
	}
	return c, nil
}

// childMeta is the metadata of every child: in the ModelDeployment's
// namespace, with the tenant, managed-by and model labels (never the
// ModelDeployment's own labels or annotations: Argo CD's tracking labels would
// make it prune them) and a controller owner reference, so that the garbage
// collector deletes the children with their ModelDeployment.
func childMeta(md *platformv1alpha1.ModelDeployment, tenant, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       md.Namespace,
		Labels:          naming.ModelLabels(tenant, md.Name),
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(md, platformv1alpha1.GroupVersion.WithKind(modelDeploymentKind))},
	}
}

// ensure applies a child unless the cache already holds it. The API server
// refusing it as invalid (a field the schema or an admission policy rejects,
// e.g. an env name from the spec) is a spec error: the ModelDeployment is
// Stalled with the API server's message, and rechecked now and then, since a
// policy's verdict can change without the spec doing so.
func (r *Reconciler) ensure(ctx context.Context, s *scope, desired client.Object) error {
	live, result, err := r.applier().Ensure(ctx, desired)
	if apierrors.IsInvalid(err) {
		s.stallf(platformv1alpha1.ReasonInvalidSpec, "%s", err.Error())
		s.requeue(recheckAfter)
		return nil
	}
	if err != nil {
		return err
	}
	if s.repaired(result) {
		r.recordDrift(s, desired)
	}
	if d, ok := live.(*appsv1.Deployment); ok {
		s.remember(d)
	}
	return nil
}

func (r *Reconciler) applier() apply.Applier {
	return apply.Applier{Client: r.Client, Verified: r.Verified}
}

// recordDrift emits an Event when a child had to be repaired although the
// ModelDeployment's generation was already reconciled: someone edited or
// deleted it (scaling a model Deployment directly is reverted this way: scale the
// ModelDeployment instead).
func (r *Reconciler) recordDrift(s *scope, obj client.Object) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(s.md, obj, corev1.EventTypeWarning, platformv1alpha1.EventReasonDriftRepaired, platformv1alpha1.EventActionRepair,
		"restored %s %s to its declared state", kindOf(obj), obj.GetName())
}

// claimChildren makes sure that no child name is taken by an object this
// ModelDeployment does not control: such an object is never taken over
// (server-side apply with forced ownership would silently do so), and the
// ModelDeployment is Stalled with reason ChildConflict naming it. Nothing is
// applied then.
func (r *Reconciler) claimChildren(ctx context.Context, s *scope) error {
	var conflicts []string
	for _, obj := range s.desired.objects() {
		free, err := r.ownedOrAbsent(ctx, s.md, obj)
		if err != nil {
			return err
		}
		if !free {
			conflicts = append(conflicts, kindOf(obj)+" "+obj.GetName())
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	s.stallf(platformv1alpha1.ModelReasonChildConflict,
		"%s already exists in namespace %s and is not owned by ModelDeployment %s; the operator never takes over an object it did not create: delete or rename it",
		strings.Join(conflicts, ", "), s.md.Namespace, s.md.Name)
	// A conflicting object without the managed-by label is outside the
	// cache: no watch event says when it goes.
	s.requeue(recheckAfter)
	return nil
}

// ownedOrAbsent reports whether the child's name is free for md: no object
// has it, or the object's controller is md. The cache holds managed objects
// only, so a miss there is confirmed with the API server.
func (r *Reconciler) ownedOrAbsent(ctx context.Context, md *platformv1alpha1.ModelDeployment, desired client.Object) (bool, error) {
	// A fresh object: decoding into a used one would keep its fields.
	current := reflect.New(reflect.TypeOf(desired).Elem()).Interface().(client.Object)
	key := client.ObjectKeyFromObject(desired)
	err := r.Client.Get(ctx, key, current)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, current)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("reading %s %s/%s: %w", kindOf(desired), key.Namespace, key.Name, err)
	}
	return metav1.IsControlledBy(current, md), nil
}

// childKinds are the kinds of children, for finding stale ones.
var childKinds = []func() client.ObjectList{
	func() client.ObjectList { return &appsv1.DeploymentList{} },
	func() client.ObjectList { return &autoscalingv2.HorizontalPodAutoscalerList{} },
	func() client.ObjectList { return &policyv1.PodDisruptionBudgetList{} },
	func() client.ObjectList { return &corev1.ServiceList{} },
	func() client.ObjectList { return &corev1.ServiceAccountList{} },
}

type childKey struct {
	kind reflect.Type
	name string
}

func keyOf(obj client.Object) childKey {
	return childKey{kind: reflect.TypeOf(obj), name: obj.GetName()}
}

// deleteStaleChildren deletes the children no longer wanted: a canary
// Deployment after a rollback or a completed promotion, the HPA once
// autoscaling is removed, the PodDisruptionBudget once at most one pod can
// run. It lists managed objects carrying the model label from the cache and
// deletes only those this ModelDeployment controls (by UID, so a successor
// with the same name is never hit).
func (r *Reconciler) deleteStaleChildren(ctx context.Context, s *scope) error {
	keep := map[childKey]bool{}
	for _, obj := range s.desired.objects() {
		keep[keyOf(obj)] = true
	}
	if s.heldCanary != "" {
		keep[childKey{kind: reflect.TypeOf(&appsv1.Deployment{}), name: s.heldCanary}] = true
	}
	var errs []error
	for _, newList := range childKinds {
		list := newList()
		if err := r.Client.List(ctx, list, client.InNamespace(s.md.Namespace),
			client.MatchingLabels{platformv1alpha1.ModelLabel: s.md.Name}); err != nil {
			return err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, item := range items {
			obj := item.(client.Object)
			if keep[keyOf(obj)] || !metav1.IsControlledBy(obj, s.md) {
				continue
			}
			err := r.Client.Delete(ctx, obj, client.Preconditions{UID: ptr.To(obj.GetUID())})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", kindOf(obj), obj.GetNamespace(), obj.GetName(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// kindOf names a child's kind for messages.
func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *appsv1.Deployment:
		return "Deployment"
	case *corev1.Service:
		return "Service"
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	case *autoscalingv2.HorizontalPodAutoscaler:
		return "HorizontalPodAutoscaler"
	case *policyv1.PodDisruptionBudget:
		return "PodDisruptionBudget"
	default:
		return reflect.TypeOf(obj).Elem().Name()
	}
}
