//go:build tools

// Package tools records the metrics-server command this module builds. Its
// manifests/base directory, read from the module cache, is what kwokctl
// installs (so nothing is fetched from a release page).
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
