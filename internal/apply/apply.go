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
// object that still differs after the apply is overwritten at the
// resourceVersion the apply returned: an exactly compared one (say, with a
// key added to the policy ConfigMap by hand) is replaced with an Update; a
// workload (say, with a sidecar container added by hand) gets its spec as a
// JSON merge patch, which replaces lists whole and leaves map keys others
// set (an HPA's replicas) alone.
//
// What the cache must keep for this: labels, annotations (the hash), owner
// references and, per kind, the payload Matches compares (the spec of
// NetworkPolicies, LimitRanges and ResourceQuotas; RoleBinding subjects and
// roleRef; Secret type and data; ConfigMap data; a ServiceAccount's
// automountServiceAccountToken; the spec of workloads). managedFields are not
// read and may be stripped.
//
// # Observed kinds
//
// Guardrails need not be cached at all. With Applier.Observed set, a kind
// the Observer observes is compared by Fingerprint: a hash of its owned
// labels and annotations and of the payload Matches compares, computed by
// the observer from every watch event's live object and by Ensure from the
// desired one. Equal fingerprints mean the live object holds exactly what
// the operator wants, so the same two halves are checked (the applied hash
// is an owned annotation) without keeping the object. Because owned keys
// are compared exactly, a guardrail carries only owned keys and no owner
// references (checkOwnedKeys), and an owned key the operator did not set is
// removed like any other drift.
//
// # Pruned kinds
//
// Deployments are cached without their pod template (PruneDeployment) and
// compared through Verified: the generation and applied hash at which the
// operator last saw the live spec hold what it wants. The API server raises
// the generation on every spec change, so another generation means "read
// the whole object from the API server and compare it", and the same
// generation means nothing changed.
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
	"k8s.io/apimachinery/pkg/types"
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
	// Observed, when set, answers for the kinds it observes (guardrails)
	// with fingerprints of the live objects instead of cached objects.
	Observed Observer
	// Verified, when set, compares the kinds whose cache keeps no payload
	// (Deployments without their pod template) by generation.
	Verified *Verified
}

// Observer knows the fingerprint of every live object of the kinds it
// observes, in place of a cache of those objects (internal/observed).
type Observer interface {
	// Observes reports whether obj's kind is observed.
	Observes(obj client.Object) bool
	// Fingerprint returns the fingerprint of the live object of obj's kind,
	// namespace and name; false when there is none.
	Fingerprint(obj client.Object) (Fingerprint, bool)
}

// Ensure makes the cluster hold desired (see the package comment). It returns
// the object as it is now: the cached one when nothing was sent, else the
// API server's answer, so that a caller reading status (a Deployment's
// observedGeneration) sees its own write.
//
// For an observed kind the object returned when nothing was sent is desired
// as stamped: it equals the live object in everything the operator owns.
func (a Applier) Ensure(ctx context.Context, desired client.Object) (client.Object, Result, error) {
	if a.Observed != nil && a.Observed.Observes(desired) {
		return a.ensureObserved(ctx, desired)
	}
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
	if a.Verified.Prunes(stamped) {
		return a.ensureVerified(ctx, stamped, current)
	}
	result := Updated
	switch {
	case current == nil:
		result = Created
	case Matches(current, stamped):
		return current, Unchanged, nil
	}
	live, err := a.write(ctx, stamped, result)
	if err != nil {
		return nil, Unchanged, err
	}
	return live, result, nil
}

// write applies stamped and, when it updated an existing object, overwrites
// what the apply left behind; it returns the object as the API server has
// it now.
func (a Applier) write(ctx context.Context, stamped client.Object, result Result) (client.Object, error) {
	live, err := a.apply(ctx, stamped)
	if err != nil || result != Updated {
		return live, err
	}
	return a.overwriteLeftovers(ctx, live, stamped)
}

// overwriteLeftovers deals with what an apply cannot remove: fields and
// list elements that another manager owns (apply leaves them alone). An
// object compared exactly is replaced; a workload gets its spec as a JSON
// merge patch, which replaces lists whole (a container, volume or argument
// someone added goes) and merges maps (what other controllers set outside
// the operator's spec, such as an HPA's replicas, stays).
func (a Applier) overwriteLeftovers(ctx context.Context, live, stamped client.Object) (client.Object, error) {
	if Matches(live, stamped) {
		return live, nil
	}
	if comparedExactly(stamped) {
		return a.replace(ctx, live, stamped, false)
	}
	return a.overwriteSpec(ctx, live, stamped)
}

