package modeldeployment

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
)

// What the Deployment and HPA controllers report, as mirrored here.
const (
	// reasonFailedCreate is the ReplicaFailure reason the ReplicaSet
	// controller sets when it cannot create a pod; the Deployment controller
	// copies the newest ReplicaSet's failure onto the Deployment.
	reasonFailedCreate = "FailedCreate"
	// quotaRefusal is in the API server's message when quota admission
	// refused a pod.
	quotaRefusal = "exceeded quota"
)

// track is one Deployment of the model as observed.
type track struct {
	name    string
	version string
	// weight is the track's desired share of replicas, in percent.
	weight int32
	// deployment is nil when the cache does not hold it (yet).
	deployment *appsv1.Deployment
	// held is a promoted canary kept while the stable Deployment rolls its
	// version out: it counts as that version's replicas, not as a track.
	held bool
}

// observe reads back the Deployments and the HPA from the cache and records
// what they report in the status.
func (r *Reconciler) observe(ctx context.Context, s *scope) error {
	md := s.md
	stableWeight := int32(100)
	if cn := md.Spec.Canary; cn != nil {
		stableWeight -= cn.Weight
	}
	tracks := []track{{name: s.desired.stable.Name, version: md.Spec.Model.Version, weight: stableWeight}}
	if cn := md.Spec.Canary; cn != nil {
		tracks = append(tracks, track{name: s.desired.canary.Name, version: cn.Version, weight: cn.Weight})
	}
	if s.heldCanary != "" {
		tracks = append(tracks, track{name: s.heldCanary, version: md.Spec.Model.Version, held: true})
	}
	for i := range tracks {
		if d, ok := s.deployments[tracks[i].name]; ok {
			tracks[i].deployment = d
			continue
		}
		d := &appsv1.Deployment{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: md.Namespace, Name: tracks[i].name}, d)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil {
			tracks[i].deployment = d
		}
	}
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	if s.desired.autoscaler != nil {
		current := &autoscalingv2.HorizontalPodAutoscaler{}
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(s.desired.autoscaler), current)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil {
			hpa = current
		}
	}
	s.setStatus(tracks, hpa)
	return nil
}

// setStatus fills the status from the observed tracks and HPA.
func (s *scope) setStatus(tracks []track, hpa *autoscalingv2.HorizontalPodAutoscaler) {
	md := s.md
	st := &md.Status
	st.Selector = labels.SelectorFromSet(modelSelector(s.tenant, md.Name)).String()
	st.Endpoint = fmt.Sprintf("%s.%s.svc:%d", md.Name, md.Namespace, s.desired.port)
	st.Replicas, st.ReadyReplicas = 0, 0
	for _, t := range tracks {
		if d := t.deployment; d != nil {
			st.Replicas += d.Status.Replicas
			st.ReadyReplicas += d.Status.ReadyReplicas
		}
	}
	st.Versions = versions(tracks)
	setAvailable(md, tracks)
	s.refused = setQuotaExceeded(md, tracks)
	setScalingLimited(md, s.desired.autoscaler != nil, hpa)
	s.rollingOut = rolloutMessage(md, tracks)
	s.unsettled = ""
	for _, t := range tracks {
		if msg := deploymentProgress(t); msg != "" && !t.held {
			s.unsettled = msg
			break
		}
	}
}

// versions reports each running version with its replicas and its real share
// of them; while no replica runs, the desired weights.
func versions(tracks []track) []platformv1alpha1.VersionStatus {
	var out []platformv1alpha1.VersionStatus
	index := map[string]int{}
	var total int32
	for _, t := range tracks {
		i, ok := index[t.version]
		if !ok {
			i = len(out)
			index[t.version] = i
			out = append(out, platformv1alpha1.VersionStatus{Version: t.version, Weight: t.weight})
		}
		if d := t.deployment; d != nil {
			out[i].Replicas += d.Status.Replicas
			out[i].ReadyReplicas += d.Status.ReadyReplicas
			total += d.Status.Replicas
		}
	}
	if total == 0 {
		return out
	}
	// The real split, rounded; the last version takes the remainder so the
	// weights add up to 100.
	rest := int32(100)
	for i := range out {
		if i == len(out)-1 {
			out[i].Weight = rest
			break
		}
		out[i].Weight = (out[i].Replicas*100 + total/2) / total
		rest -= out[i].Weight
	}
	return out
}

