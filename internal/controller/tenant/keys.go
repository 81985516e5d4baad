package tenant

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
)

// The data key. One canonical Secret per Tenant in the operator namespace
// holds versions "v1", "v2", … (32 random bytes each) and "active", the
// version to encrypt with; every tenant namespace gets a copy. Key material
// never reaches a log, an Event or the status.
//
// Keys are never regenerated over data. Versions only grow, and a version's
// material never changes:
//   - a missing canonical key is rebuilt from the copies in the namespaces
//     this Tenant (its UID) holds, orphaned ones included; if there are none
//     and the Tenant had a key, it is Stalled with KeyMissing until the Secret
//     is restored or the loss is accepted (AcceptKeyLossAnnotation), and the
//     new key then starts at the next version;
//   - versions a copy holds and the canonical key lacks (a canonical key
//     restored from an old backup) are added to it;
//   - a copy whose version differs from the canonical key's is never
//     overwritten: KeyConflict, for an admin to decide;
//   - a canonical key recorded by another Tenant of the same name (deleted
//     with Retain) is archived under tenantai-key-<tenant>-<uid>, never used,
//     unless adopted through the adopt-from annotation.
const (
	keyActive            = "active"
	keyBytes             = 32
	keyRotatedAnnotation = "platform.tenantai.io/key-rotated-at"
	archivedAnnotation   = "platform.tenantai.io/archived-key"
	defaultRotation      = 720 * time.Hour
)

// reconcileKeys makes sure the tenant has one canonical data key, rotated on
// schedule, and that every namespace it holds has a copy of it.
func (r *Reconciler) reconcileKeys(ctx context.Context, s *scope) error {
	if len(s.owned) == 0 && s.before.KeyVersion == 0 {
		// Nothing to encrypt yet. A key made now could clash with the
		// versions of namespaces this Tenant is about to adopt.
		conditions.True(s.tenant, platformv1alpha1.TenantConditionEncryptionReady, platformv1alpha1.ReasonReconciled,
			"no namespace yet: the data key is created with the first one")
		return nil
	}
	canonical, err := r.canonicalKey(ctx, s)
	if err != nil {
		return err
	}
	if canonical != nil {
		canonical, err = r.absorbCopies(ctx, s, canonical)
		if err != nil {
			return err
		}
	}
	if canonical == nil {
		r.holdNamespacesWithoutKey(ctx, s)
		setKeyStall(s)
		return nil
	}
	version, err := activeVersion(canonical)
	if err != nil {
		return err
	}
	for _, ns := range s.grantable() {
		if err := r.ensure(ctx, s, keyCopy(s.tenant.Name, ns, canonical)); err != nil {
			s.fail(ns, err)
		}
	}
	s.keyVersion = int32(version)
	s.tenant.Status.KeyVersion = s.keyVersion
	if s.keyStall != nil {
		setKeyStall(s)
		return nil
	}
	conditions.True(s.tenant, platformv1alpha1.TenantConditionEncryptionReady, platformv1alpha1.ReasonReconciled,
		fmt.Sprintf("data key version %d is active in %d namespaces", version, len(s.owned)))
	return nil
}

func setKeyStall(s *scope) {
	conditions.False(s.tenant, platformv1alpha1.TenantConditionEncryptionReady, s.keyStall.reason, s.keyStall.message)
}

// holdNamespacesWithoutKey keeps namespaces that have no copy of the key
// from being bound while it is missing: their guardrails are incomplete.
// Namespaces with a copy keep their access.
func (r *Reconciler) holdNamespacesWithoutKey(ctx context.Context, s *scope) {
	for _, ns := range s.grantable() {
		copy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.DataKeySecret}}
		if exists, err := r.guardrailExists(ctx, copy); err != nil || !exists {
			s.hold(ns)
		}
	}
}

