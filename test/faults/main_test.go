// Package faults_test injects faults into the operator's real manager
// running against envtest (crashes after every write, failed and conflicting
// writes, empty lists, leader failover, restarts with a changed world) and
// checks that it converges while the tenancy invariants hold throughout.
package faults_test

import (
	"testing"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tenantai/tenantai/internal/testenv"
)

// TestMain starts one API server (with kube-controller-manager, for quota
// status, namespace deletion and garbage collection) shared by every
// scenario. Each test starts and stops its own managers.
func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, testenv.Options{ControllerManager: true})
}