// setAvailable mirrors the Deployments' Available condition: True when every
// track's Deployment reports it True.
func setAvailable(md *platformv1alpha1.ModelDeployment, tracks []track) {
	var names []string
	for _, t := range tracks {
		if t.held {
			continue
		}
		names = append(names, t.name)
		var c *appsv1.DeploymentCondition
		if t.deployment != nil {
			c = deploymentCondition(t.deployment, appsv1.DeploymentAvailable)
		}
		switch {
		case c == nil:
			conditions.False(md, platformv1alpha1.ModelConditionAvailable, platformv1alpha1.ModelReasonDeploymentUnavailable,
				fmt.Sprintf("Deployment %s has not reported availability yet", t.name))
			return
		case c.Status != corev1.ConditionTrue:
			conditions.False(md, platformv1alpha1.ModelConditionAvailable, platformv1alpha1.ModelReasonDeploymentUnavailable,
				fmt.Sprintf("Deployment %s is not available: %s", t.name, c.Message))
			return
		}
	}
	msg := fmt.Sprintf("Deployment %s is available", names[0])
	if len(names) > 1 {
		msg = fmt.Sprintf("Deployments %s are available", strings.Join(names, ", "))
	}
	conditions.True(md, platformv1alpha1.ModelConditionAvailable, platformv1alpha1.ModelReasonDeploymentsAvailable, msg)
}

// setQuotaExceeded reports a quota refusal of the model's pods, with the API
// server's message, from a Deployment's ReplicaFailure condition (which the
// Deployment controller copies from its newest ReplicaSet). Another refusal
// (an admission policy: an accelerator the tenant is not granted, say) is
// returned, for Ready to say why the replicas are missing.
func setQuotaExceeded(md *platformv1alpha1.ModelDeployment, tracks []track) (refused string) {
	for _, t := range tracks {
		if t.deployment == nil {
			continue
		}
		c := deploymentCondition(t.deployment, appsv1.DeploymentReplicaFailure)
		if c == nil || c.Status != corev1.ConditionTrue || c.Reason != reasonFailedCreate {
			continue
		}
		if strings.Contains(c.Message, quotaRefusal) {
			conditions.True(md, platformv1alpha1.ModelConditionQuotaExceeded, platformv1alpha1.ModelReasonQuotaExceeded, c.Message)
			return ""
		}
		if refused == "" {
			refused = c.Message
		}
	}
	conditions.False(md, platformv1alpha1.ModelConditionQuotaExceeded, platformv1alpha1.ModelReasonWithinQuota,
		"no replica of the model is refused by quota")
	return refused
}

// setScalingLimited mirrors the HPA's ScalingLimited condition only when the
// HPA wants more replicas than maxReplicas (TooManyReplicas): being held at
// minReplicas (TooFewReplicas) is an idle HPA's normal state. Without
// autoscaling the condition is absent.
func setScalingLimited(md *platformv1alpha1.ModelDeployment, autoscaled bool, hpa *autoscalingv2.HorizontalPodAutoscaler) {
	if !autoscaled {
		conditions.Remove(md, platformv1alpha1.ModelConditionScalingLimited)
		return
	}
	if hpa != nil {
		for _, c := range hpa.Status.Conditions {
			if c.Type == autoscalingv2.ScalingLimited && c.Status == corev1.ConditionTrue &&
				c.Reason == platformv1alpha1.ModelReasonTooManyReplicas {
				conditions.True(md, platformv1alpha1.ModelConditionScalingLimited, platformv1alpha1.ModelReasonTooManyReplicas, c.Message)
				return
			}
		}
	}
	conditions.False(md, platformv1alpha1.ModelConditionScalingLimited, platformv1alpha1.ModelReasonWithinRange,
		"the autoscaler is not held back by maxReplicas")
}

// rolloutMessage says why a rollout is in progress, or "" when none is: a
// promoted canary still held; a Deployment its controller has not caught up
// with, replicas not yet on the new version, old ones not yet gone, new ones
// not yet available; a canary running.
func rolloutMessage(md *platformv1alpha1.ModelDeployment, tracks []track) string {
	for _, t := range tracks {
		if t.held {
			return fmt.Sprintf("promoting version %s: Deployment %s is kept until Deployment %s runs it on every replica",
				t.version, t.name, md.Name)
		}
	}
	for _, t := range tracks {
		if msg := deploymentProgress(t); msg != "" {
			return msg
		}
	}
	if cn := md.Spec.Canary; cn != nil {
		return fmt.Sprintf("canary version %s runs at weight %d%%: set model.version to %s to promote it, or remove spec.canary to roll back",
			cn.Version, cn.Weight, cn.Version)
	}
	return ""
}

