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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/naming"
	"github.com/tenantai/tenantai/internal/testenv"
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

func canonicalKey(env *testenv.Env, tenant string) func() (*corev1.Secret, error) {
	return func() (*corev1.Secret, error) {
		s := &corev1.Secret{}
		err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: naming.CanonicalKeySecret(tenant)}, s)
		return s, err
	}
}

func keyCopy(env *testenv.Env, ns string) func() map[string][]byte {
	return func() map[string][]byte {
		s := &corev1.Secret{}
		if err := env.Admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: naming.DataKeySecret}, s); err != nil {
			return map[string][]byte{"error": []byte(err.Error())}
		}
		return s.Data
	}
}

// TestLostKeyIsRecoveredNeverReplaced deletes a tenant's canonical data key:
// the operator rebuilds it from the copies in the tenant's namespaces (the
// same material, not a fresh v1 force-applied over every copy), and says so.
func TestLostKeyIsRecoveredNeverReplaced(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("lostkey").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	readyTenant(t, g, env, tn)
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	before, err := canonicalKey(env, "lostkey")()
	g.Expect(err).NotTo(gomega.HaveOccurred())

	g.Expect(admin.Delete(ctx, before)).To(gomega.Succeed())
	g.Eventually(func(g gomega.Gomega) {
		after, err := canonicalKey(env, "lostkey")()
		g.Expect(err).NotTo(gomega.HaveOccurred())
		g.Expect(after.UID).NotTo(gomega.Equal(before.UID))
		g.Expect(after.Data).To(gomega.Equal(before.Data), "the recovered key is not the lost one")
	}).Should(gomega.Succeed())
	for _, ns := range []string{"lostkey-prod", "lostkey-dev"} {
		g.Consistently(keyCopy(env, ns), time.Second).Should(gomega.Equal(before.Data), "the copy in %s was overwritten", ns)
	}
	g.Eventually(eventReasons(env, "lostkey")).Should(gomega.ContainElement(platformv1alpha1.EventReasonKeyRecovered))
	g.Expect(condition(env, "lostkey", platformv1alpha1.ConditionReady)()).To(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
}

// TestKeyCopiesAreNeverOverwritten: a copy holding a version the canonical
// key lacks gives it to the canonical key; a copy holding other material for
// a version the canonical key has is left alone, and the tenant is Stalled
// with KeyConflict naming it, while its other namespaces carry on.
func TestKeyCopiesAreNeverOverwritten(t *testing.T) {
	env, g := setup(t)
	ctx := context.Background()
	tn := MakeTenant("keycopies").Namespaces("prod", "dev").QuotaPolicy(platformv1alpha1.QuotaOptional).Obj()
	readyTenant(t, g, env, tn)
	admin, err := env.BreakGlass()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	canonical, err := canonicalKey(env, "keycopies")()
	g.Expect(err).NotTo(gomega.HaveOccurred())
	v1 := canonical.Data["v1"]

	// A version only a copy holds (the canonical key was restored from an
	// older backup, say): it is added to the canonical key and every copy.
	v9 := []byte("nine-nine-nine-nine-nine-nine-99")
	editCopy(g, admin, "keycopies-prod", func(data map[string][]byte) { data["v9"] = v9; data["active"] = []byte("v9") })
	g.Eventually(func() string {
		c, _ := canonicalKey(env, "keycopies")()
		return string(c.Data["v9"])
	}).Should(gomega.Equal(string(v9)), "the version only a copy held was not kept")
	g.Eventually(keyCopy(env, "keycopies-dev")).Should(gomega.HaveKeyWithValue("v9", v9))
	g.Eventually(func() int32 { got, _ := getTenant(env, "keycopies")(); return got.Status.KeyVersion }).Should(gomega.Equal(int32(9)))

	// Other material for v1 in one copy: neither side is overwritten.
	forged := []byte("forged-forged-forged-forged-0001")
	editCopy(g, admin, "keycopies-dev", func(data map[string][]byte) { data["v1"] = forged })
	g.Eventually(condition(env, "keycopies", platformv1alpha1.ConditionStalled)).
		Should(gomega.Equal("True/" + platformv1alpha1.TenantReasonKeyConflict))
	g.Consistently(keyCopy(env, "keycopies-dev"), 2*time.Second).Should(gomega.HaveKeyWithValue("v1", forged), "the conflicting copy was overwritten")
	g.Expect(keyCopy(env, "keycopies-prod")()).To(gomega.HaveKeyWithValue("v1", v1))
	c, _ := canonicalKey(env, "keycopies")()
	g.Expect(c.Data["v1"]).To(gomega.Equal(v1), "the canonical key was overwritten")
	msg, _ := getTenant(env, "keycopies")()
	g.Expect(conditionMessage(msg, platformv1alpha1.ConditionStalled)).To(gomega.ContainSubstring("keycopies-dev"))

	// The admin decides for the canonical key: deleting the forged copy lets
	// the operator restore it, and the stall clears.
	g.Expect(admin.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "keycopies-dev", Name: naming.DataKeySecret}})).To(gomega.Succeed())
	g.Eventually(keyCopy(env, "keycopies-dev")).Should(gomega.HaveKeyWithValue("v1", v1))
	g.Eventually(condition(env, "keycopies", platformv1alpha1.ConditionReady)).Should(gomega.Equal("True/" + platformv1alpha1.ReasonReconciled))
}

func editCopy(g gomega.Gomega, admin client.Client, ns string, edit func(map[string][]byte)) {
	g.Eventually(func() error {
		s := &corev1.Secret{}
		if err := admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: naming.DataKeySecret}, s); err != nil {
			return err
		}
		edit(s.Data)
		return admin.Update(context.Background(), s)
	}).Should(gomega.Succeed())
}

func conditionMessage(tn *platformv1alpha1.Tenant, condType string) string {
	for _, c := range tn.Status.Conditions {
		if c.Type == condType {
			return c.Message
		}
	}
	return ""
}
