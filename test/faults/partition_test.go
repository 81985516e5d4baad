package faults_test

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/client-go/rest"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/manager"
)

// partition is a TCP proxy between one manager and the API server that can
// cut the link the way a network partition does: open connections are
// dropped and new ones are accepted but never answered, so requests hang
// until their own deadlines, as they would behind a silent firewall.
type partition struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	cut      bool
	conns    []net.Conn
	wg       sync.WaitGroup
}

func newPartition(t *testing.T, upstream string) *partition {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{ln: ln, upstream: upstream}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *partition) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // held open, never answered
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		p.mu.Unlock()
		go pipe(up, c)
		go pipe(c, up)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
}

// setCut cuts (true) or heals (false) the link; cutting drops every open
// connection.
func (p *partition) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

func (p *partition) close() {
	_ = p.ln.Close()
	p.setCut(true)
	p.wg.Wait()
}

// through returns cfg rewritten to reach the API server through p.
func (p *partition) through(t *testing.T, cfg *rest.Config) *rest.Config {
	t.Helper()
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	c := rest.CopyConfig(cfg)
	u.Host = p.ln.Addr().String()
	c.Host = u.String()
	return c
}

// startManagerWith is startManager with a rest.Config of the caller's.
func startManagerWith(t *testing.T, restCfg *rest.Config, cfg manager.Config, f *faults) *runningManager {
	t.Helper()
	cfg.NewClient = f.newClient()
	mgr, err := manager.New(restCfg, cfg)
	if err != nil {
		t.Fatalf("building the manager: %v", err)
	}
	return run(t, mgr, f)
}

// TestLeaderPartitioned (scenario 5, cut off): the leader loses its link to
// the API server while its process keeps running. It cannot renew the lease,
// so it stops leading within RenewDeadline and its manager exits with
// "leader election lost"; the follower takes the lease once it expires and
// provisions a new Tenant. When the link heals, the old leader writes
// nothing: there is never a moment with two writers.
func TestLeaderPartitioned(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	cfg := leaderConfig("faults-partition")
	upstream, err := url.Parse(env.OperatorConfig.Host)
	g.Expect(err).NotTo(gomega.HaveOccurred())
	link := newPartition(t, upstream.Host)

	leader := startManagerWith(t, link.through(t, env.OperatorConfig), cfg, &faults{only: "partition-"})
	g.Eventually(leaseHolder(env, cfg.LeaderElectionID)).ShouldNot(gomega.BeEmpty())
	holder := leaseHolder(env, cfg.LeaderElectionID)()
	follower := startManager(t, env, cfg, &faults{only: "partition-"})
	create(t, env.Admin, tenantFixture("partition-1"))
	readyTenant(g, env, "partition-1")
	g.Expect(leader.f.Writes()).NotTo(gomega.BeEmpty(), "the leader wrote nothing")
	g.Expect(follower.f.Writes()).To(gomega.BeEmpty(), "the follower wrote while not leading")

	link.setCut(true)
	cutAt := time.Now()
	err = leader.wait(cfg.RenewDeadline + 5*time.Second)
	g.Expect(err).To(gomega.HaveOccurred(), "the cut-off leader kept running as leader")
	g.Expect(err.Error()).To(gomega.ContainSubstring("leader election lost"))
	// Until it stops leading the cut-off leader may still try to write (a
	// reconcile in flight; nothing reaches the API server); from then on it
	// must not.
	leaderWrites := len(leader.f.Writes())
	t.Logf("the cut-off leader stopped leading %s after the cut", time.Since(cutAt).Round(10*time.Millisecond))
	g.Eventually(leaseHolder(env, cfg.LeaderElectionID), cfg.LeaseDuration+cfg.RenewDeadline+2*time.Second, 20*time.Millisecond).
		ShouldNot(gomega.Or(gomega.Equal(holder), gomega.BeEmpty()), "the follower did not take the lease")
	t.Logf("the follower leads %s after the cut", time.Since(cutAt).Round(10*time.Millisecond))

	create(t, env.Admin, tenantFixture("partition-2"))
	readyTenant(g, env, "partition-2")
	g.Expect(follower.f.Writes()).NotTo(gomega.BeEmpty(), "the new leader wrote nothing")

	link.setCut(false)
	g.Consistently(func() []string { return leader.f.Writes()[leaderWrites:] }, "1s", "100ms").
		Should(gomega.BeEmpty(), "the old leader wrote after it stopped leading")
	assertOneKey(t, env, "partition-1")
	assertOneKey(t, env, "partition-2")
	assertNoWritesOnReconcile(t, g, env, follower.f, "partition-1")
	inv.stop(t)
}

// leaderConfig is managerConfig with leader election on a short lease.
func leaderConfig(id string) manager.Config {
	cfg := managerConfig()
	cfg.LeaderElection = true
	cfg.LeaderElectionID = id
	cfg.LeaderElectionNamespace = platformv1alpha1.OperatorNamespace
	cfg.LeaseDuration = 2 * time.Second
	cfg.RenewDeadline = 1500 * time.Millisecond
	cfg.RetryPeriod = 200 * time.Millisecond
	return cfg
}
