package tenant_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// observed is one watch event, ordered by the object's resourceVersion (etcd's
// global revision), so events of different kinds can be put in one timeline.
type observed struct {
	rv      int64
	kind    string
	ns      string
	name    string
	deleted bool
}

// guardrails a namespace must hold before any tenant RoleBinding exists in it.
var guardrails = []string{
	"LimitRange/" + naming.LimitRange,
	"NetworkPolicy/" + naming.NetworkPolicyDefaultDeny,
	"NetworkPolicy/" + naming.NetworkPolicyAllowSameTenant,
	"NetworkPolicy/" + naming.NetworkPolicyAllowDNS,
	"Secret/" + naming.DataKeySecret,
	"ResourceQuota/" + naming.ResourceQuota,
}

// TestOrderingInvariant checks, on watches opened before the Tenant is
// created (every event, not a poll that can miss a millisecond), that no
// tenant RoleBinding ever exists in a namespace lacking its guardrails. The
// negative control `make test-negative-controls` builds the operator with
// RBAC reordered first and expects this test to fail.
func TestOrderingInvariant(t *testing.T) {
	env, g := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wc, err := client.NewWithWatch(env.AdminConfig, client.Options{Scheme: env.Admin.Scheme()})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	selector := client.MatchingLabels{platformv1alpha1.TenantLabel: "order"}
	events := make(chan observed, 1024)
	for kind, list := range map[string]client.ObjectList{
		"RoleBinding": &rbacv1.RoleBindingList{}, "LimitRange": &corev1.LimitRangeList{},
		"NetworkPolicy": &networkingv1.NetworkPolicyList{}, "Secret": &corev1.SecretList{},
		"ResourceQuota": &corev1.ResourceQuotaList{},
	} {
		w, err := wc.Watch(ctx, list, selector)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		go forward(ctx, kind, w, events)
	}

	tn := MakeTenant("order").Namespaces("prod", "dev", "stage").Owner(platformv1alpha1.SubjectUser, "olivia").Obj()
	create(t, env, tn)
	// The quota arrives later, as it does when GitOps applies the TenantQuota after the Tenant.
	g.Eventually(condition(env, tn.Name, platformv1alpha1.TenantConditionRBACReady)).
		Should(gomega.Equal("False/" + platformv1alpha1.TenantReasonWaitingForQuota))
	for _, ns := range []string{"order-prod", "order-dev", "order-stage"} {
		grantQuota(t, env, tn.Name, ns)
	}
	g.Eventually(condition(env, tn.Name, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	time.Sleep(500 * time.Millisecond) // let the last events arrive
	cancel()

	var timeline []observed
	for done := false; !done; {
		select {
		case e := <-events:
			timeline = append(timeline, e)
		default:
			done = true
		}
	}
	sort.Slice(timeline, func(i, j int) bool { return timeline[i].rv < timeline[j].rv })
	bindings := checkTimeline(t, timeline)
	g.Expect(bindings).To(gomega.Equal(3), "expected one tenant RoleBinding per namespace in the timeline")
}

// checkTimeline replays the events in order and fails on any RoleBinding
// present while a guardrail of its namespace is absent. It returns how many
// RoleBinding creations it saw.
func checkTimeline(t *testing.T, timeline []observed) int {
	t.Helper()
	present := map[string]map[string]bool{}
	bindings := 0
	for _, e := range timeline {
		if present[e.ns] == nil {
			present[e.ns] = map[string]bool{}
		}
		present[e.ns][e.kind+"/"+e.name] = !e.deleted
		if e.kind != "RoleBinding" || e.deleted {
			continue
		}
		bindings++
		for _, gr := range guardrails {
			if !present[e.ns][gr] {
				t.Errorf("RoleBinding %s/%s existed (revision %d) while %s was missing", e.ns, e.name, e.rv, gr)
			}
		}
	}
	return bindings
}

func forward(ctx context.Context, kind string, w watch.Interface, out chan<- observed) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			obj, ok := ev.Object.(client.Object)
			if !ok {
				continue
			}
			rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
			if err != nil {
				panic(fmt.Sprintf("resourceVersion %q is not a revision", obj.GetResourceVersion()))
			}
			out <- observed{rv: rv, kind: kind, ns: obj.GetNamespace(), name: obj.GetName(), deleted: ev.Type == watch.Deleted}
		}
	}
}
