package manager

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/tenantai/tenantai/internal/controller/modeldeployment"
	"github.com/tenantai/tenantai/internal/controller/tenant"
	"github.com/tenantai/tenantai/internal/controller/tenantquota"
	"github.com/tenantai/tenantai/internal/observed"
)

// shared are what the manager builds once for the controllers beside its
// own cache.
type shared struct {
	// tokens caches the Secrets of type kubernetes.io/service-account-token.
	tokens cache.Cache
	// guardrails observes the guardrail kinds by fingerprint.
	guardrails *observed.Store
}

// controllers lists the setup function of each tenantai controller. Tests and
// the deployed operator register the same list.
var controllers = []func(ctrl.Manager, Config, shared) error{
	func(mgr ctrl.Manager, c Config, sh shared) error {
		return tenant.Setup(mgr, tenant.Options{
			MaxConcurrentReconciles: c.MaxConcurrentReconciles,
			CostTeamLabel:           c.CostTeamLabel,
			AcceleratorPrefixes:     c.AcceleratorPrefixes,
			GuardrailsWarn:          c.Guardrails == GuardrailsWarn,
			Tokens:                  sh.tokens,
			Guardrails:              sh.guardrails,
		})
	},
	func(mgr ctrl.Manager, c Config, _ shared) error {
		return modeldeployment.Setup(mgr, c.MaxConcurrentReconciles, c.CostTeamLabel, c.AcceleratorPrefixes)
	},
	func(mgr ctrl.Manager, c Config, sh shared) error {
		return tenantquota.Setup(mgr, c.MaxConcurrentReconciles, sh.guardrails)
	},
}