// canonicalKey returns the tenant's canonical key Secret, created, recovered
// or adopted as needed and rotated when due; nil with s.keyStall set when no
// key may be made.
func (r *Reconciler) canonicalKey(ctx context.Context, s *scope) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret(s.tenant.Name)}
	secret, err := r.readKey(ctx, key)
	if err != nil || secret == nil {
		if err != nil {
			return nil, err
		}
		return r.recoverOrCreateKey(ctx, s, key)
	}
	switch holder := heldBy(secret, true, s.tenant); {
	case holder == "":
	case s.adoptable(holder):
		r.event(s, corev1.EventTypeNormal, platformv1alpha1.EventReasonKeyRecovered, platformv1alpha1.EventActionAdopt,
			"adopted the data key of the earlier Tenant %s (UID %s) through %s", s.tenant.Name, holder, platformv1alpha1.AdoptFromAnnotation)
	default:
		if err := r.archiveKey(ctx, s, secret, holder); err != nil {
			return nil, err
		}
		return r.recoverOrCreateKey(ctx, s, key)
	}
	if secret.Annotations[platformv1alpha1.TenantUIDAnnotation] != string(s.tenant.UID) {
		if secret, err = r.stampKey(ctx, s, secret); err != nil {
			return nil, err
		}
	}
	return r.rotateKeyIfDue(ctx, s, secret)
}

// readKey reads a key Secret from the cache, confirming a miss with the API
// server: a key is never taken for lost on a cache's word.
func (r *Reconciler) readKey(ctx context.Context, key client.ObjectKey) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, secret)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading data key %s: %w", key, err)
	}
	return secret, nil
}

// stampKey records this Tenant's UID on its canonical key (a key made before
// UIDs were recorded, or adopted).
func (r *Reconciler) stampKey(ctx context.Context, s *scope, secret *corev1.Secret) (*corev1.Secret, error) {
	next := secret.DeepCopy()
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[platformv1alpha1.TenantUIDAnnotation] = string(s.tenant.UID)
	if err := r.Client.Update(ctx, next, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return nil, fmt.Errorf("recording the owner of data key %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	return next, nil
}

// recoverOrCreateKey handles a missing canonical key (see the top of the file).
func (r *Reconciler) recoverOrCreateKey(ctx context.Context, s *scope, key client.ObjectKey) (*corev1.Secret, error) {
	versions, err := r.heldCopies(ctx, s)
	if err != nil || s.keyStall != nil {
		return nil, err
	}
	source := "the copies in its namespaces"
	if adopted, from, err := r.adoptedArchive(ctx, s); err != nil {
		return nil, err
	} else if adopted != nil {
		if !mergeVersions(versions, adopted.Data) {
			s.keyStall = &stall{platformv1alpha1.TenantReasonKeyConflict, fmt.Sprintf(
				"the archived data key of Tenant UID %s and the copies in this Tenant's namespaces hold different material for one version; "+
					"tenantai never overwrites key material: keep one of them and delete the other", from)}
			return nil, nil
		}
		source = "the archived key of the adopted Tenant UID " + from
	}
	data, event := map[string][]byte{}, ""
	switch {
	case len(versions) > 0:
		data, event = versions, "rebuilt the missing data key (versions "+versionList(versions)+") from "+source
	case s.before.KeyVersion > 0:
		lost := "v" + strconv.Itoa(int(s.before.KeyVersion))
		if s.tenant.Annotations[platformv1alpha1.AcceptKeyLossAnnotation] != lost {
			s.keyStall = &stall{platformv1alpha1.TenantReasonKeyMissing, fmt.Sprintf(
				"data key %s is gone and no namespace of this Tenant holds a copy of its versions (up to %s): no key is generated over data "+
					"encrypted with it. Restore the Secret from a backup, or accept the loss with: kubectl annotate tenant %s %s=%s (a new key starts at v%d)",
				key, lost, s.tenant.Name, platformv1alpha1.AcceptKeyLossAnnotation, lost, s.before.KeyVersion+1)}
			return nil, nil
		}
		if err := addVersion(data, int(s.before.KeyVersion)+1); err != nil {
			return nil, err
		}
		event = "started a new data key at v" + strconv.Itoa(int(s.before.KeyVersion)+1) + " after the loss of " + lost + " was accepted"
	default:
		if err := addVersion(data, 1); err != nil {
			return nil, err
		}
	}
	secret, err := r.createKey(ctx, s, key, data)
	if err != nil {
		return nil, err
	}
	if event != "" {
		r.event(s, corev1.EventTypeWarning, platformv1alpha1.EventReasonKeyRecovered, platformv1alpha1.EventActionRepair, "%s", event)
	}
	return secret, nil
}

// heldCopies merges the versions of the key copies in every namespace this
// Tenant holds, orphaned ones included (never those of another UID). A
// version with two different materials sets s.keyStall.
func (r *Reconciler) heldCopies(ctx context.Context, s *scope) (map[string][]byte, error) {
	namespaces, err := r.tenantNamespaces(ctx, s.tenant.Name)
	if err != nil {
		return nil, err
	}
	merged := map[string][]byte{}
	for i := range namespaces {
		if namespaceHolder(&namespaces[i], s.tenant) != "" {
			continue
		}
		copy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespaces[i].Name, Name: naming.DataKeySecret}}
		err := r.readGuardrail(ctx, copy)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !mergeVersions(merged, copy.Data) {
			s.keyStall = &stall{platformv1alpha1.TenantReasonKeyConflict, fmt.Sprintf(
				"the copies of the data key in this Tenant's namespaces (%s among them) hold different material for one version; "+
					"tenantai never overwrites key material: restore the canonical key %s/%s from a backup",
				namespaces[i].Name, platformv1alpha1.OperatorNamespace, naming.CanonicalKeySecret(s.tenant.Name))}
			return nil, nil
		}
	}
	return merged, nil
}

