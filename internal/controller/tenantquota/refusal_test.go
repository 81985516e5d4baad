package tenantquota_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantai/tenantai/internal/quota"
	"github.com/tenantai/tenantai/internal/testenv"
)

// TestParseRequestedMatchesTheAPIServer reads a real refusal of quota
// admission (kube-controller-manager runs in this suite) and parses it: it
// fails if Kubernetes changes the wording demand-awareness reads.
func TestParseRequestedMatchesTheAPIServer(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "parse-message"}}
	if err := env.Admin.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "full"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0"), "requests.cpu": resource.MustParse("100m")}}}
	if err := env.Admin.Create(ctx, rq); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "refused"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}}}}}
	var message string
	deadline := time.Now().Add(30 * time.Second)
	for message == "" || !strings.Contains(message, "exceeded quota") {
		if time.Now().After(deadline) {
			t.Fatalf("no quota refusal within 30s, last: %q", message)
		}
		if err := env.Admin.Create(ctx, pod.DeepCopy(), client.DryRunAll); err != nil {
			message = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := quota.RequestedIn(message)
	want := corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1"), "requests.cpu": resource.MustParse("500m")}
	if len(got) != len(want) {
		t.Fatalf("parsed %v from %q, want %v", got, message, want)
	}
	for name, q := range want {
		if g := got[name]; g.Cmp(q) != 0 {
			t.Errorf("%s = %s, want %s (message %q)", name, g.String(), q.String(), message)
		}
	}
}
