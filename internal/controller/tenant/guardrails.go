package tenant

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Reads of guardrails. The operator observes its guardrails by fingerprint
// (internal/observed) rather than caching them: existence and "does it hold
// what we want" come from the store, and the few reads that need a payload
// go to the API server. Without a store (unit tests) they read Client.

// guardrailExists reports whether the guardrail of obj's kind, namespace and
// name exists.
func (r *Reconciler) guardrailExists(ctx context.Context, obj client.Object) (bool, error) {
	if r.Observed.Observes(obj) {
		return r.Observed.Has(obj), nil
	}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// readGuardrail reads the guardrail of obj's kind, namespace and name into
// obj, payload included: from the API server for an observed kind. A
// guardrail the store does not know is NotFound without a request.
func (r *Reconciler) readGuardrail(ctx context.Context, obj client.Object) error {
	key := client.ObjectKeyFromObject(obj)
	if !r.Observed.Observes(obj) {
		return r.Client.Get(ctx, key, obj)
	}
	if !r.Observed.Has(obj) {
		return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", obj)}, key.String())
	}
	return r.APIReader.Get(ctx, key, obj)
}

// guardrailNames lists the names of the tenant's guardrails of one kind in
// a namespace (obj is an empty object of the kind, list its list type).
func (r *Reconciler) guardrailNames(ctx context.Context, obj client.Object, list client.ObjectList, namespace, tenant string) ([]string, error) {
	obj.SetNamespace(namespace)
	if r.Observed.Observes(obj) {
		var names []string
		for _, e := range r.Observed.List(obj, namespace) {
			if e.Tenant == tenant {
				names = append(names, e.Name)
			}
		}
		return names, nil
	}
	if err := r.Client.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{platformv1alpha1.TenantLabel: tenant}); err != nil {
		return nil, fmt.Errorf("listing %T: %w", list, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(items))
	for _, item := range items {
		names = append(names, item.(client.Object).GetName())
	}
	return names, nil
}
