package main

import (
	"context"
	"time"
)

// steadyResult is B2: what a restarted operator writes while it re-lists and
// re-reconciles everything, then sits idle.
type steadyResult struct {
	Writes       writes  // from the audit log (leases and Events excluded)
	ClientWrites float64 // the new process's own rest_client_requests_total, non-GET
	Reconciles   map[string]float64
}

// steadyState (B2) restarts the operator — a full resync of everything it
// manages: every informer re-lists and every object is reconciled again —
// waits until every tenant and quota was reconciled and the queues are
// empty, then for `idle` more, and counts the writes since the restart.
func steadyState(ctx context.Context, c *cluster, op *operator, bin launcher, tenants int, idle time.Duration) (*operator, steadyResult, error) {
	res := steadyResult{Reconciles: map[string]float64{}}
	op.stop()
	mark, err := c.audit.mark()
	if err != nil {
		return op, res, err
	}
	op, err = startOperator(c, bin)
	if err != nil {
		return nil, res, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, max(10*time.Minute, time.Duration(tenants)*200*time.Millisecond))
	defer cancel()
	if _, err := op.waitIdle(waitCtx, map[string]float64{"tenant": float64(tenants), "tenantquota": float64(tenants)}); err != nil {
		return op, res, err
	}
	time.Sleep(idle)
	m, err := op.scrape()
	if err != nil {
		return op, res, err
	}
	for _, ctrl := range []string{"tenant", "tenantquota", "modeldeployment"} {
		res.Reconciles[ctrl] = sum(m, "controller_runtime_reconcile_total", `controller="`+ctrl+`"`)
	}
	res.ClientWrites = mutatingRequests(m)
	res.Writes, err = c.audit.since(ctx, mark)
	return op, res, err
}
