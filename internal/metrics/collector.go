// Package metrics holds tenantai's own Prometheus metrics, served with
// controller-runtime's on the manager's metrics endpoint: gauges computed
// from the manager's cache at scrape time (tenants by readiness, quota use
// per tenant and resource) and the reconcile error counter. docs/metrics.md
// lists them with example alerts.
package metrics

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
	"github.com/tenantai/tenantai/internal/quota"
)

// Values of the ready label of tenantai_tenants.
const (
	readyTrue    = "true"
	readyFalse   = "false"
	readyUnknown = "unknown"
)

var (
	tenantsDesc = prometheus.NewDesc("tenantai_tenants",
		"Tenants by their Ready condition: true, false, or unknown (no Ready condition yet, or Unknown).",
		[]string{"ready"}, nil)
	quotaUsedRatioDesc = prometheus.NewDesc("tenantai_quota_used_ratio",
		"Use of a TenantQuota resource as a fraction of the tenant's total (status.used / status.hard); "+
			"+Inf when something is used of a total of 0. A resource appears once kube-controller-manager counts its use.",
		[]string{"tenant", "resource"}, nil)
)

// scrapeTimeout bounds the cache reads of one scrape.
const scrapeTimeout = 5 * time.Second

// Collector computes the tenant and quota gauges from a reader (the manager's
// cache) on every scrape. Nothing is stored between scrapes, so a deleted
// Tenant, TenantQuota or quota resource simply stops being reported: there is
// no stale series to clean up, and no API request or write is made.
type Collector struct {
	reader client.Reader
}

// NewCollector returns a Collector reading from reader, which should be the
// manager's cached client.
func NewCollector(reader client.Reader) *Collector {
	return &Collector{reader: reader}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantsDesc
	ch <- quotaUsedRatioDesc
}

// Collect implements prometheus.Collector. A failed read is reported as an
// invalid metric, which fails the scrape visibly instead of reporting zeros.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	c.collectTenants(ctx, ch)
	c.collectQuotas(ctx, ch)
}

func (c *Collector) collectTenants(ctx context.Context, ch chan<- prometheus.Metric) {
	list := &platformv1alpha1.TenantList{}
	// The objects are only read here: skip the cache's deep copy of each.
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(tenantsDesc, err)
		return
	}
	counts := map[string]float64{readyTrue: 0, readyFalse: 0, readyUnknown: 0}
	for i := range list.Items {
		counts[readiness(&list.Items[i])]++
	}
	for ready, n := range counts {
		ch <- prometheus.MustNewConstMetric(tenantsDesc, prometheus.GaugeValue, n, ready)
	}
}

// readiness maps a Tenant's Ready condition to the ready label.
func readiness(t *platformv1alpha1.Tenant) string {
	ready := conditions.Get(t, platformv1alpha1.ConditionReady)
	switch {
	case ready == nil:
		return readyUnknown
	case ready.Status == metav1.ConditionTrue:
		return readyTrue
	case ready.Status == metav1.ConditionFalse:
		return readyFalse
	default:
		return readyUnknown
	}
}

func (c *Collector) collectQuotas(ctx context.Context, ch chan<- prometheus.Metric) {
	list := &platformv1alpha1.TenantQuotaList{}
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(quotaUsedRatioDesc, err)
		return
	}
	for i := range list.Items {
		tq := &list.Items[i]
		for _, name := range quota.SortedNames(tq.Status.Hard) {
			used, counted := tq.Status.Used[name]
			if !counted {
				continue // not counted yet: unknown, not 0
			}
			hard := tq.Status.Hard[name]
			ch <- prometheus.MustNewConstMetric(quotaUsedRatioDesc, prometheus.GaugeValue,
				ratio(used.AsApproximateFloat64(), hard.AsApproximateFloat64()), tq.Spec.TenantRef.Name, string(name))
		}
	}
}

// ratio is used/hard. Of a total of 0 (e.g. the services.nodeports default),
// nothing used is 0 and anything used is +Inf, so that a threshold alert
// fires for it and no NaN reaches a query.
func ratio(used, hard float64) float64 {
	switch {
	case hard > 0:
		return used / hard
	case used > 0:
		return math.Inf(1)
	default:
		return 0
	}
}
