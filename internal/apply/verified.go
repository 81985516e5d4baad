package apply

import (
	"context"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Verified lets the cache keep Deployments without their pod template (the
// bulk of a Deployment, about half of what the operator caches per model)
// and still compare the spec with what the operator wants.
//
// The API server raises a Deployment's metadata.generation on every change
// to its spec, by anyone, and nobody can set it. So once the operator has
// seen the live spec hold what it wants at generation G, with its applied
// hash H (its own apply's answer, or a read from the API server), the spec
// still holds it as long as the cached object is at G with H. Verified
// remembers (G, H) per object; on any other generation Ensure reads the
// whole object from the API server and compares it as before (Matches).
// Labels, annotations (the applied hash among them) and owner references
// stay in the cache and are compared there.
//
// The memory is per process: after a restart each Deployment is read once
// (a read, not a write), then its watch events keep the cached generation
// current.
type Verified struct {
	// Reader reads whole objects from the API server.
	Reader client.Reader

	mu   sync.Mutex
	seen map[types.NamespacedName]verifiedAt
}

// verifiedAt is the object (by UID: a recreated object is another one), the
// generation and the applied hash at which its spec was seen to hold the
// desired one.
type verifiedAt struct {
	uid        types.UID
	generation int64
	applied    string
}

// Prunes reports whether obj's kind is cached without its payload and must
// be compared through Verified.
func (v *Verified) Prunes(obj client.Object) bool {
	_, ok := obj.(*appsv1.Deployment)
	return v != nil && ok
}

// PruneDeployment is the cache transform that goes with Verified: it drops
// the pod template's spec and annotations (the template's labels stay: the
// rollout checks read the version label) and managedFields.
func PruneDeployment(obj any) (any, error) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return obj, nil
	}
	d.ManagedFields = nil
	d.Spec.Template.Spec = corev1.PodSpec{}
	d.Spec.Template.Annotations = nil
	return d, nil
}

// holds reports whether current (cached, pruned) is known to hold stamped:
// seen at its generation with stamped's hash.
func (v *Verified) holds(current, stamped client.Object) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	at, ok := v.seen[client.ObjectKeyFromObject(current)]
	return ok && at == verifiedAt{current.GetUID(), current.GetGeneration(), stamped.GetAnnotations()[AppliedAnnotation]}
}

// record remembers that live, as the API server answered, holds stamped.
func (v *Verified) record(live, stamped client.Object) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[types.NamespacedName]verifiedAt{}
	}
	v.seen[client.ObjectKeyFromObject(live)] = verifiedAt{live.GetUID(), live.GetGeneration(), stamped.GetAnnotations()[AppliedAnnotation]}
}

// Forget drops what is remembered of a deleted object.
func (v *Verified) Forget(key types.NamespacedName) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.seen, key)
}

// ensureVerified is EnsureAgainst for a pruned kind: current is the cached,
// pruned object (nil when the cache has none).
func (a Applier) ensureVerified(ctx context.Context, stamped, current client.Object) (client.Object, Result, error) {
	if current != nil && metadataMatches(current, stamped) {
		if a.Verified.holds(current, stamped) {
			return current, Unchanged, nil
		}
		full, err := a.newObject(stamped)
		if err != nil {
			return nil, Unchanged, err
		}
		switch err := a.Verified.Reader.Get(ctx, client.ObjectKeyFromObject(stamped), full); {
		case apierrors.IsNotFound(err):
			current = nil
		case err != nil:
			return nil, Unchanged, fmt.Errorf("reading %s: %w", describe(stamped), err)
		case Matches(full, stamped):
			a.Verified.record(full, stamped)
			return full, Unchanged, nil
		}
	}
	result := Updated
	if current == nil {
		result = Created
	}
	live, err := a.write(ctx, stamped, result)
	if err != nil {
		return nil, Unchanged, err
	}
	if Matches(live, stamped) {
		a.Verified.record(live, stamped)
	}
	return live, result, nil
}

// metadataMatches is the metadata half of Matches: every desired label,
// annotation (the applied hash among them) and owner reference.
func metadataMatches(current, desired client.Object) bool {
	return containsStrings(current.GetLabels(), desired.GetLabels()) &&
		containsStrings(current.GetAnnotations(), desired.GetAnnotations()) &&
		contains(toMap(current.GetOwnerReferences()), toMap(desired.GetOwnerReferences()))
}