// absorbCopies adds to the canonical key the versions that copies in the
// owned namespaces hold and it lacks. A copy whose version differs from the
// canonical one is left alone and its namespace held back (KeyConflict).
func (r *Reconciler) absorbCopies(ctx context.Context, s *scope, canonical *corev1.Secret) (*corev1.Secret, error) {
	merged := maps.Clone(canonical.Data)
	var conflicts []string
	for _, ns := range s.grantable() {
		// A copy that holds exactly the canonical material has nothing to
		// add: the common case, answered without reading it.
		if same, err := r.applier().Holds(ctx, keyCopy(s.tenant.Name, ns, canonical)); err != nil {
			return nil, err
		} else if same {
			continue
		}
		copy := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: naming.DataKeySecret}}
		err := r.readGuardrail(ctx, copy)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		trial := maps.Clone(merged)
		if !mergeVersions(trial, copy.Data) {
			conflicts = append(conflicts, ns)
			s.hold(ns)
			continue
		}
		merged = trial
	}
	if len(conflicts) > 0 {
		s.keyStall = &stall{platformv1alpha1.TenantReasonKeyConflict, fmt.Sprintf(
			"the data key copy in %s holds material for a version that differs from the canonical key %s/%s; tenantai never overwrites key "+
				"material: decide which is right and delete the other copy (break-glass), the operator then restores it",
			strings.Join(conflicts, ", "), canonical.Namespace, canonical.Name)}
	}
	if len(merged) == len(canonical.Data) {
		return canonical, nil
	}
	next := canonical.DeepCopy()
	next.Data = merged
	next.Data[keyActive] = []byte("v" + strconv.Itoa(highestVersion(merged)))
	if err := r.Client.Update(ctx, next, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return nil, fmt.Errorf("adding versions found in copies to data key %s/%s: %w", canonical.Namespace, canonical.Name, err)
	}
	r.event(s, corev1.EventTypeWarning, platformv1alpha1.EventReasonKeyRecovered, platformv1alpha1.EventActionRepair,
		"the canonical data key lacked versions that copies in this Tenant's namespaces hold; it now holds %s", versionList(merged))
	return next, nil
}

