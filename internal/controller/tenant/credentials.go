package tenant

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Long-lived service-account tokens. kube-controller-manager still fills a
// Secret of type kubernetes.io/service-account-token with a token that never
// expires for the service account it names, so whoever may create Secrets in
// a namespace may mint a credential of any service account there, a tenant
// owner's included. The admission policy tenantai-credentials refuses such
// Secrets in tenant namespaces; the ones that exist (made before it, or by a
// cluster admin) are removed here. They are watched through a cache of their
// own that holds only this type, with the token stripped.

// removeTokenSecrets deletes the token Secrets of a namespace. In the
// report-only rollout (GuardrailsWarn) it only records an Event, unless the
// namespace is being released (always).
func (r *Reconciler) removeTokenSecrets(ctx context.Context, s *scope, ns string, releasing bool) (int, error) {
	if r.Tokens == nil {
		return 0, nil
	}
	list := &corev1.SecretList{}
	if err := r.Tokens.List(ctx, list, client.InNamespace(ns)); err != nil {
		return 0, fmt.Errorf("listing token Secrets: %w", err)
	}
	removed := 0
	for i := range list.Items {
		secret := &list.Items[i]
		if secret.Type != corev1.SecretTypeServiceAccountToken {
			continue
		}
		account := secret.Annotations[corev1.ServiceAccountNameKey]
		if r.GuardrailsWarn && !releasing {
			// Reported once per Secret per process, not at every reconcile.
			if _, seen := r.reportedTokens.LoadOrStore(secret.UID, true); !seen {
				r.event(s, corev1.EventTypeWarning, platformv1alpha1.EventReasonTokenSecretRemoved, platformv1alpha1.EventActionRepair,
					"Secret %s/%s holds a long-lived token of service account %s; it would be deleted (guardrails in Warn mode)", ns, secret.Name, account)
			}
			continue
		}
		err := r.Client.Delete(ctx, secret, client.Preconditions{UID: ptr.To(secret.UID)})
		if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return removed, fmt.Errorf("deleting token Secret %s: %w", secret.Name, err)
		}
		removed++
		r.event(s, corev1.EventTypeWarning, platformv1alpha1.EventReasonTokenSecretRemoved, platformv1alpha1.EventActionRepair,
			"deleted Secret %s/%s: it held a long-lived token of service account %s; use a TokenRequest (kubectl create token) instead", ns, secret.Name, account)
	}
	return removed, nil
}
