package manager

import (
	"fmt"
	"net"

	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsOptions serves metrics over HTTPS, readable only by callers that the
// API server authenticates and authorizes (the metrics-reader ClusterRole).
// An address of "0" disables the endpoint (tests).
func metricsOptions(addr string, insecure bool) metricsserver.Options {
	if addr == "0" || addr == "" {
		return metricsserver.Options{BindAddress: "0"}
	}
	if insecure {
		return metricsserver.Options{BindAddress: addr}
	}
	return metricsserver.Options{
		BindAddress:    addr,
		SecureServing:  true,
		FilterProvider: filters.WithAuthenticationAndAuthorization,
	}
}

// validateInsecureMetrics refuses --metrics-insecure unless the metrics
// address is bound to a loopback IP: without authentication anyone who can
// reach the port could read the operator's metrics, which name every tenant.
func validateInsecureMetrics(addr string, insecure bool) error {
	if !insecure || addr == "0" || addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-bind-address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--metrics-insecure serves metrics without authentication, so it needs a loopback --metrics-bind-address "+
			"such as 127.0.0.1:8080, not %q; drop --metrics-insecure to serve them over HTTPS with authorization", addr)
	}
	return nil
}