// mergeVersions adds from's versions into into; false when one of them is
// already there with other material (into is then partly merged).
func mergeVersions(into, from map[string][]byte) bool {
	for name, material := range from {
		if name == keyActive || !isVersion(name) {
			continue
		}
		if have, ok := into[name]; ok && string(have) != string(material) {
			return false
		}
		into[name] = material
	}
	if len(into) > 0 {
		into[keyActive] = []byte("v" + strconv.Itoa(highestVersion(into)))
	}
	return true
}

func isVersion(name string) bool {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "v"))
	return strings.HasPrefix(name, "v") && err == nil && n > 0
}

func highestVersion(data map[string][]byte) int {
	highest := 0
	for name := range data {
		if n, err := strconv.Atoi(strings.TrimPrefix(name, "v")); isVersion(name) && err == nil && n > highest {
			highest = n
		}
	}
	return highest
}

func versionList(data map[string][]byte) string {
	var names []string
	for name := range data {
		if isVersion(name) {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		x, _ := strconv.Atoi(a[1:])
		y, _ := strconv.Atoi(b[1:])
		return x - y
	})
	return strings.Join(names, ", ")
}

// adoptedArchive returns the archived key of an adopted earlier Tenant, if any.
func (r *Reconciler) adoptedArchive(ctx context.Context, s *scope) (*corev1.Secret, string, error) {
	for _, uid := range strings.Split(s.tenant.Annotations[platformv1alpha1.AdoptFromAnnotation], ",") {
		if uid = strings.TrimSpace(uid); uid == "" {
			continue
		}
		key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.ArchivedKeySecret(s.tenant.Name, uid)}
		archive, err := r.readKey(ctx, key)
		if err != nil || archive != nil {
			return archive, uid, err
		}
	}
	return nil, "", nil
}

// archiveKey keeps a canonical key that belongs to an earlier Tenant under
// its archive name (Create: a copy that exists is left as it is) and then
// frees the canonical name, deleting by UID.
func (r *Reconciler) archiveKey(ctx context.Context, s *scope, secret *corev1.Secret, holder string) error {
	archive := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: naming.ArchivedKeySecret(s.tenant.Name, holder), Namespace: secret.Namespace,
			Labels: naming.TenantLabels(s.tenant.Name),
			Annotations: map[string]string{
				platformv1alpha1.TenantUIDAnnotation: holder,
				archivedAnnotation:                   secret.Name,
			},
		},
		Type: secret.Type,
		Data: secret.Data,
	}
	if err := r.Client.Create(ctx, archive, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("archiving data key %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	err := r.Client.Delete(ctx, secret, client.Preconditions{UID: ptr.To(secret.UID)})
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("freeing data key name %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	r.event(s, corev1.EventTypeNormal, platformv1alpha1.EventReasonKeyArchived, platformv1alpha1.EventActionRelease,
		"the data key %s/%s belongs to an earlier Tenant %s (UID %s): kept as %s, not used by this Tenant unless adopted",
		secret.Namespace, secret.Name, s.tenant.Name, holder, archive.Name)
	return nil
}

// releaseKey runs when the Tenant is deleted: with Delete its canonical key
// is destroyed, with Retain it is archived (so the name is free for a new
// Tenant, which never gets it unless it adopts this one). A key held by
// another UID is left alone.
func (r *Reconciler) releaseKey(ctx context.Context, s *scope) error {
	key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret(s.tenant.Name)}
	secret, err := r.readKey(ctx, key)
	if err != nil || secret == nil || heldBy(secret, true, s.tenant) != "" {
		return err
	}
	if s.tenant.Spec.DeletionPolicy == platformv1alpha1.DeletionDelete {
		err := r.Client.Delete(ctx, secret, client.Preconditions{UID: ptr.To(secret.UID)})
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("destroying data key %s: %w", key, err)
		}
		return nil
	}
	return r.archiveKey(ctx, s, secret, string(s.tenant.UID))
}

