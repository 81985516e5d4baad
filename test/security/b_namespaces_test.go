package security_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// labelEdit is one way to set (value != nil) or remove (nil) a label.
type labelEdit struct {
	name  string
	apply func(c client.Client, ns, key string, value *string) error
}

// labelEdits are every verb and patch type that can change a label: G29 asks
// for the same decision on each.
var labelEdits = []labelEdit{
	{"merge patch", func(c client.Client, ns, key string, value *string) error {
		v := "null"
		if value != nil {
			v = fmt.Sprintf("%q", *value)
		}
		return c.Patch(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s}}}`, key, v)))
	}},
	{"strategic merge patch", func(c client.Client, ns, key string, value *string) error {
		v := "null"
		if value != nil {
			v = fmt.Sprintf("%q", *value)
		}
		return c.Patch(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			client.RawPatch(types.StrategicMergePatchType, fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s}}}`, key, v)))
	}},
	{"JSON patch", func(c client.Client, ns, key string, value *string) error {
		live := &corev1.Namespace{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: ns}, live); err != nil {
			return err
		}
		path := "/metadata/labels/" + jsonPointerEscape(key)
		var op []map[string]any
		switch {
		case live.Labels == nil && value != nil:
			op = []map[string]any{{"op": "add", "path": "/metadata/labels", "value": map[string]string{key: *value}}}
		case value == nil:
			op = []map[string]any{{"op": "remove", "path": path}}
		default:
			op = []map[string]any{{"op": "add", "path": path, "value": *value}}
		}
		body, _ := json.Marshal(op)
		return c.Patch(context.Background(), live, client.RawPatch(types.JSONPatchType, body))
	}},
	{"update", func(c client.Client, ns, key string, value *string) error {
		live := &corev1.Namespace{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Name: ns}, live); err != nil {
			return err
		}
		if live.Labels == nil {
			live.Labels = map[string]string{}
		}
		if value == nil {
			delete(live.Labels, key)
		} else {
			live.Labels[key] = *value
		}
		return c.Update(context.Background(), live)
	}},
	{"server-side apply with force", func(c client.Client, ns, key string, value *string) error {
		if value == nil {
			return c.Patch(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
				client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, key)))
		}
		body := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q,"labels":{%q:%q}}}`, ns, key, *value)
		return c.Patch(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			client.RawPatch(types.ApplyPatchType, body), client.FieldOwner("attacker"), client.ForceOwnership)
	}},
	{"dry-run merge patch", func(c client.Client, ns, key string, value *string) error {
		v := "null"
		if value != nil {
			v = fmt.Sprintf("%q", *value)
		}
		return c.Patch(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s}}}`, key, v)), client.DryRunAll)
	}},
}

func jsonPointerEscape(s string) string {
	out := ""
	for _, r := range s {
		switch r {
		case '~':
			out += "~0"
		case '/':
			out += "~1"
		default:
			out += string(r)
		}
	}
	return out
}

func ptrTo(s string) *string { return &s }

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	err := env.Admin.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// everyEditRefused runs every label edit as the cluster admin (whom RBAC lets
// do anything) and expects the namespace policy to refuse each.
func everyEditRefused(t *testing.T, ns, key string, value *string) {
	t.Helper()
	for _, edit := range labelEdits {
		t.Run(edit.name, func(t *testing.T) {
			refused(t, edit.apply(admin, ns, key, value), byPolicy(policyNS))
		})
	}
}

func TestB_Namespaces(t *testing.T) {
	ctx := context.Background()
	ensureNamespace(t, "unmanaged")

	t.Run("B10 adding the tenant label to a namespace that is not the tenant's", func(t *testing.T) {
		for _, ns := range []string{"default", "kube-system", "unmanaged"} {
			t.Run(ns, func(t *testing.T) { everyEditRefused(t, ns, platformv1alpha1.TenantLabel, ptrTo("blue")) })
		}
		t.Run("owner reference to a Tenant", func(t *testing.T) {
			tenant := &platformv1alpha1.Tenant{}
			if err := env.Admin.Get(ctx, client.ObjectKey{Name: "blue"}, tenant); err != nil {
				t.Fatal(err)
			}
			body := fmt.Appendf(nil, `{"metadata":{"ownerReferences":[{"apiVersion":"platform.tenantai.io/v1alpha1","kind":"Tenant","name":"blue","uid":%q}]}}`, tenant.UID)
			err := admin.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "unmanaged"}}, client.RawPatch(types.MergePatchType, body))
			refused(t, err, byPolicy(policyNS))
		})
		t.Run("as the tenant owner", func(t *testing.T) {
			refused(t, labelEdits[0].apply(owner, "unmanaged", platformv1alpha1.TenantLabel, ptrTo("blue")), byRBAC())
		})
	})

	t.Run("B11 moving a tenant namespace to another tenant", func(t *testing.T) {
		everyEditRefused(t, "blue-dev", platformv1alpha1.TenantLabel, ptrTo("red"))
	})

	t.Run("B12 removing the tenant or Pod Security labels", func(t *testing.T) {
		for _, key := range []string{platformv1alpha1.TenantLabel, platformv1alpha1.ManagedByLabel, "pod-security.kubernetes.io/enforce"} {
			t.Run(key, func(t *testing.T) { everyEditRefused(t, "blue-dev", key, nil) })
		}
		t.Run("as the namespace's own service account", func(t *testing.T) {
			refused(t, labelEdits[0].apply(namespaceSA, "blue-prod", platformv1alpha1.TenantLabel, nil), byRBAC())
		})
		t.Run("and it stays refused over time", func(t *testing.T) {
			time.Sleep(2 * time.Second)
			refused(t, labelEdits[0].apply(admin, "blue-dev", "pod-security.kubernetes.io/enforce", nil), byPolicy(policyNS))
		})
	})

	t.Run("B13 downgrading Pod Security", func(t *testing.T) {
		everyEditRefused(t, "blue-dev", "pod-security.kubernetes.io/enforce", ptrTo("privileged"))
		everyEditRefused(t, "blue-dev", "pod-security.kubernetes.io/enforce-version", ptrTo("v1.20"))
		everyEditRefused(t, "blue-dev", "pod-security.kubernetes.io/audit", ptrTo("baseline"))
	})

	t.Run("B14 the owner cannot create namespaces", func(t *testing.T) {
		refused(t, owner.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "blue-extra"}}), byRBAC())
		// Nor can a cluster admin mint a tenant namespace by label.
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "blue-forged", Labels: map[string]string{platformv1alpha1.TenantLabel: "blue"}}}
		refused(t, admin.Create(ctx, ns), byPolicy(policyNS))
	})

	t.Run("B+ deleting a tenant namespace outside the Tenant", func(t *testing.T) {
		refused(t, admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "blue-dev"}}), byPolicy(policyNS))
	})

	t.Run("B+ ordinary namespaces are untouched", func(t *testing.T) {
		if err := labelEdits[0].apply(admin, "unmanaged", "team", ptrTo("data")); err != nil {
			t.Fatalf("labelling an unmanaged namespace: %v", err)
		}
		if err := labelEdits[0].apply(admin, "unmanaged", "pod-security.kubernetes.io/enforce", ptrTo("baseline")); err != nil {
			t.Fatalf("Pod Security labels of a non-tenant namespace are not tenantai's business: %v", err)
		}
	})
}
