package security_test

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestModelDeploymentCases: A9, E23 and F27, with a real ModelDeployment in a
// tenant namespace; kube-controller-manager runs the Deployment and ReplicaSet
// controllers here, so pods are really created and really refused by quota.
func TestModelDeploymentCases(t *testing.T) {
	greenTenant(t)
	ctx := context.Background()
	md := MakeModelDeployment("green-prod", "served").Replicas(14).Obj()
	if err := env.Admin.Create(ctx, md); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Give green's quota back for the tests after this one: the garbage
		// collector removes the Deployments, ReplicaSets and pods.
		if err := env.Admin.Delete(ctx, md); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			pods := &corev1.PodList{}
			return env.Admin.List(ctx, pods, client.InNamespace("green-prod"),
				client.MatchingLabels{platformv1alpha1.ModelLabel: "served"}) == nil && len(pods.Items) == 0
		}, "the model's pods to be garbage-collected")
	})

	t.Run("A9 a model pod's service account has no API permissions and no token", func(t *testing.T) {
		sa := &corev1.ServiceAccount{}
		waitFor(t, func() bool {
			return env.Admin.Get(ctx, client.ObjectKey{Namespace: "green-prod", Name: naming.ModelServiceAccount("served")}, sa) == nil
		}, "the model's ServiceAccount")
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("automountServiceAccountToken = %v, want false", sa.AutomountServiceAccountToken)
		}
		c, err := env.UserClient("system:serviceaccount:green-prod:"+sa.Name, "system:serviceaccounts", "system:serviceaccounts:green-prod")
		if err != nil {
			t.Fatal(err)
		}
		for _, attr := range []authorizationv1.ResourceAttributes{
			{Namespace: "green-prod", Resource: "secrets", Verb: "get"},
			{Namespace: "green-prod", Resource: "pods", Verb: "list"},
			{Namespace: "green-prod", Resource: "configmaps", Verb: "get"},
			{Namespace: "green-prod", Group: platformv1alpha1.GroupVersion.Group, Resource: "modeldeployments", Verb: "get"},
			{Namespace: "green-prod", Resource: "serviceaccounts", Subresource: "token", Verb: "create"},
		} {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr}}
			if err := c.Create(ctx, review); err != nil {
				t.Fatal(err)
			}
			if review.Status.Allowed {
				t.Errorf("the model's service account may %s %s", attr.Verb, attr.Resource)
			}
		}
	})

	t.Run("E23 replicas beyond quota are refused and reported", func(t *testing.T) {
		var message string
		waitFor(t, func() bool {
			got := &platformv1alpha1.ModelDeployment{}
			_ = env.Admin.Get(ctx, client.ObjectKeyFromObject(md), got)
			for _, c := range got.Status.Conditions {
				if c.Type == platformv1alpha1.ModelConditionQuotaExceeded && c.Status == metav1.ConditionTrue {
					message = c.Message
					return true
				}
			}
			return false
		}, "QuotaExceeded on the ModelDeployment")
		if !strings.Contains(message, "exceeded quota: tenantai-quota, requested: pods=1, used: pods=10, limited: pods=10") {
			t.Errorf("QuotaExceeded message is not the API server's: %q", message)
		}
		pods := &corev1.PodList{}
		if err := env.Admin.List(ctx, pods, client.InNamespace("green-prod")); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) > 10 {
			t.Errorf("%d pods exist beyond the quota of 10", len(pods.Items))
		}
	})

	t.Run("F27 every child lands in the ModelDeployment's namespace", func(t *testing.T) {
		lists := []client.ObjectList{&corev1.ServiceList{}, &corev1.ServiceAccountList{}}
		for _, list := range lists {
			if err := env.Admin.List(ctx, list, client.MatchingLabels{platformv1alpha1.ModelLabel: "served"}); err != nil {
				t.Fatal(err)
			}
		}
		found := 0
		for _, list := range lists {
			switch l := list.(type) {
			case *corev1.ServiceList:
				for _, o := range l.Items {
					found++
					checkChild(t, &o)
				}
			case *corev1.ServiceAccountList:
				for _, o := range l.Items {
					found++
					checkChild(t, &o)
				}
			}
		}
		if found < 2 {
			t.Errorf("found %d children to check", found)
		}
	})
}

func checkChild(t *testing.T, o client.Object) {
	t.Helper()
	if o.GetNamespace() != "green-prod" {
		t.Errorf("%T %s landed in %s", o, o.GetName(), o.GetNamespace())
	}
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind != "ModelDeployment" || ref.Name != "served" {
			t.Errorf("%T %s has an unexpected owner %s/%s", o, o.GetName(), ref.Kind, ref.Name)
		}
	}
}
