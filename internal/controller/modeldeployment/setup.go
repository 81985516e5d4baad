package modeldeployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantai/tenantai/internal/apply"
)

// Setup registers the ModelDeployment controller with a manager. A non-empty
// costTeamLabel is also set to the tenant's name on the pod templates (see
// Reconciler.CostTeamLabel); acceleratorPrefixes override
// naming.DefaultAcceleratorPrefixes. The manager's cache must keep
// Deployments pruned by apply.PruneDeployment (manager.CacheOptions).
func Setup(mgr ctrl.Manager, maxConcurrent int, costTeamLabel string, acceleratorPrefixes []string) error {
	verified := &apply.Verified{Reader: mgr.GetAPIReader()}
	if err := forgetDeleted(mgr, verified); err != nil {
		return err
	}
	r := &Reconciler{
		Client:              mgr.GetClient(),
		APIReader:           mgr.GetAPIReader(),
		Recorder:            mgr.GetEventRecorder("tenantai-modeldeployment"),
		CostTeamLabel:       costTeamLabel,
		AcceleratorPrefixes: acceleratorPrefixes,
		Verified:            verified,
	}
	return r.SetupWithManager(mgr, maxConcurrent)
}

// forgetDeleted drops a Deployment from verified once it is deleted, so its
// memory does not outlive it.
func forgetDeleted(mgr ctrl.Manager, verified *apply.Verified) error {
	informer, err := mgr.GetCache().GetInformer(context.Background(), &appsv1.Deployment{})
	if err != nil {
		return fmt.Errorf("watching Deployments: %w", err)
	}
	_, err = informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if o, ok := obj.(client.Object); ok {
				verified.Forget(client.ObjectKeyFromObject(o))
			}
		},
	})
	return err
}
