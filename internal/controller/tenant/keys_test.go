package tenant_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	. "github.com/tenantai/tenantai/internal/testutil"
)

// TestKeyRotation backdates the last rotation of a tenant's key (as a
// break-glass admin would find it after a rotation period) and expects a new
// active version, earlier versions kept, every copy updated, and no key
// material in the status or Events.
func TestKeyRotation(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("rotate").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	readyTenant(t, g, env, tn)
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())

	key := client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret("rotate")}
	canonical := &corev1.Secret{}
	g.Expect(env.Admin.Get(ctx, key, canonical)).To(gomega.Succeed())
	v1 := append([]byte(nil), canonical.Data["v1"]...)
	patch := client.MergeFrom(canonical.DeepCopy())
	canonical.Annotations["platform.tenantai.io/key-rotated-at"] = time.Now().Add(-721 * time.Hour).UTC().Format(time.RFC3339)
	g.Expect(admin.Patch(ctx, canonical, patch)).To(gomega.Succeed())

	g.Eventually(func() int32 { got, _ := getTenant(env, "rotate")(); return got.Status.KeyVersion }).Should(gomega.Equal(int32(2)))
	g.Expect(env.Admin.Get(ctx, key, canonical)).To(gomega.Succeed())
	g.Expect(string(canonical.Data["active"])).To(gomega.Equal("v2"))
	g.Expect(canonical.Data["v1"]).To(gomega.Equal(v1), "rotation must keep earlier versions for decryption")
	g.Expect(canonical.Data["v2"]).To(gomega.HaveLen(32))
	g.Expect(canonical.Data["v2"]).NotTo(gomega.Equal(v1))
	for _, ns := range []string{"rotate-prod", "rotate-dev"} {
		g.Eventually(func() string {
			copyOf := &corev1.Secret{}
			_ = env.Admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: naming.DataKeySecret}, copyOf)
			return string(copyOf.Data["active"])
		}).Should(gomega.Equal("v2"), "copy in %s not rotated", ns)
	}
	g.Eventually(eventReasons(env, "rotate")).Should(gomega.ContainElement("KeyRotated"))

	// No key material in the status or any Event about the tenant.
	got, _ := getTenant(env, "rotate")()
	status, _ := json.Marshal(got.Status)
	events := &eventsv1.EventList{}
	g.Expect(env.Admin.List(ctx, events)).To(gomega.Succeed())
	var notes strings.Builder
	for _, e := range events.Items {
		notes.WriteString(e.Note)
	}
	for _, material := range [][]byte{canonical.Data["v1"], canonical.Data["v2"]} {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(material), string(material)} {
			g.Expect(string(status)).NotTo(gomega.ContainSubstring(enc))
			g.Expect(notes.String()).NotTo(gomega.ContainSubstring(enc))
		}
	}
}
