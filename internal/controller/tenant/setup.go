package tenant

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/tenantai/tenantai/internal/observed"
)

// Options are what the manager configures in the Tenant controller.
type Options struct {
	MaxConcurrentReconciles int
	// CostTeamLabel is also set to the tenant's name on its namespaces (see
	// Reconciler.CostTeamLabel).
	CostTeamLabel string
	// AcceleratorPrefixes override naming.DefaultAcceleratorPrefixes.
	AcceleratorPrefixes []string
	// GuardrailsWarn reports what the guardrails added by an upgrade would
	// remove instead of removing it (see Reconciler.GuardrailsWarn).
	GuardrailsWarn bool
	// Tokens is the cache of service-account-token Secrets (nil: none).
	Tokens cache.Cache
	// Guardrails observes the guardrail kinds (see internal/observed).
	Guardrails *observed.Store
}

// Setup registers the Tenant controller with a manager.
func Setup(mgr ctrl.Manager, o Options) error {
	r := &Reconciler{
		Client:              mgr.GetClient(),
		APIReader:           mgr.GetAPIReader(),
		Recorder:            mgr.GetEventRecorder("tenantai-tenant"),
		CostTeamLabel:       o.CostTeamLabel,
		AcceleratorPrefixes: o.AcceleratorPrefixes,
		GuardrailsWarn:      o.GuardrailsWarn,
	}
	return r.SetupWithManager(mgr, o.MaxConcurrentReconciles, o.Tokens, o.Guardrails)
}
