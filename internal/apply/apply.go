// Package apply writes the objects the operator owns with server-side apply:
// one field manager, forced ownership, only the fields the operator sets. It
// compares the desired object with the cached one first and sends nothing when
// they already agree, so a reconcile of an unchanged object makes zero writes.
package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Result says what Ensure did.
type Result int

const (
	// Unchanged means the cached object already held the desired state; no request.
	Unchanged Result = iota
	// Created means the object did not exist and was applied.
	Created
	// Updated means the object differed (drift or a spec change) and was applied.
	Updated
)

func (r Result) String() string {
	return [...]string{"Unchanged", "Created", "Updated"}[r]
}

// Applier applies desired objects through a (cached) client.
type Applier struct {
	Client client.Client
}

// Ensure makes the cluster hold desired: it reads the object from the cache,
// and applies desired only when the object is missing or differs in a field
// the operator owns (see Matches).
func (a Applier) Ensure(ctx context.Context, desired client.Object) (Result, error) {
	current, err := a.newObject(desired)
	if err != nil {
		return Unchanged, err
	}
	result := Updated
	switch err := a.Client.Get(ctx, client.ObjectKeyFromObject(desired), current); {
	case apierrors.IsNotFound(err):
		result = Created
	case err != nil:
		return Unchanged, fmt.Errorf("reading %s: %w", describe(desired), err)
	case Matches(current, desired):
		return Unchanged, nil
	}
	if err := a.Apply(ctx, desired); err != nil {
		return Unchanged, err
	}
	return result, nil
}

// Apply server-side applies desired with the operator's field manager, taking
// ownership of its fields from any other manager.
func (a Applier) Apply(ctx context.Context, desired client.Object) error {
	u, err := a.toUnstructured(desired)
	if err != nil {
		return err
	}
	err = a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(platformv1alpha1.FieldManager), client.ForceOwnership)
	if err != nil {
		return fmt.Errorf("applying %s: %w", describe(desired), err)
	}
	return nil
}

func (a Applier) newObject(desired client.Object) (client.Object, error) {
	gvk, err := apiutil.GVKForObject(desired, a.Client.Scheme())
	if err != nil {
		return nil, err
	}
	obj, err := a.Client.Scheme().New(gvk)
	if err != nil {
		return nil, err
	}
	return obj.(client.Object), nil
}

// toUnstructured renders desired as an apply request body: with its GVK, and
// without the empty status and creationTimestamp a typed object serializes.
func (a Applier) toUnstructured(desired client.Object) (*unstructured.Unstructured, error) {
	gvk, err := apiutil.GVKForObject(desired, a.Client.Scheme())
	if err != nil {
		return nil, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
	return u, nil
}

func describe(obj client.Object) string {
	kind := fmt.Sprintf("%T", obj)
	if ns := obj.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", kind, ns, obj.GetName())
	}
	return fmt.Sprintf("%s %s", kind, obj.GetName())
}
