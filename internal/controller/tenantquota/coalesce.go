package tenantquota

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// progressInterval is the least time between two status writes of a
// TenantQuota that is still on its way to Ready. A quota being provisioned
// passes through several waits (its Tenant, its namespaces, kube-controller-
// manager's enforcement) within a second or two; writing each costs the API
// server far more than the ResourceQuotas themselves (a custom resource's
// status update is validated against its schema), and nobody reads a wait
// that lasted 50 ms. The final state, a Ready change, a stall, an error and
// a new observedGeneration are always written at once.
const progressInterval = time.Second

// progressWrites remembers when each TenantQuota's status was last written.
type progressWrites struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// wait returns how long to hold back an in-progress status write of key, or
// 0 when it may be written now.
func (p *progressWrites) wait(key types.NamespacedName, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if left := p.last[key].Add(progressInterval).Sub(now); left > 0 {
		return left
	}
	return 0
}

func (p *progressWrites) wrote(key types.NamespacedName, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[types.NamespacedName]time.Time{}
	}
	p.last[key] = now
}

func (p *progressWrites) forget(key types.NamespacedName) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.last, key)
}