// createKey creates the canonical key with Create (never apply), so a crash
// and a retry can never produce two different keys.
func (r *Reconciler) createKey(ctx context.Context, s *scope, key client.ObjectKey, data map[string][]byte) (*corev1.Secret, error) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: key.Name, Namespace: key.Namespace,
			Labels: naming.TenantLabels(s.tenant.Name),
			Annotations: map[string]string{
				keyRotatedAnnotation:                 s.now.UTC().Format(time.RFC3339),
				platformv1alpha1.TenantUIDAnnotation: string(s.tenant.UID),
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	err := r.Client.Create(ctx, secret, client.FieldOwner(platformv1alpha1.FieldManager))
	if apierrors.IsAlreadyExists(err) {
		// Created by an earlier attempt that the cache has not seen yet.
		if err := r.APIReader.Get(ctx, key, secret); err != nil {
			return nil, err
		}
		return secret, nil
	}
	if err != nil {
		return nil, fmt.Errorf("creating data key %s: %w", key, err)
	}
	s.requeue(rotationPeriod(s.tenant))
	return secret, nil
}

// rotateKeyIfDue adds a key version when the rotation period has passed since
// the last rotation; an Update with the read resourceVersion makes concurrent
// rotations conflict instead of both adding a version.
func (r *Reconciler) rotateKeyIfDue(ctx context.Context, s *scope, secret *corev1.Secret) (*corev1.Secret, error) {
	period := rotationPeriod(s.tenant)
	rotated, err := time.Parse(time.RFC3339, secret.Annotations[keyRotatedAnnotation])
	if err != nil {
		rotated = secret.CreationTimestamp.Time
	}
	if due := rotated.Add(period); s.now.Before(due) {
		s.requeue(due.Sub(s.now) + time.Second)
		return secret, nil
	}
	if _, err := activeVersion(secret); err != nil {
		return nil, err
	}
	next := secret.DeepCopy()
	version := highestVersion(next.Data) + 1
	if err := addVersion(next.Data, version); err != nil {
		return nil, err
	}
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[keyRotatedAnnotation] = s.now.UTC().Format(time.RFC3339)
	if err := r.Client.Update(ctx, next, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return nil, fmt.Errorf("rotating data key %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	r.event(s, corev1.EventTypeNormal, platformv1alpha1.EventReasonKeyRotated, platformv1alpha1.EventActionRotate,
		"data key rotated to version %d", version)
	s.requeue(period)
	return next, nil
}

// addVersion adds version n with fresh material and makes it active.
func addVersion(data map[string][]byte, n int) error {
	material, err := newKeyMaterial()
	if err != nil {
		return err
	}
	name := "v" + strconv.Itoa(n)
	data[name] = material
	data[keyActive] = []byte(name)
	return nil
}

func rotationPeriod(t *platformv1alpha1.Tenant) time.Duration {
	if rp := t.Spec.Encryption.RotationPeriod; rp != nil && rp.Duration >= time.Hour {
		return rp.Duration
	}
	return defaultRotation
}

func activeVersion(secret *corev1.Secret) (int, error) {
	active := string(secret.Data[keyActive])
	n, err := strconv.Atoi(strings.TrimPrefix(active, "v"))
	if err != nil || n < 1 || !strings.HasPrefix(active, "v") || len(secret.Data[active]) != keyBytes {
		return 0, fmt.Errorf("data key %s/%s is malformed: %q must name a present %d-byte version such as v1",
			secret.Namespace, secret.Name, keyActive, keyBytes)
	}
	return n, nil
}

func keyCopy(tenant, namespace string, canonical *corev1.Secret) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: naming.DataKeySecret, Namespace: namespace, Labels: naming.TenantLabels(tenant)},
		Type:       corev1.SecretTypeOpaque,
		Data:       canonical.Data,
	}
}

func newKeyMaterial() ([]byte, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generating a data key: %w", err)
	}
	return b, nil
}
