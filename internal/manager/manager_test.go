package manager_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/manager"
	"github.com/tenantai/tenantai/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Options{}) }

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestManagerRunsAsOperator starts the manager exactly as cmd/main.go does,
// under the operator's service-account identity and its shipped RBAC: it must
// win leader election (a Lease it alone can write) and serve its probes.
func TestManagerRunsAsOperator(t *testing.T) {
	env := testenv.Require(t)
	cfg := manager.DefaultConfig()
	cfg.MetricsBindAddress = "0"
	probePort := freePort(t)
	cfg.HealthProbeBindAddress = fmt.Sprintf("127.0.0.1:%d", probePort)
	cfg.LeaderElection = true
	cfg.SkipNameValidation = true

	mgr, err := manager.New(env.OperatorConfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		t.Fatal(err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager exited with %v", err)
		}
	})

	select {
	case <-mgr.Elected():
	case err := <-done:
		t.Fatalf("manager exited before winning the election: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the operator did not win leader election within 30s (RBAC for leases?)")
	}
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: cfg.LeaderElectionID}
	if err := env.Admin.Get(context.Background(), key, lease); err != nil {
		t.Fatalf("leader election lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Fatalf("lease %s has no holder", key)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", probePort, path))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
}
