package metrics

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
)

// AddToManager serves the tenant and quota gauges from mgr's cache on reg
// while mgr is the leader. Only the leader reports them, so that with several
// replicas behind one metrics Service a sum() over the scraped pods counts
// each tenant once; a standby's endpoint serves controller-runtime's metrics
// only.
func AddToManager(mgr ctrl.Manager, reg prometheus.Registerer) error {
	l := &leaderCollector{collector: NewCollector(mgr.GetClient()), registerer: reg, log: mgr.GetLogger().WithName("metrics")}
	if err := mgr.Add(l); err != nil {
		return fmt.Errorf("adding the tenantai metrics collector: %w", err)
	}
	return nil
}

// leaderCollector registers the collector when the manager wins leader
// election (or at start without it) and unregisters it when it stops.
type leaderCollector struct {
	collector  *Collector
	registerer prometheus.Registerer
	log        logr.Logger
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (l *leaderCollector) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable. Leader-election runnables start once the
// caches have synced, so the first scrape already sees every object.
func (l *leaderCollector) Start(ctx context.Context) error {
	err := l.registerer.Register(l.collector)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		// Another manager in this process (tests only: a deployed operator
		// runs one) serves the gauges already.
		l.log.Info("The tenantai gauges are served by another manager in this process")
		return nil
	}
	if err != nil {
		return fmt.Errorf("registering the tenantai metrics collector: %w", err)
	}
	<-ctx.Done()
	l.registerer.Unregister(l.collector)
	return nil
}
