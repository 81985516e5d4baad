package faults_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

var errInjected = errors.New("injected failure: the API server refused the write")

// failWhile fails every write whose description contains target while on
// is set, and counts the attempts on target.
func failWhile(on *atomic.Bool, attempts *atomic.Int32, target string) func(int, string) error {
	return func(_ int, desc string) error {
		if !strings.Contains(desc, target) {
			return nil
		}
		attempts.Add(1)
		if on.Load() {
			return errInjected
		}
		return nil
	}
}

func getTenant(g gomega.Gomega, env *testenv.Env, name string) *platformv1alpha1.Tenant {
	tn := &platformv1alpha1.Tenant{}
	g.Expect(env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, tn)).To(gomega.Succeed())
	return tn
}

func readyMessage(tn *platformv1alpha1.Tenant) string {
	for _, c := range tn.Status.Conditions {
		if c.Type == platformv1alpha1.ConditionReady {
			return c.Message
		}
	}
	return ""
}

// TestPartialFailure (scenarios 2 and 8): one child's apply keeps failing.
// The Tenant says so (Ready=False, ReconcileError, the error in the
// message), observedGeneration does not claim the spec, RBAC is withheld
// from the namespace missing its guardrail, retries back off instead of
// looping hot, and once the API server accepts the write everything
// converges; extra reconciles then change no condition and write nothing.
func TestPartialFailure(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	ctx := context.Background()
	name := "partial"
	var failing atomic.Bool
	var attempts atomic.Int32
	failing.Store(true)
	f := &faults{only: name}
	f.inject = failWhile(&failing, &attempts, name+"-b/"+naming.NetworkPolicyDefaultDeny)
	startManager(t, env, managerConfig(), f)

	create(t, env.Admin, tenantFixture(name))
	g.Eventually(tenantCondition(env, name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("False/" + platformv1alpha1.ReasonError))
	tn := getTenant(g, env, name)
	g.Expect(readyMessage(tn)).To(gomega.ContainSubstring(errInjected.Error()))
	g.Expect(tenantCondition(env, name, platformv1alpha1.ConditionReconciling)()).To(gomega.Equal("True/" + platformv1alpha1.ReasonError))
	g.Expect(tn.Status.ObservedGeneration).To(gomega.BeNumerically("<", tn.Generation), "observedGeneration claims a spec that was not applied")

	// No hot loop: after the first seconds of exponential backoff, retries
	// are seconds apart.
	time.Sleep(2 * time.Second)
	early := attempts.Load()
	time.Sleep(3 * time.Second)
	late := attempts.Load()
	t.Logf("attempts on the failing child: %d after 2s, %d after 5s", early, late)
	g.Expect(early).To(gomega.BeNumerically(">=", 3), "the failing write was not retried")
	g.Expect(late-early).To(gomega.BeNumerically("<=", 4), "retries of a failing write are not backing off")
	// RBAC never lands where the default-deny policy is missing.
	rb := &rbacv1.RoleBinding{}
	err := env.Admin.Get(ctx, client.ObjectKey{Namespace: name + "-b", Name: naming.TenantRole(platformv1alpha1.RoleAdmin)}, rb)
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "a RoleBinding exists in a namespace without its NetworkPolicy: %v", err)
	g.Expect(getTenant(g, env, name).Status.ObservedGeneration).To(gomega.BeNumerically("<", tn.Generation))

	failing.Store(false)
	readyTenant(g, env, name)
	g.Expect(snapshot(t, env, name)).To(gomega.ContainElement(gomega.HavePrefix("RoleBinding T-b/" + naming.TenantRole(platformv1alpha1.RoleAdmin))))

	// No condition churn: extra reconciles keep every condition, its order
	// and its timestamps; and they write nothing (I3).
	quiesce(g, f)
	before := getTenant(g, env, name).Status.Conditions
	assertNoWritesOnReconcile(t, g, env, f, name)
	assertNoWritesOnReconcile(t, g, env, f, name)
	g.Expect(getTenant(g, env, name).Status.Conditions).To(gomega.Equal(before), "conditions changed across reconciles of an unchanged Tenant")

	// A spec change whose new part fails: observedGeneration lags the
	// generation until the new namespace is fully provisioned.
	failing.Store(true)
	f.setInject(failWhile(&failing, &attempts, name+"-c/"+naming.LimitRange))
	tn = getTenant(g, env, name)
	patch := client.MergeFrom(tn.DeepCopy())
	tn.Spec.Namespaces = append(tn.Spec.Namespaces, platformv1alpha1.TenantNamespace{Name: "c"})
	g.Expect(env.Admin.Patch(ctx, tn, patch)).To(gomega.Succeed())
	gen := tn.Generation
	g.Eventually(tenantCondition(env, name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("False/" + platformv1alpha1.ReasonError))
	g.Consistently(func() int64 { return getTenant(g, env, name).Status.ObservedGeneration }, "1s", "100ms").
		Should(gomega.Equal(gen-1), "observedGeneration moved before the new spec was applied")
	failing.Store(false)
	readyTenant(g, env, name)
	inv.stop(t)
}

// TestConflictStorm (scenario 3): the first writes all fail with 409
// Conflict while a break-glass admin keeps editing the same namespaces and
// deletes a guardrail. The operator converges, restores the guardrail, and
// keeps every field the admin set.
func TestConflictStorm(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	ctx := context.Background()
	name := "storm"
	const conflicts = 8
	var injected atomic.Int32
	f := &faults{only: name}
	f.inject = func(attempt int, _ string) error {
		if attempt <= conflicts {
			injected.Add(1)
			return apierrors.NewConflict(schema.GroupResource{Group: "injected"}, name, errors.New("injected conflict"))
		}
		return nil
	}
	startManager(t, env, managerConfig(), f)
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())

	create(t, env.Admin, tenantFixture(name))
	// The concurrent writer: annotate and label namespace a, repeatedly,
	// while the operator fights its conflicts.
	done := make(chan struct{})
	var edits atomic.Int32
	go func() {
		defer close(done)
		for i := 0; i < 40; i++ {
			ns := &metav1.PartialObjectMetadata{}
			ns.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
			if err := admin.Get(ctx, client.ObjectKey{Name: name + "-a"}, ns); err == nil {
				patch := client.MergeFrom(ns.DeepCopy())
				ann := ns.GetAnnotations()
				if ann == nil {
					ann = map[string]string{}
				}
				ann["user.example/note"] = "kept"
				ann["user.example/edit"] = time.Now().Format(time.RFC3339Nano)
				ns.SetAnnotations(ann)
				labels := ns.GetLabels()
				labels["team"] = "search"
				ns.SetLabels(labels)
				if admin.Patch(ctx, ns, patch) == nil {
					edits.Add(1)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	readyTenant(g, env, name)
	// A guardrail removed by the admin mid-storm comes back.
	np := &metav1.PartialObjectMetadata{}
	np.SetGroupVersionKind(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"})
	np.SetNamespace(name + "-b")
	np.SetName(naming.NetworkPolicyAllowDNS)
	g.Expect(admin.Delete(ctx, np)).To(gomega.Succeed())
	<-done
	g.Expect(injected.Load()).To(gomega.BeEquivalentTo(conflicts))
	g.Expect(edits.Load()).To(gomega.BeNumerically(">", 5), "the concurrent writer hardly wrote")

	g.Eventually(func() error { return env.Admin.Get(ctx, client.ObjectKeyFromObject(np), np) }).Should(gomega.Succeed(), "the deleted guardrail was not restored")
	readyTenant(g, env, name)
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	g.Expect(env.Admin.Get(ctx, client.ObjectKey{Name: name + "-a"}, ns)).To(gomega.Succeed())
	g.Expect(ns.GetAnnotations()).To(gomega.HaveKeyWithValue("user.example/note", "kept"), "a user annotation was lost")
	g.Expect(ns.GetLabels()).To(gomega.HaveKeyWithValue("team", "search"), "a user label was lost")
	g.Expect(ns.GetLabels()).To(gomega.HaveKeyWithValue(platformv1alpha1.TenantLabel, name))
	assertOneKey(t, env, name)
	assertNoWritesOnReconcile(t, g, env, f, name)
	inv.stop(t)
}

// TestQuotaUnderConflicts: a quota-Required Tenant and its TenantQuota are
// provisioned while the first writes of every controller fail with 409.
// The invariant poller watches I1 (no RoleBinding before the namespace's
// ResourceQuota) and I4 (the sum of enforced hard values never exceeds the
// total) throughout; both converge Ready.
func TestQuotaUnderConflicts(t *testing.T) {
	env, g := setup(t)
	inv := watchInvariants(t, env)
	name := "quota"
	const conflicts = 10
	f := &faults{only: name}
	f.inject = func(attempt int, _ string) error {
		if attempt <= conflicts {
			return apierrors.NewConflict(schema.GroupResource{Group: "injected"}, name, errors.New("injected conflict"))
		}
		return nil
	}
	startManager(t, env, managerConfig(), f)
	tn := tenantFixture(name)
	tn.Spec.QuotaPolicy = platformv1alpha1.QuotaRequired
	create(t, env.Admin, tn)
	g.Eventually(tenantCondition(env, name, platformv1alpha1.TenantConditionRBACReady)).
		Should(gomega.Equal("False/" + platformv1alpha1.TenantReasonWaitingForQuota))
	create(t, env.Admin, MakeTenantQuota(name).Hard(corev1.ResourcePods, "10").Hard(corev1.ResourceRequestsCPU, "4").Obj())
	readyTenant(g, env, name)
	g.Eventually(func() string {
		q := &platformv1alpha1.TenantQuota{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: name}, q); err != nil {
			return err.Error()
		}
		for _, c := range q.Status.Conditions {
			if c.Type == platformv1alpha1.ConditionReady {
				return string(c.Status)
			}
		}
		return "absent"
	}).Should(gomega.Equal("True"))
	assertOneKey(t, env, name)
	inv.stop(t)
}
