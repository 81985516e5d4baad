package plugin

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
)

// Hints appended to a refused read: what a tenant member, whose roles grant
// reads per namespace only, can run instead.
const (
	// hintClusterScoped follows a refused read of Tenants or TenantQuotas.
	hintClusterScoped = "Tenants and TenantQuotas are cluster-scoped and the tenant roles " +
		"(tenantai-tenant-viewer, -developer, -admin) do not grant them; ask a platform admin, " +
		"or read your namespace's quota with \"kubectl tenantai quota <tenant> -n <namespace>\" " +
		"and its models with \"kubectl tenantai models -n <namespace>\""
	// hintAllNamespaces follows a refused read across every namespace.
	hintAllNamespaces = "the tenant roles grant reads per namespace: use -n <namespace>"
	// hintNamespace follows a refused read in one namespace.
	hintNamespace = "you hold no tenant role in that namespace: check -n, or ask the tenant's owners"
)

// readError says which read failed and, when RBAC refused it, quotes the API
// server's reason (the user and the verb it refused) and what to do instead.
func readError(err error, what, hint string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("cannot read %s: %s; %s", what, apiMessage(err), hint)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("cannot read %s: the API server did not accept your credentials (%s): check --kubeconfig, --context or --user",
			what, apiMessage(err))
	case meta.IsNoMatchError(err):
		return fmt.Errorf("cannot read %s: the cluster does not serve the platform.tenantai.io/v1alpha1 API: "+
			"tenantai's CRDs are not installed (kubectl apply -k config/crd)", what)
	default:
		return fmt.Errorf("reading %s: %w", what, err)
	}
}

// apiMessage is the API server's own message of a status error.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// ExitError is an error that ends the plugin with a status other than 1,
// such as ExitFindings from `preflight --fail-on-findings`.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode is the status the plugin exits with after err: 0 without an
// error, an ExitError's code, otherwise 1.
func ExitCode(err error) int {
	var exit *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	default:
		return 1
	}
}
