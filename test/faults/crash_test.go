package faults_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// tenantFixture is the Tenant every scenario provisions: two namespaces,
// an owner group (so RoleBindings exist) and no quota requirement.
func tenantFixture(name string) *platformv1alpha1.Tenant {
	return MakeTenant(name).Namespaces("a", "b").
		QuotaPolicy(platformv1alpha1.QuotaOptional).
		Owner(platformv1alpha1.SubjectGroup, "tenant-admins").
		EgressCIDRs("0.0.0.0/0").Obj()
}

// settle waits until the manager has written nothing for half a second and
// returns every write it made until then.
func settle(g gomega.Gomega, f *faults) []string {
	var writes []string
	g.Eventually(func() bool {
		n := len(f.Writes())
		time.Sleep(500 * time.Millisecond)
		writes = f.Writes()
		return len(writes) == n
	}).Should(gomega.BeTrue())
	return writes
}

// TestCrashAtEveryWrite measures the K writes of a clean provisioning of a
// two-namespace Tenant, then for every k in 1..K runs a manager that dies
// right after its k-th write, and finally lets one fresh manager converge
// all K half-made tenants. Each must end exactly like the clean run (same
// objects, labels, one key), and a further reconcile must write nothing.
func TestCrashAtEveryWrite(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	ctx := context.Background()

	ref := "crash-ref"
	clean := startManager(t, env, managerConfig(), &faults{only: ref})
	create(t, env.Admin, tenantFixture(ref))
	readyTenant(g, env, ref)
	cleanWrites := settle(g, clean.f)
	clean.stop(t)
	k := len(cleanWrites)
	t.Logf("a clean reconcile makes %d writes: %s", k, strings.Join(cleanWrites, "; "))
	g.Expect(k).To(gomega.BeNumerically(">=", 10), "too few writes counted: the counter does not see the reconcile")
	want := snapshot(t, env, ref)
	g.Expect(want).To(gomega.ContainElement(gomega.HavePrefix("RoleBinding T-a/")), "the clean run made no RoleBinding")

	childWrites := 0
	for _, w := range cleanWrites {
		if !strings.HasPrefix(w, "patch/status") {
			childWrites++
		}
	}
	names := make([]string, 0, k)
	for i := 1; i <= k; i++ {
		name := fmt.Sprintf("crash-%02d", i)
		names = append(names, name)
		m := startManager(t, env, managerConfig(), &faults{crashAfter: i, only: name})
		create(t, env.Admin, tenantFixture(name))
		if err := m.wait(10 * time.Second); err != nil {
			// The status may settle in one patch or two (a reconcile
			// triggered by the children's events can land between), so the
			// last k may never be reached: allowed only past every child write.
			g.Expect(i).To(gomega.BeNumerically(">", childWrites), "k=%d: the manager never made its k-th write: %v", i, m.f.Writes())
			g.Expect(tenantCondition(env, name, platformv1alpha1.ConditionReady)()).To(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
			m.stop(t)
			continue
		}
		g.Expect(m.f.Writes()).To(gomega.HaveLen(i), "k=%d: the manager did not stop right after its k-th write", i)
	}

	fresh := startManager(t, env, managerConfig(), nil)
	for i, name := range names {
		readyTenant(g, env, name)
		g.Expect(snapshot(t, env, name)).To(gomega.Equal(want), "k=%d: the end state differs from a clean run", i+1)
		assertOneKey(t, env, name)
	}

	// I3 for all of them at once.
	quiesce(g, fresh.f)
	before := reconcileCount(t, "tenant")
	for _, name := range names {
		poke(t, env, name)
	}
	g.Eventually(func() float64 { return reconcileCount(t, "tenant") }).Should(gomega.BeNumerically(">=", before+float64(len(names))))
	g.Consistently(fresh.f.Writes, "1s", "100ms").Should(gomega.BeEmpty(), "I3: a reconcile of converged tenants wrote")

	// The poller really looked at these tenants.
	tn := &platformv1alpha1.Tenant{}
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Name: names[0]}, tn)).To(gomega.Succeed())
	inv.stop(t)
}
