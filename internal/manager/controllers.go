package manager

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tenantai/tenantai/internal/controller/modeldeployment"
	"github.com/tenantai/tenantai/internal/controller/tenant"
	"github.com/tenantai/tenantai/internal/controller/tenantquota"
)

// controllers lists the setup function of each tenantai controller. Tests and
// the deployed operator register the same list.
var controllers = []func(ctrl.Manager, Config) error{
	func(mgr ctrl.Manager, c Config) error {
		return tenant.Setup(mgr, c.MaxConcurrentReconciles, c.CostTeamLabel)
	},
	func(mgr ctrl.Manager, c Config) error {
		return modeldeployment.Setup(mgr, c.MaxConcurrentReconciles, c.CostTeamLabel)
	},
	func(mgr ctrl.Manager, c Config) error { return tenantquota.Setup(mgr, c.MaxConcurrentReconciles) },
}
