package tenant_test

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestBatchClassCreatedLaterIsPublished: the published policy carries the
// batch class's name and value (the admission policy that injects it cannot
// read PriorityClasses), so a batch PriorityClass created after the Tenant
// must bring the Tenant back, as the default class does.
func TestBatchClassCreatedLaterIsPublished(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("later").Namespaces("prod").Obj()
	tn.Spec.Scheduling = &platformv1alpha1.TenantScheduling{
		PriorityClasses: []string{"later-serving", "later-batch"}, BatchPriorityClass: "later-batch"}
	create(t, env, tn)
	create(t, env, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "later-serving"}, Value: 5000})
	g.Eventually(policyData(env, "later-prod")).Should(gomega.HaveKeyWithValue(naming.PolicyDefaultPriorityClass, "later-serving"))
	g.Expect(policyData(env, "later-prod")()).NotTo(gomega.HaveKey(naming.PolicyBatchPriorityClass))

	create(t, env, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "later-batch"}, Value: 50})
	g.Eventually(policyData(env, "later-prod")).Should(gomega.And(
		gomega.HaveKeyWithValue(naming.PolicyBatchPriorityClass, "later-batch"),
		gomega.HaveKeyWithValue(naming.PolicyBatchPriority, "50")))
	t.Cleanup(func() {
		for _, name := range []string{"later-serving", "later-batch"} {
			_ = env.Admin.Delete(ctx, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
	})
}