// deploymentProgress is the rollout state of one Deployment, as kubectl
// rollout status reads it.
func deploymentProgress(t track) string {
	d := t.deployment
	if d == nil {
		return fmt.Sprintf("Deployment %s is being created", t.name)
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return fmt.Sprintf("waiting for the Deployment controller to observe Deployment %s", t.name)
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("Deployment %s: %d of %d replicas run version %s", t.name, st.UpdatedReplicas, want, t.version)
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("Deployment %s: %d old replicas are pending termination", t.name, st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("Deployment %s: %d of %d updated replicas are available", t.name, st.AvailableReplicas, st.UpdatedReplicas)
	}
	return ""
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// readyMessage is Ready's message when the model serves.
func readyMessage(md *platformv1alpha1.ModelDeployment) string {
	return fmt.Sprintf("model %s version %s is available at %s", md.Spec.Model.Name, md.Spec.Model.Version, md.Status.Endpoint)
}

// summarize derives Ready, Reconciling and Stalled. Ready is True when every
// child is applied, the Deployments are Available and no replica is refused
// by quota; ScalingLimited never makes it False.
func summarize(s *scope, reconcileErr error) {
	md := s.md
	if s.completed {
		md.Status.ObservedGeneration = md.Generation
	}
	switch {
	case s.stall != nil:
		conditions.False(md, platformv1alpha1.ConditionReady, s.stall.reason, s.stall.message)
		conditions.MarkStalled(md, s.stall.reason, s.stall.message)
		return
	case reconcileErr != nil:
		conditions.False(md, platformv1alpha1.ConditionReady, platformv1alpha1.ReasonError, reconcileErr.Error())
		conditions.MarkReconciling(md, platformv1alpha1.ReasonError, "retrying after an error: "+reconcileErr.Error())
		return
	}
	available := conditions.Get(md, platformv1alpha1.ModelConditionAvailable)
	quota := conditions.Get(md, platformv1alpha1.ModelConditionQuotaExceeded)
	switch {
	case quota != nil && quota.Status == metav1.ConditionTrue:
		conditions.False(md, platformv1alpha1.ConditionReady, quota.Reason, quota.Message)
	case s.refused != "":
		conditions.False(md, platformv1alpha1.ConditionReady, platformv1alpha1.ModelReasonPodsRefused, s.refused)
	case available == nil:
		conditions.False(md, platformv1alpha1.ConditionReady, platformv1alpha1.ReasonProgressing, "availability has not been observed yet")
	case available.Status != metav1.ConditionTrue:
		conditions.False(md, platformv1alpha1.ConditionReady, available.Reason, available.Message)
	case s.unsettled != "":
		// Available only says enough replicas serve; Ready at this
		// generation also needs every Deployment to run its current
		// template on every desired replica.
		conditions.False(md, platformv1alpha1.ConditionReady, platformv1alpha1.ModelReasonRollingOut, s.unsettled)
	default:
		conditions.True(md, platformv1alpha1.ConditionReady, platformv1alpha1.ReasonReconciled, readyMessage(md))
	}
	switch ready := conditions.Get(md, platformv1alpha1.ConditionReady); {
	case s.rollingOut != "":
		conditions.MarkReconciling(md, platformv1alpha1.ModelReasonRollingOut, s.rollingOut)
	case ready.Status != metav1.ConditionTrue:
		conditions.MarkReconciling(md, ready.Reason, ready.Message)
	default:
		conditions.MarkSettled(md)
	}
}

// patchStatus writes the status once per reconcile, and only if it changed;
// it records an Event when Ready changes.
func (r *Reconciler) patchStatus(ctx context.Context, s *scope, reconcileErr error) error {
	md := s.md
	summarize(s, reconcileErr)
	if equality.Semantic.DeepEqual(*s.before, md.Status) {
		return nil
	}
	r.recordReadyTransition(s, r.written.Before(md, s.before.Conditions))
	r.written.Remember(md, md.Status.Conditions)
	original := md.DeepCopy()
	original.Status = *s.before
	if err := r.Client.Status().Patch(ctx, md, client.MergeFrom(original), client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// recordReadyTransition records an Event when Ready changes: Normal when it
// becomes True, Warning when it stops being True or turns to a reason a user
// must act on (a stall, a quota refusal). A ModelDeployment whose pods are
// still starting is no news. Transitions are from before, the conditions last
// written, so a pass reading a stale cache records nothing twice.
func (r *Reconciler) recordReadyTransition(s *scope, before []metav1.Condition) {
	if r.Recorder == nil {
		return
	}
	now := conditions.Get(s.md, platformv1alpha1.ConditionReady)
	var was metav1.Condition
	for _, c := range before {
		if c.Type == platformv1alpha1.ConditionReady {
			was = c
		}
	}
	if now == nil || (now.Status == was.Status && now.Reason == was.Reason) {
		return
	}
	if now.Status == metav1.ConditionTrue {
		r.Recorder.Eventf(s.md, nil, corev1.EventTypeNormal, platformv1alpha1.EventReasonReady, platformv1alpha1.EventActionReconcile, "%s", now.Message)
		return
	}
	if was.Status == metav1.ConditionTrue || s.stall != nil || now.Reason == platformv1alpha1.ModelReasonQuotaExceeded {
		r.Recorder.Eventf(s.md, nil, corev1.EventTypeWarning, now.Reason, platformv1alpha1.EventActionReconcile, "%s", now.Message)
	}
}
