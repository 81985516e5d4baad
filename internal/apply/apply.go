// Package apply writes the objects the operator owns with server-side apply:
// one field manager, forced ownership, only the fields the operator sets.
//
// # Change detection
//
// Ensure sends nothing when the cached object already holds what the operator
// wants, so that a reconcile of an unchanged object makes zero writes (a
// no-op apply still costs a request and an audit-log entry). "Already holds"
// has two halves, and both are checked:
//
//  1. The operator's intent has not changed. Every apply stamps the
//     annotation platform.tenantai.io/applied with a hash of the apply body
//     (labels, annotations, owner references and payload). A different hash
//     means the desired object changed since the last apply, including a
//     field the operator set then and no longer sets, which no comparison of
//     "desired against current" can see. The object is applied, and
//     server-side apply removes the fields the operator's field manager owned
//     and no longer sends.
//  2. Nobody edited what the operator owns. The hash is the operator's word
//     about its last write, not about the object now (anyone who can edit
//     the payload can leave the annotation alone), so the payload is compared
//     too: exactly for guardrails and the published policy (Matches), and as
//     containment for workloads, whose fields the API server defaults.
//
// Server-side apply never removes a field another manager added, so an
// exactly compared object that still differs after the apply (say, a key
// added to the policy ConfigMap by hand) is replaced with an Update carrying
// the resourceVersion the apply returned.
//
// What the cache must keep for this: labels, annotations (the hash), owner
// references and, per kind, the payload Matches compares (the spec of
// NetworkPolicies, LimitRanges and ResourceQuotas; RoleBinding subjects and
// roleRef; Secret type and data; ConfigMap data; a ServiceAccount's
// automountServiceAccountToken; the spec of workloads). managedFields are not
// read and may be stripped.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// AppliedAnnotation holds the hash of the body the operator last applied to
// an object (see the package comment).
const AppliedAnnotation = "platform.tenantai.io/applied"

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

// Ensure makes the cluster hold desired (see the package comment). It returns
// the object as it is now: the cached one when nothing was sent, else the
// API server's answer, so that a caller reading status (a Deployment's
// observedGeneration) sees its own write.
func (a Applier) Ensure(ctx context.Context, desired client.Object) (client.Object, Result, error) {
	current, err := a.newObject(desired)
	if err != nil {
		return nil, Unchanged, err
	}
	switch err := a.Client.Get(ctx, client.ObjectKeyFromObject(desired), current); {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return nil, Unchanged, fmt.Errorf("reading %s: %w", describe(desired), err)
	}
	return a.EnsureAgainst(ctx, desired, current)
}

// EnsureAgainst is Ensure with the current object given by the caller (nil
// when it does not exist): for decisions that must rest on the object as the
// API server has it, not on a cache that may not have seen the caller's own
// last write.
func (a Applier) EnsureAgainst(ctx context.Context, desired, current client.Object) (client.Object, Result, error) {
	stamped, err := a.Stamp(desired)
	if err != nil {
		return nil, Unchanged, err
	}
	result := Updated
	switch {
	case current == nil:
		result = Created
	case Matches(current, stamped):
		return current, Unchanged, nil
	}
	live, err := a.apply(ctx, stamped)
	if err != nil {
		return nil, Unchanged, err
	}
	if result == Updated && comparedExactly(stamped) && !Matches(live, stamped) {
		// Another manager owns a field the operator does not set (apply leaves
		// it alone): replace the object.
		if live, err = a.replace(ctx, live, stamped); err != nil {
			return nil, Unchanged, err
		}
	}
	return live, result, nil
}

// Stamp returns a copy of desired carrying the hash of its apply body in
// AppliedAnnotation.
func (a Applier) Stamp(desired client.Object) (client.Object, error) {
	body, err := a.toUnstructured(desired)
	if err != nil {
		return nil, err
	}
	unstructured.RemoveNestedField(body.Object, "metadata", "annotations", AppliedAnnotation)
	raw, err := json.Marshal(body.Object) // map keys are sorted: the hash is stable
	if err != nil {
		return nil, fmt.Errorf("hashing %s: %w", describe(desired), err)
	}
	sum := sha256.Sum256(raw)
	stamped := desired.DeepCopyObject().(client.Object)
	annotations := maps.Clone(stamped.GetAnnotations())
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AppliedAnnotation] = hex.EncodeToString(sum[:16])
	stamped.SetAnnotations(annotations)
	return stamped, nil
}

// Apply server-side applies desired with the operator's field manager, taking
// ownership of its fields from any other manager. It does not stamp the hash:
// use it for objects Ensure does not manage.
func (a Applier) Apply(ctx context.Context, desired client.Object) error {
	_, err := a.apply(ctx, desired)
	return err
}

func (a Applier) apply(ctx context.Context, desired client.Object) (client.Object, error) {
	u, err := a.toUnstructured(desired)
	if err != nil {
		return nil, err
	}
	err = a.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(platformv1alpha1.FieldManager), client.ForceOwnership)
	if err != nil {
		return nil, fmt.Errorf("applying %s: %w", describe(desired), err)
	}
	live, err := a.newObject(desired)
	if err != nil {
		return nil, err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, live); err != nil {
		return nil, fmt.Errorf("decoding the applied %s: %w", describe(desired), err)
	}
	return live, nil
}

// replace writes desired over live with an Update: desired's payload, labels
// and annotations merged into live's metadata, at live's resourceVersion (a
// concurrent change makes it conflict and the reconcile retry).
func (a Applier) replace(ctx context.Context, live, desired client.Object) (client.Object, error) {
	next := desired.DeepCopyObject().(client.Object)
	next.SetResourceVersion(live.GetResourceVersion())
	next.SetUID(live.GetUID())
	labels := maps.Clone(live.GetLabels())
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, desired.GetLabels())
	next.SetLabels(labels)
	annotations := maps.Clone(live.GetAnnotations())
	if annotations == nil {
		annotations = map[string]string{}
	}
	maps.Copy(annotations, desired.GetAnnotations())
	next.SetAnnotations(annotations)
	if len(desired.GetOwnerReferences()) == 0 {
		next.SetOwnerReferences(live.GetOwnerReferences())
	}
	if err := a.Client.Update(ctx, next, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return nil, fmt.Errorf("replacing %s: %w", describe(desired), err)
	}
	return next, nil
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
