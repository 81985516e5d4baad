//go:build tools

// Package tools records the kwok commands this module builds: the kwok
// controller (fake nodes and pod lifecycles) and kwokctl (cluster lifecycle).
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
