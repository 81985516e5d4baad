// Package security_test implements the adversarial catalogue of
// ../shared/guide/SECURITY.md as envtest tests: the real operator runs as its
// service account, kube-controller-manager runs beside the API server, the
// tenant identities are impersonated through client certificates, and every
// case asserts which mechanism refused it (RBAC, an admission policy by name,
// Pod Security, quota, the CRD schema). docs/security.md lists the cases.
package security_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// Identities of the suite.
const (
	blueOwner   = "blue-owner"
	blueDev     = "blue-dev"
	redOwner    = "red-owner"
	blueSA      = "system:serviceaccount:blue-prod:deployer"
	plainAdmin  = "plain-cluster-admin" // system:masters, not break-glass: RBAC allows everything
	policyNS    = "tenantai-protect-namespaces"
	policyOwned = "tenantai-protect-managed-objects"
)

var (
	env         *testenv.Env
	owner       client.Client // blue's owner: tenant-admin in blue's namespaces
	developer   client.Client // blue's developer
	admin       client.Client // a cluster admin outside break-glass
	breakGlass  client.Client
	namespaceSA client.Client // blue-prod's own service account, bound as admin

	// stopOperator stops the operator's manager (once); the last test runs
	// with the operator down.
	stopOperator func()
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{ControllerManager: true, ExtraControllers: "deployment,replicaset,job,cronjob", Setup: setupSuite})
}

func setupSuite(e *testenv.Env) (func(), error) {
	env = e
	_, stopManager, err := e.StartManager(context.Background(), testenv.TestConfig())
	if err != nil {
		return nil, err
	}
	var once sync.Once
	stop := func() { once.Do(stopManager) }
	stopOperator = stop
	clients := []struct {
		c      *client.Client
		name   string
		groups []string
	}{
		{&owner, blueOwner, nil},
		{&developer, blueDev, nil},
		{&admin, plainAdmin, []string{"system:masters"}},
		{&namespaceSA, blueSA, []string{"system:serviceaccounts", "system:serviceaccounts:blue-prod"}},
	}
	for _, c := range clients {
		if *c.c, err = e.UserClient(c.name, c.groups...); err != nil {
			return stop, err
		}
	}
	if breakGlass, err = e.BreakGlass(); err != nil {
		return stop, err
	}
	if err := createTenants(context.Background()); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// createTenants makes two tenants, blue and red, with quotas, and waits until
// both are Ready (their RoleBindings exist).
func createTenants(ctx context.Context) error {
	objs := []client.Object{
		MakeTenant("blue").Namespaces("prod", "dev").Owner(platformv1alpha1.SubjectUser, blueOwner).
			Member(platformv1alpha1.SubjectUser, blueDev, "", platformv1alpha1.RoleDeveloper).
			Member(platformv1alpha1.SubjectServiceAccount, "deployer", "blue-prod", platformv1alpha1.RoleAdmin).Obj(),
		MakeTenant("red").Namespaces("prod").Owner(platformv1alpha1.SubjectUser, redOwner).Obj(),
		MakeTenantQuota("blue").Hard(corev1.ResourcePods, "6").Hard("requests.cpu", "4").Obj(),
		MakeTenantQuota("red").Hard(corev1.ResourcePods, "4").Obj(),
	}
	for _, o := range objs {
		if err := env.Admin.Create(ctx, o); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, name := range []string{"blue", "red"} {
		for {
			tn := &platformv1alpha1.Tenant{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: name}, tn); err == nil && readyStatus(tn.Status.Conditions) == "True" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("tenant %s not Ready within a minute", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func readyStatus(conds []metav1.Condition) string {
	for _, c := range conds {
		if c.Type == platformv1alpha1.ConditionReady {
			return string(c.Status)
		}
	}
	return ""
}

// Mechanisms that refuse a request, recognised by the API server's message.
type mechanism struct {
	name  string
	match func(error) bool
}

func byRBAC() mechanism {
	return mechanism{"RBAC", func(err error) bool {
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "cannot ") && strings.Contains(err.Error(), `User "`) &&
			!strings.Contains(err.Error(), "ValidatingAdmissionPolicy")
	}}
}

func byPolicy(name string) mechanism {
	return mechanism{"policy " + name, func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+name+"'")
	}}
}

func byEscalationCheck() mechanism {
	return mechanism{"RBAC escalation check", func(err error) bool {
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "is attempting to grant RBAC permissions not currently held")
	}}
}

func byPodSecurity() mechanism {
	return mechanism{"Pod Security admission", func(err error) bool {
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`)
	}}
}

func byQuota(message string) mechanism {
	return mechanism{"quota admission", func(err error) bool {
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), message)
	}}
}

func bySchema(message string) mechanism {
	return mechanism{"CRD schema", func(err error) bool {
		return err != nil && (apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) && strings.Contains(err.Error(), message)
	}}
}

// refused asserts that err is a refusal by the expected mechanism.
func refused(t *testing.T, err error, m mechanism) {
	t.Helper()
	if err == nil {
		t.Fatalf("the request was allowed; expected a refusal by %s", m.name)
	}
	if !m.match(err) {
		t.Fatalf("refused, but not by %s: %v", m.name, err)
	}
}

func quantity(s string) resource.Quantity { return resource.MustParse(s) }

// tenantEventReasons lists the reasons of the Events about a tenant.
func tenantEventReasons(tenant string) []string {
	list := &eventsv1.EventList{}
	if err := env.Admin.List(context.Background(), list); err != nil {
		return nil
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Kind == "Tenant" && e.Regarding.Name == tenant {
			out = append(out, e.Reason)
		}
	}
	return out
}