// overwriteSpec sends desired's spec as a JSON merge patch at live's
// resourceVersion (a concurrent change makes it conflict and the reconcile
// retry). Null values are left out: in a merge patch they delete.
func (a Applier) overwriteSpec(ctx context.Context, live, desired client.Object) (client.Object, error) {
	u, err := a.toUnstructured(desired)
	if err != nil {
		return nil, err
	}
	spec, ok := u.Object["spec"]
	if !ok {
		return live, nil
	}
	raw, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": live.GetResourceVersion()},
		"spec":     dropNulls(spec),
	})
	if err != nil {
		return nil, fmt.Errorf("overwriting %s: %w", describe(desired), err)
	}
	next := live.DeepCopyObject().(client.Object)
	if err := a.Client.Patch(ctx, next, client.RawPatch(types.MergePatchType, raw), client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return nil, fmt.Errorf("overwriting %s: %w", describe(desired), err)
	}
	return next, nil
}

func dropNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if e != nil {
				out[k] = dropNulls(e)
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			out = append(out, dropNulls(e))
		}
		return out
	}
	return v
}

// Holds reports whether the live object already holds desired, that is
// whether Ensure would leave it alone, without writing anything.
func (a Applier) Holds(ctx context.Context, desired client.Object) (bool, error) {
	stamped, err := a.Stamp(desired)
	if err != nil {
		return false, err
	}
	if a.Observed != nil && a.Observed.Observes(desired) {
		want, err := FingerprintOf(stamped)
		if err != nil {
			return false, err
		}
		have, exists := a.Observed.Fingerprint(stamped)
		return exists && have == want, nil
	}
	current, err := a.newObject(desired)
	if err != nil {
		return false, err
	}
	switch err := a.Client.Get(ctx, client.ObjectKeyFromObject(desired), current); {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading %s: %w", describe(desired), err)
	}
	return Matches(current, stamped), nil
}

// ensureObserved is Ensure for an observed kind: the live object's
// fingerprint stands for the cached object.
func (a Applier) ensureObserved(ctx context.Context, desired client.Object) (client.Object, Result, error) {
	if err := checkOwnedKeys(desired); err != nil {
		return nil, Unchanged, err
	}
	stamped, err := a.Stamp(desired)
	if err != nil {
		return nil, Unchanged, err
	}
	want, err := FingerprintOf(stamped)
	if err != nil {
		return nil, Unchanged, err
	}
	have, exists := a.Observed.Fingerprint(stamped)
	if exists && have == want {
		return stamped, Unchanged, nil
	}
	result := Created
	if exists {
		result = Updated
	}
	live, err := a.apply(ctx, stamped)
	if err != nil {
		return nil, Unchanged, err
	}
	// Also after a create: the name may have been held by an object the
	// observer does not see (without the managed-by label), whose other
	// fields the apply left alone.
	if got, err := FingerprintOf(live); err != nil {
		return nil, Unchanged, err
	} else if got != want {
		if live, err = a.replace(ctx, live, stamped, true); err != nil {
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
//
// With ownedExactly (observed guardrails, whose fingerprint covers every
// owned key) an owned key desired does not set is dropped from live's
// metadata; otherwise live keeps it (a Namespace carries owned keys other
// writers set, such as the orphan marks of a release).
func (a Applier) replace(ctx context.Context, live, desired client.Object, ownedExactly bool) (client.Object, error) {
	next := desired.DeepCopyObject().(client.Object)
	next.SetResourceVersion(live.GetResourceVersion())
	next.SetUID(live.GetUID())
	next.SetLabels(mergeKeys(live.GetLabels(), desired.GetLabels(), ownedExactly))
	next.SetAnnotations(mergeKeys(live.GetAnnotations(), desired.GetAnnotations(), ownedExactly))
	if len(desired.GetOwnerReferences()) == 0 {
		next.SetOwnerReferences(live.GetOwnerReferences())
	}
	if err := a.Client.Update(ctx, next, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return nil, fmt.Errorf("replacing %s: %w", describe(desired), err)
	}
	return next, nil
}

// mergeKeys is live's labels (or annotations) with desired's set over them;
// with ownedExactly, less the owned keys desired does not set.
func mergeKeys(live, desired map[string]string, ownedExactly bool) map[string]string {
	out := maps.Clone(live)
	if out == nil {
		out = map[string]string{}
	}
	if ownedExactly {
		maps.DeleteFunc(out, func(k, _ string) bool {
			_, wanted := desired[k]
			return OwnedKey(k) && !wanted
		})
	}
	maps.Copy(out, desired)
	return out
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
