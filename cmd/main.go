// Command manager runs the tenantai operator.
package main

import (
	"flag"
	"os"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tenantai/tenantai/internal/manager"
	"github.com/tenantai/tenantai/internal/naming"
)

func main() {
	cfg := manager.DefaultConfig()
	flag.StringVar(&cfg.MetricsBindAddress, "metrics-bind-address", cfg.MetricsBindAddress,
		"Address of the HTTPS metrics endpoint (authenticated and authorized by the API server); 0 disables it.")
	flag.StringVar(&cfg.HealthProbeBindAddress, "health-probe-bind-address", cfg.HealthProbeBindAddress,
		"Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&cfg.LeaderElection, "leader-elect", cfg.LeaderElection,
		"Elect a leader, so that only one replica reconciles at a time.")
	flag.StringVar(&cfg.LeaderElectionNamespace, "leader-election-namespace", cfg.LeaderElectionNamespace,
		"Namespace of the leader election Lease.")
	flag.DurationVar(&cfg.LeaseDuration, "leader-elect-lease-duration", cfg.LeaseDuration,
		"How long a standby waits before it takes over a Lease that is not renewed; 0 keeps the default (15s).")
	flag.DurationVar(&cfg.RenewDeadline, "leader-elect-renew-deadline", cfg.RenewDeadline,
		"How long the leader retries renewing its Lease before it gives up leadership and exits; 0 keeps the default (10s).")
	flag.DurationVar(&cfg.RetryPeriod, "leader-elect-retry-period", cfg.RetryPeriod,
		"How often candidates try to acquire or renew the Lease; 0 keeps the default (2s).")
	flag.DurationVar(&cfg.SyncPeriod, "sync-period", cfg.SyncPeriod,
		"Full resync period of the caches; drift is repaired from watches, so this is a safety net only.")
	flag.IntVar(&cfg.MaxConcurrentReconciles, "max-concurrent-reconciles", cfg.MaxConcurrentReconciles,
		"Reconciles run in parallel per controller.")
	flag.BoolVar(&cfg.MetricsInsecure, "metrics-insecure", cfg.MetricsInsecure,
		"Serve metrics over plain HTTP without authentication; refused unless --metrics-bind-address is a loopback IP (benchmarks, local runs).")
	flag.StringVar(&cfg.PprofBindAddress, "pprof-bind-address", cfg.PprofBindAddress,
		"Address of the net/http/pprof endpoint; empty disables it.")
	flag.StringVar(&cfg.CostTeamLabel, "cost-team-label", cfg.CostTeamLabel,
		"A further label key (e.g. team, OpenCost's team label) set to the tenant's name on tenant namespaces and model pods; empty (default) sets none. See docs/cost.md.")
	var qps float64
	flag.StringVar(&cfg.Guardrails, "guardrails", cfg.Guardrails,
		"Enforce, or Warn: report (Events) the token Secrets in tenant namespaces instead of deleting them, while the admission policies an upgrade adds run in Warn mode (docs/install.md)")
	flag.Func("accelerator-prefixes", "comma-separated resource-name prefixes of accelerators (default "+
		strings.Join(naming.DefaultAcceleratorPrefixes, ",")+"); a tenant's pods may request one only when its TenantQuota names it",
		func(v string) error { cfg.AcceleratorPrefixes = strings.Split(v, ","); return nil })
	flag.Float64Var(&qps, "kube-api-qps", float64(cfg.QPS),
		"Client-side limit of requests per second to the API server; 0 (default) leaves it to the API server's Priority and Fairness.")
	flag.IntVar(&cfg.Burst, "kube-api-burst", cfg.Burst,
		"Client-side burst of requests to the API server.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	cfg.QPS = float32(qps)
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	restCfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Unable to load a kubeconfig or in-cluster configuration")
		os.Exit(1)
	}
	mgr, err := manager.New(restCfg, cfg)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to add the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Unable to add the readiness check")
		os.Exit(1)
	}
	log.Info("Starting manager", "leaderElection", cfg.LeaderElection)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager exited with an error")
		os.Exit(1)
	}
}
