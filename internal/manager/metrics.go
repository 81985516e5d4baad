package manager

import (
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
