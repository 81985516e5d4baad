package modeldeployment_test

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestReadyWaitsForTheRollout changes a Ready ModelDeployment's version and
// watches its status: no status written at the new generation says Ready
// until the Deployment has observed the new template and runs it on every
// desired replica (data-safety 6). Status must come from state that includes
// the operator's own write, not from a cache that has not seen it.
func TestReadyWaitsForTheRollout(t *testing.T) {
	env, g := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tenantNamespace(t, env, "ready", "ready-prod")
	md := MakeModelDeployment("ready-prod", "chat").Replicas(2).Obj()
	create(t, env, md)
	key := client.ObjectKeyFromObject(md)
	g.Eventually(func() bool { return deployment(env, "ready-prod", "chat") != nil }).Should(gomega.BeTrue())
	markRolledOut(g, env, "ready-prod", "chat")
	g.Eventually(condition(env, key, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))

	wc, err := client.NewWithWatch(env.AdminConfig, client.Options{Scheme: env.Admin.Scheme()})
	g.Expect(err).NotTo(gomega.HaveOccurred())
	w, err := wc.Watch(ctx, &platformv1alpha1.ModelDeploymentList{}, client.InNamespace("ready-prod"))
	g.Expect(err).NotTo(gomega.HaveOccurred())
	updateMD(g, env, key, func(md *platformv1alpha1.ModelDeployment) { md.Spec.Model.Version = "v2" })
	g.Eventually(observed(env, key)).Should(gomega.BeTrue())
	var sawNewGeneration bool
	deadline := time.After(3 * time.Second)
	for done := false; !done; {
		select {
		case e := <-w.ResultChan():
			got, ok := e.Object.(*platformv1alpha1.ModelDeployment)
			if !ok || e.Type != watch.Modified || got.Status.ObservedGeneration != got.Generation || got.Generation < 2 {
				continue
			}
			sawNewGeneration = true
			for _, c := range got.Status.Conditions {
				if c.Type == platformv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
					t.Fatalf("Ready=True at generation %d before the Deployment rolled version v2 out: %s", got.Generation, c.Message)
				}
			}
		case <-deadline:
			done = true
		}
	}
	g.Expect(sawNewGeneration).To(gomega.BeTrue(), "no status at the new generation was seen on the watch")
	g.Expect(condition(env, key, platformv1alpha1.ConditionReady)()).To(gomega.Equal("False/" + platformv1alpha1.ModelReasonRollingOut))

	markRolledOut(g, env, "ready-prod", "chat")
	g.Eventually(condition(env, key, platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
}
