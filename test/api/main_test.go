// Package api_test proves the CRD schemas and CEL rules at admission, against
// a real API server: defaults round-trip, and invalid specs are refused with
// a message that says what to fix.
package api_test

import (
	"testing"

	"github.com/tenantai/tenantai/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }
