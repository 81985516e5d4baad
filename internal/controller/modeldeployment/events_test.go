package modeldeployment_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

func modelEvent(eventType, reason, related string) testenv.EventSummary {
	return testenv.EventSummary{Type: eventType, Reason: reason, Kind: "ModelDeployment",
		Namespace: "evm-prod", Name: "chat", Related: related, Count: 1}
}

// TestModelEventsOnTransitionsOnly: becoming Ready, a deleted child restored
// and a quota refusal each record one Event about the ModelDeployment (the
// repair naming the child as related object); forced reconciles in between
// record none, and pods still starting are no news. The refusal is recorded
// after the forced reconciles by the same recorder, so once it is there any
// repeat (a Count above 1, or a second Event) would be too.
func TestModelEventsOnTransitionsOnly(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tenantNamespace(t, env, "evm", "evm-prod")
	md := MakeModelDeployment("evm-prod", "chat").Replicas(1).Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(condition(env, key, platformv1alpha1.ConditionReady)).Should(gomega.Equal("False/" + platformv1alpha1.ModelReasonDeploymentUnavailable))
	markRolledOut(g, env, "evm-prod", "chat")
	g.Eventually(condition(env, key, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
	events := func() ([]testenv.EventSummary, error) {
		list, err := env.EventsAbout(ctx, md)
		return testenv.Summarize(list), err
	}
	g.Eventually(events).Should(gomega.ConsistOf(modelEvent(corev1.EventTypeNormal, platformv1alpha1.EventReasonReady, "")))

	for i := range 3 {
		before := reconcileCount(t)
		patch := client.MergeFrom(md.DeepCopy())
		md.Annotations = map[string]string{"test.tenantai.io/poke": strconv.Itoa(i)}
		g.Expect(env.Admin.Patch(ctx, md, patch)).To(gomega.Succeed())
		g.Eventually(func() float64 { return reconcileCount(t) }).Should(gomega.BeNumerically(">", before), "poke %d did not reconcile", i)
	}

	// A deleted child is drift too, not only an edited one.
	svc := &corev1.Service{}
	g.Expect(env.Admin.Get(ctx, key, svc)).To(gomega.Succeed())
	g.Expect(breakGlass(t, env).Delete(ctx, svc)).To(gomega.Succeed())
	g.Eventually(func() string {
		restored := &corev1.Service{}
		if err := env.Admin.Get(ctx, key, restored); err != nil {
			return err.Error()
		}
		return string(restored.UID)
	}).ShouldNot(gomega.Or(gomega.Equal(string(svc.UID)), gomega.ContainSubstring("not found")), "the Service was not restored")

	g.Eventually(func() error {
		d := deployment(env, "evm-prod", "chat")
		d.Status.Conditions = append(d.Status.Conditions, appsv1.DeploymentCondition{
			Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: quotaMessage,
		})
		return env.Admin.Status().Update(ctx, d)
	}).Should(gomega.Succeed())
	g.Eventually(condition(env, key, platformv1alpha1.ConditionReady)).Should(gomega.Equal("False/" + platformv1alpha1.ModelReasonQuotaExceeded))
	g.Eventually(events).Should(gomega.ConsistOf(
		modelEvent(corev1.EventTypeNormal, platformv1alpha1.EventReasonReady, ""),
		modelEvent(corev1.EventTypeWarning, platformv1alpha1.EventReasonDriftRepaired, "Service"),
		modelEvent(corev1.EventTypeWarning, platformv1alpha1.ModelReasonQuotaExceeded, ""),
	))
}
