package modeldeployment

import (
	"context"
	"errors"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// reconcileTenant finds the tenant the ModelDeployment serves: the one whose
// label its namespace carries. The operator serves tenants only; a
// ModelDeployment anywhere else is Stalled and gets no children. The
// namespace is read from the cache, which holds managed namespaces only: a
// namespace without the managed-by label is not a tenant namespace, whatever
// other labels it has.
func (r *Reconciler) reconcileTenant(ctx context.Context, s *scope) error {
	ns := &corev1.Namespace{}
	err := r.Client.Get(ctx, client.ObjectKey{Name: s.md.Namespace}, ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	tenant := ns.Labels[platformv1alpha1.TenantLabel]
	if err != nil || tenant == "" {
		s.stallf(platformv1alpha1.ModelReasonNotTenantNamespace,
			"namespace %s is not a tenant namespace (it lacks the %s and %s=%s labels the Tenant controller sets): ModelDeployments are served in tenant namespaces only",
			s.md.Namespace, platformv1alpha1.TenantLabel, platformv1alpha1.ManagedByLabel, platformv1alpha1.ManagedByValue)
		return nil
	}
	s.tenant = tenant
	t := &platformv1alpha1.Tenant{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: tenant}, t); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	s.scheduling = t.Spec.Scheduling
	return nil
}

// renderChildren renders the children; a spec that cannot be served stalls
// the ModelDeployment with reason InvalidSpec.
func (r *Reconciler) renderChildren(_ context.Context, s *scope) error {
	desired, err := renderFor(s.md, s.tenant, s.scheduling, r.AcceleratorPrefixes)
	var conflict *placementConflict
	if errors.As(err, &conflict) {
		s.stallTerminal(platformv1alpha1.ModelReasonPlacementConflict, err.Error())
		return nil
	}
	if err != nil {
		s.stallTerminal(platformv1alpha1.ReasonInvalidSpec, err.Error())
		return nil
	}
	if r.CostTeamLabel != "" {
		labelPods(desired, r.CostTeamLabel, s.tenant)
	}
	s.desired = desired
	return nil
}

// labelPods adds a label to the pod template of every Deployment. It is in
// no selector: setting it rolls the pods out once and changes nothing else.
func labelPods(c *children, key, value string) {
	for _, d := range []*appsv1.Deployment{c.stable, c.canary} {
		if d != nil {
			d.Spec.Template.Labels[key] = value
		}
	}
}
