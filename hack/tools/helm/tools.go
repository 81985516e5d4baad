//go:build tools

// Package tools records the helm command this module builds: it lints and
// renders the chart in dist/chart and installs it in the install tests.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
