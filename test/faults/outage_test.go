package faults_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// deletes returns the delete writes among writes.
func deletes(writes []string) []string {
	var out []string
	for _, w := range writes {
		if strings.HasPrefix(w, "delete") {
			out = append(out, w)
		}
	}
	return out
}

// TestEmptyListDeletesNothing (scenario 4): every List the operator makes
// answers with no items, as a cache refilled from a restarted, empty or
// broken API server could. A reconcile then, and a spec change that removes
// a namespace, delete nothing; once lists are truthful again the removed
// namespace is released (Retain) and the rest is intact.
func TestEmptyListDeletesNothing(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	name := "empty"
	f := &faults{only: name}
	startManager(t, env, managerConfig(), f)
	create(t, env.Admin, tenantFixture(name))
	readyTenant(g, env, name)
	want := snapshot(t, env, name)
	quiesce(g, f)

	f.setEmptyLists(true)
	before := reconcileCount(t, "tenant")
	poke(t, env, name)
	g.Eventually(func() float64 { return reconcileCount(t, "tenant") }).Should(gomega.BeNumerically(">", before))
	time.Sleep(time.Second)
	g.Expect(deletes(f.Writes())).To(gomega.BeEmpty(), "the operator deleted after an empty list")
	g.Expect(snapshot(t, env, name)).To(gomega.Equal(want), "objects changed after an empty list")

	f.setEmptyLists(false)
	assertNoWritesOnReconcile(t, g, env, f, name)
	inv.stop(t)
}

// TestAPIServerRestart (scenario 4): the API server is stopped for several
// seconds and started again on the same port with the same certificates.
// The running manager recovers by itself (no restart), applies a spec change
// made after the outage, and deletes nothing.
func TestAPIServerRestart(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	name := "outage"
	f := &faults{only: name}
	m := startManager(t, env, managerConfig(), f)
	create(t, env.Admin, tenantFixture(name))
	readyTenant(g, env, name)
	want := snapshot(t, env, name)
	quiesce(g, f)

	restartAPIServer(t, env, 5*time.Second)
	inv := watchInvariants(t, env)

	select {
	case <-m.done:
		t.Fatalf("the manager exited during the outage: %v", m.err)
	default:
	}
	tn := &platformv1alpha1.Tenant{}
	g.Eventually(func() error { return env.Admin.Get(ctx, client.ObjectKey{Name: name}, tn) }).Should(gomega.Succeed())
	patch := client.MergeFrom(tn.DeepCopy())
	tn.Spec.Namespaces = append(tn.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: "c"})
	g.Expect(env.Admin.Patch(ctx, tn, patch)).To(gomega.Succeed())
	g.Eventually(func() error {
		return env.Admin.Get(ctx, client.ObjectKey{Name: name + "-c"}, &corev1.Namespace{})
	}, "60s").Should(gomega.Succeed(), "the manager did not recover from the outage")
	readyTenant(g, env, name)
	g.Expect(snapshot(t, env, name)).To(gomega.ContainElements(want), "objects were lost across the outage")
	g.Expect(deletes(f.Writes())).To(gomega.BeEmpty())
	// Until the informers have re-listed after the outage, the cache misses
	// objects created during it and a reconcile re-applies them (identical
	// server-side applies); within seconds a reconcile writes nothing again.
	g.Eventually(func() []string {
		quiesce(g, f)
		poke(t, env, name)
		time.Sleep(time.Second)
		return f.Writes()
	}, "20s", "10ms").Should(gomega.BeEmpty(), "the caches never caught up after the outage")
	assertNoWritesOnReconcile(t, g, env, f, name)
	inv.stop(t)
}

// restartAPIServer stops envtest's kube-apiserver for down, then starts it
// again on the same port with the same certificates (copied aside, since
// envtest removes a directory it allocated), so every client keeps working.
func restartAPIServer(t *testing.T, env *testenv.Env, down time.Duration) {
	t.Helper()
	api := env.Environment.ControlPlane.APIServer
	dir := api.CertDir
	backup := t.TempDir()
	copyDir(t, dir, backup)
	// envtest's graceful Stop waits for open watches to end (longer than
	// its stop timeout); a crash is what we want anyway: kill it.
	killAPIServer(t, dir)
	time.Sleep(down)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, dir)
	api.CertDir = dir
	if err := api.Start(); err != nil {
		t.Fatalf("restarting the API server: %v", err)
	}
}

// killAPIServer kills the kube-apiserver this test environment started (the
// one whose --cert-dir is dir) and waits until it is gone.
func killAPIServer(t *testing.T, dir string) {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.HasSuffix(args[0], "kube-apiserver") || !slices.Contains(args, "--cert-dir="+dir) {
			continue
		}
		proc, err := os.FindProcess(pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := proc.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("killing the API server: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if stat, err := os.ReadFile(filepath.Join("/proc", p.Name(), "stat")); err != nil || strings.Contains(string(stat), ") Z ") {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the API server (pid %d) did not die", pid)
	}
	t.Fatalf("no kube-apiserver with --cert-dir=%s found", dir)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
