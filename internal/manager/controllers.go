package manager

import ctrl "sigs.k8s.io/controller-runtime"

// controllers lists the setup function of each tenantai controller. Tests and
// the deployed operator register the same list.
var controllers = []func(ctrl.Manager, Config) error{}
