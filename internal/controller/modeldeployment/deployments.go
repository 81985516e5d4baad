package modeldeployment

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
)

// progressMargin is added to a preset's startup budget for the Deployment's
// progress deadline, so that a model still loading is not reported as a
// stalled rollout.
const progressMargin = 10 * time.Minute

// trackName is the Deployment of a track: the stable one is named like the
// ModelDeployment, the canary "<name>-canary".
func trackName(md *platformv1alpha1.ModelDeployment, track string) string {
	if track == platformv1alpha1.TrackCanary {
		return naming.ModelCanaryDeployment(md.Name)
	}
	return md.Name
}

// desiredDeployment renders the Deployment of one track with the replicas the
// operator computed from spec.replicas (see splitReplicas). The operator is
// the only writer of a model Deployment's replicas; a scale of the Deployment
// itself is reverted like any other drift (scale the ModelDeployment).
func desiredDeployment(md *platformv1alpha1.ModelDeployment, tenant, track string, src modelSource, replicas int32, pl podPlacement) *appsv1.Deployment {
	p := presets[md.Spec.Runtime.Engine]
	return &appsv1.Deployment{
		ObjectMeta: childMeta(md, tenant, trackName(md, track)),
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To(replicas),
			Selector:                &metav1.LabelSelector{MatchLabels: trackSelector(tenant, md.Name, track)},
			Template:                podTemplate(md, tenant, track, src, pl),
			ProgressDeadlineSeconds: ptr.To(int32((p.startup + progressMargin) / time.Second)),
		},
	}
}

// reconcileDeployments applies the stable Deployment and, while spec.canary
// is set, the canary one. A canary Deployment left without spec.canary is
// either rolled back (deleted by deleteStaleChildren) or, when its version was
// just promoted, kept until the stable Deployment serves that version.
func (r *Reconciler) reconcileDeployments(ctx context.Context, s *scope) error {
	if err := r.ensure(ctx, s, s.desired.stable); err != nil || s.stall != nil {
		return err
	}
	if s.desired.canary != nil {
		return r.ensure(ctx, s, s.desired.canary)
	}
	return r.holdPromotedCanary(ctx, s)
}

// holdPromotedCanary keeps the canary Deployment of a promoted version (the
// user set model.version to the canary's version and removed spec.canary)
// until the stable Deployment has rolled that version out to all its replicas
// and they are available, so that a promotion never drops serving capacity.
// A canary Deployment running another version is a rollback and goes at once.
func (r *Reconciler) holdPromotedCanary(ctx context.Context, s *scope) error {
	md := s.md
	canary := &appsv1.Deployment{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: md.Namespace, Name: naming.ModelCanaryDeployment(md.Name)}, canary)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(canary, md) || canary.Spec.Template.Labels[platformv1alpha1.VersionLabel] != md.Spec.Model.Version {
		return nil
	}
	stable := &appsv1.Deployment{}
	err = r.Client.Get(ctx, client.ObjectKeyFromObject(s.desired.stable), stable)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err == nil && rolledOut(stable, md.Spec.Model.Version) {
		return nil
	}
	s.heldCanary = canary.Name
	return nil
}

// rolledOut reports whether a Deployment runs version on all its replicas,
// available, as its controller last observed it.
func rolledOut(d *appsv1.Deployment, version string) bool {
	if d.Spec.Template.Labels[platformv1alpha1.VersionLabel] != version {
		return false // the cache has not seen the new template yet
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	st := d.Status
	return st.ObservedGeneration >= d.Generation &&
		st.UpdatedReplicas >= want && st.Replicas == st.UpdatedReplicas && st.AvailableReplicas >= want
}
