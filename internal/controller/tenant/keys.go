package tenant

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/naming"
)

// The data key Secret: keys "v1", "v2", … hold 32 random bytes each, "active"
// names the version to encrypt with; earlier versions stay for decryption.
const (
	keyActive            = "active"
	keyBytes             = 32
	keyRotatedAnnotation = "platform.tenantai.io/key-rotated-at"
	defaultRotation      = 720 * time.Hour
)

// reconcileKeys makes sure the tenant has one canonical data key, rotated on
// schedule, and that every tenant namespace holds a copy of it. Key material
// never reaches a log, an Event or the status.
func (r *Reconciler) reconcileKeys(ctx context.Context, s *scope) error {
	canonical, err := r.canonicalKey(ctx, s)
	if err != nil {
		return err
	}
	version, err := activeVersion(canonical)
	if err != nil {
		return err
	}
	for _, ns := range s.owned {
		if err := r.ensure(ctx, s, keyCopy(s.tenant.Name, ns, canonical)); err != nil {
			return err
		}
	}
	s.keyVersion = int32(version)
	s.tenant.Status.KeyVersion = s.keyVersion
	conditions.True(s.tenant, platformv1alpha1.TenantConditionEncryptionReady, platformv1alpha1.ReasonReconciled,
		fmt.Sprintf("data key version %d is active in %d namespaces", version, len(s.owned)))
	return nil
}

// canonicalKey returns the tenant's key Secret in the operator namespace,
// creating it with Create (never apply), so a crash and a retry can never
// produce two different keys, and rotating it when due.
func (r *Reconciler) canonicalKey(ctx context.Context, s *scope) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret(s.tenant.Name)}
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		return r.createKey(ctx, s, key)
	}
	if err != nil {
		return nil, err
	}
	return r.rotateKeyIfDue(ctx, s, secret)
}

func (r *Reconciler) createKey(ctx context.Context, s *scope, key client.ObjectKey) (*corev1.Secret, error) {
	material, err := newKeyMaterial()
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: key.Name, Namespace: key.Namespace,
			Labels:      naming.TenantLabels(s.tenant.Name),
			Annotations: map[string]string{keyRotatedAnnotation: s.now.UTC().Format(time.RFC3339)},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"v1": material, keyActive: []byte("v1")},
	}
	err = r.Client.Create(ctx, secret, client.FieldOwner(platformv1alpha1.FieldManager))
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
	version, err := activeVersion(secret)
	if err != nil {
		return nil, err
	}
	material, err := newKeyMaterial()
	if err != nil {
		return nil, err
	}
	next := secret.DeepCopy()
	name := "v" + strconv.Itoa(version+1)
	next.Data[name] = material
	next.Data[keyActive] = []byte(name)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[keyRotatedAnnotation] = s.now.UTC().Format(time.RFC3339)
	if err := r.Client.Update(ctx, next, client.FieldOwner(platformv1alpha1.FieldManager)); err != nil {
		return nil, fmt.Errorf("rotating data key %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	if r.Recorder != nil {
		r.Recorder.Eventf(s.tenant, nil, corev1.EventTypeNormal, platformv1alpha1.EventReasonKeyRotated, platformv1alpha1.EventActionRotate,
			"data key rotated to version %d", version+1)
	}
	s.requeue(period)
	return next, nil
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
