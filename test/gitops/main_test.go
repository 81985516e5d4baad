// Package gitops_test checks that GitOps tools judge tenantai's kinds
// correctly: kstatus (what Flux and Helm use) and the Argo CD health checks
// of config/argocd, on real objects read from the API server through their
// lifecycle, and on fixtures captured from those objects (config/argocd/testdata)
// without an API server.
//
// Regenerate the fixtures and config/argocd/argocd-cm-patch.yaml with
//
//	go test ./test/gitops -count=1 -update
package gitops_test

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tenantai/tenantai/internal/testenv"
)

var update = flag.Bool("update", false,
	"rewrite config/argocd/testdata from live envtest objects and config/argocd/argocd-cm-patch.yaml from the .lua files")

// TestMain starts one API server with kube-controller-manager (its quota
// controller fills the ResourceQuotas' status, which a TenantQuota waits for)
// and no operator: each test starts and stops the operator itself, so that
// it can read objects the operator has not seen yet.
func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	testenv.Main(m, testenv.Options{ControllerManager: true})
}

const (
	timeout  = 45 * time.Second
	interval = 100 * time.Millisecond
)

func setup(t *testing.T) (*testenv.Env, gomega.Gomega) {
	t.Helper()
	env := testenv.Require(t)
	g := gomega.NewWithT(t)
	g.SetDefaultEventuallyTimeout(timeout)
	g.SetDefaultEventuallyPollingInterval(interval)
	return env, g
}

// operator is the operator's manager, started and stopped by a test.
type operator struct {
	t    *testing.T
	env  *testenv.Env
	stop func()
}

// startOperator runs the operator's real manager as its service account
// until stopOperator or the end of the test.
func startOperator(t *testing.T, env *testenv.Env) *operator {
	t.Helper()
	_, stop, err := env.StartManager(context.Background(), testenv.TestConfig())
	if err != nil {
		t.Fatalf("starting the operator: %v", err)
	}
	op := &operator{t: t, env: env, stop: stop}
	t.Cleanup(op.Stop)
	return op
}

// Stop stops the manager and waits for it to exit; once it returns no
// reconcile runs, so what a test reads next no operator has seen. It may be
// called again.
func (o *operator) Stop() {
	if o.stop != nil {
		o.stop()
		o.stop = nil
	}
}
