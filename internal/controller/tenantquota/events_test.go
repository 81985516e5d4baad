package tenantquota_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func quotaEvent(eventType, reason, name string) testenv.EventSummary {
	return testenv.EventSummary{Type: eventType, Reason: reason, Kind: "TenantQuota", Name: name, Count: 1}
}

// TestQuotaEventsOnTransitionsOnly: the quota waiting for enforcement, within
// quota, Ready, and refused (a static split over the total) each record one
// Event about the TenantQuota; forced reconciles in between record none. The
// refusal is recorded after them by the same recorder, so once it is there
// any repeat of the earlier Events (a Count above 1, or a second Event)
// would be too.
func TestQuotaEventsOnTransitionsOnly(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	create(t, env, MakeTenant("evq").Namespaces("prod").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj())
	tenantReady(t, g, env, "evq")
	tq := MakeTenantQuota("evq").Hard(corev1.ResourcePods, "10").Obj()
	create(t, env, tq)
	g.Eventually(quotaCondition(env, "evq", platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	events := func() ([]testenv.EventSummary, error) {
		list, err := env.EventsAbout(ctx, tq)
		return testenv.Summarize(list), err
	}
	g.Eventually(events).Should(gomega.ConsistOf(
		quotaEvent(corev1.EventTypeWarning, platformv1alpha1.TenantQuotaReasonWaitingForEnforcement, "evq"),
		quotaEvent(corev1.EventTypeNormal, platformv1alpha1.TenantQuotaReasonWithinQuota, "evq"),
		quotaEvent(corev1.EventTypeNormal, platformv1alpha1.EventReasonReady, "evq"),
	))

	for i := range 3 {
		before := reconcileCount(t, "tenantquota")
		patch := client.MergeFrom(tq.DeepCopy())
		tq.Annotations = map[string]string{"test.tenantai.io/poke": strconv.Itoa(i)}
		g.Expect(env.Admin.Patch(ctx, tq, patch)).To(gomega.Succeed())
		g.Eventually(func() float64 { return reconcileCount(t, "tenantquota") }).Should(gomega.BeNumerically(">", before), "poke %d did not reconcile", i)
	}

	g.Eventually(func() error {
		current := &platformv1alpha1.TenantQuota{}
		if err := env.Admin.Get(ctx, client.ObjectKeyFromObject(tq), current); err != nil {
			return err
		}
		current.Spec.Distribution.Mode = platformv1alpha1.DistributionStatic
		current.Spec.Distribution.Static = map[string]corev1.ResourceList{"prod": {corev1.ResourcePods: resource.MustParse("20")}}
		return env.Admin.Update(ctx, current)
	}).Should(gomega.Succeed())
	g.Eventually(quotaCondition(env, "evq", platformv1alpha1.ConditionStalled)).Should(gomega.Equal("True/" + platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard))
	g.Eventually(events).Should(gomega.ConsistOf(
		quotaEvent(corev1.EventTypeWarning, platformv1alpha1.TenantQuotaReasonWaitingForEnforcement, "evq"),
		quotaEvent(corev1.EventTypeNormal, platformv1alpha1.TenantQuotaReasonWithinQuota, "evq"),
		quotaEvent(corev1.EventTypeNormal, platformv1alpha1.EventReasonReady, "evq"),
		quotaEvent(corev1.EventTypeWarning, platformv1alpha1.TenantQuotaReasonStaticSplitExceedsHard, "evq"),
	))
}
