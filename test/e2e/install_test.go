//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/testenv"
)

// The install paths run on a cluster of their own, "<suite cluster>-install",
// created empty for them and deleted after them. Not on the suite's cluster:
//   - there, `hack/local-cluster.sh install` has already created the
//     namespace, service account, RBAC and policies, so installing again would
//     prove nothing about what dist/install.yaml or the chart bring;
//   - uninstalling (which is part of what is tested) removes the service
//     account whose token the suite's operator runs with, and the specs of
//     the suite run in random order;
//   - two operators in one cluster compete for one leader Lease: the second
//     would stand by and the Tenant would be reconciled by the suite's.
//
// A control plane comes up in about 10 s and runs idle while the other specs
// run, so the isolation is cheap.
var _ = Describe("Install paths", Ordered, Label("install"), func() {
	const (
		installHealthPort = "18083"
		sampleTenant      = "config/samples/platform_v1alpha1_tenant.yaml"
		sampleQuota       = "config/samples/platform_v1alpha1_tenantquota.yaml"
		managerName       = "tenantai-controller-manager"
	)
	var (
		ic   *cluster
		helm string
	)
	// path is a file of the repository, for kubectl (which runs in the
	// package's directory).
	path := func(rel string) string { return filepath.Join(c.root, rel) }
	crds := []string{"crd/tenants.platform.tenantai.io", "crd/tenantquotas.platform.tenantai.io", "crd/modeldeployments.platform.tenantai.io"}

	kubectl := func(ctx context.Context, args ...string) string {
		GinkgoHelper()
		out, err := ic.kubectl(ctx, args...)
		Expect(err).NotTo(HaveOccurred(), "kubectl %s:\n%s", strings.Join(args, " "), out)
		return out
	}
	runHelm := func(ctx context.Context, args ...string) string {
		GinkgoHelper()
		home := GinkgoT().TempDir()
		cmd := exec.CommandContext(ctx, helm, append([]string{"--kubeconfig", ic.kubeconfig}, args...)...)
		cmd.Dir = ic.root
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
			"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "helm %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}

	BeforeAll(func(ctx SpecContext) {
		var err error
		helm, err = testenv.HelmBinary(c.root)
		Expect(err).NotTo(HaveOccurred())
		ic = newNamedCluster(c.root, c.name+"-install", installHealthPort)
		if status, _ := ic.run(ctx, "status"); strings.Contains(status, "cluster "+ic.name+": running") {
			By("deleting the leftover cluster " + ic.name + ": the install paths need an empty one")
			out, err := ic.run(ctx, "down")
			Expect(err).NotTo(HaveOccurred(), out)
		}
		By("bringing up the empty cluster " + ic.name)
		out, err := ic.run(ctx, "up")
		Expect(err).NotTo(HaveOccurred(), "hack/local-cluster.sh up:\n%s", out)
		ic.connect()
		DeferCleanup(func(ctx SpecContext) {
			out, err := ic.run(ctx, "operator-stop")
			Expect(err).NotTo(HaveOccurred(), out)
			if os.Getenv("E2E_KEEP_CLUSTER") != "" {
				GinkgoWriter.Printf("leaving cluster %s running; KUBECONFIG=%s\n", ic.name, ic.kubeconfig)
				return
			}
			out, err = ic.run(ctx, "down")
			Expect(err).NotTo(HaveOccurred(), out)
		}, NodeTimeout(2*time.Minute))
	}, NodeTimeout(5*time.Minute))

	AfterEach(func() {
		if !CurrentSpecReport().Failed() || ic == nil {
			return
		}
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, _ := ic.kubectl(dctx, "get", "tenants,tenantquotas,namespaces,deployments,pods", "-A", "-o", "wide")
		GinkgoWriter.Printf("\n===== cluster %s =====\n%s", ic.name, out)
		out, _ = ic.kubectl(dctx, "get", "tenants", "-o", "yaml")
		GinkgoWriter.Printf("%s", out)
		out, _ = ic.kubectl(dctx, "get", "events", "-n", platformv1alpha1.OperatorNamespace, "--sort-by=.lastTimestamp")
		GinkgoWriter.Printf("--- events in %s ---\n%s", platformv1alpha1.OperatorNamespace, out)
		GinkgoWriter.Printf("\n===== operator log (%s) =====\n%s", ic.operatorLog, tail(ic.operatorLog, 60))
		for _, comp := range []string{"kube-controller-manager", "kube-scheduler", "kube-apiserver"} {
			path := filepath.Join(ic.logDir, comp+".log")
			GinkgoWriter.Printf("\n===== %s (%s) =====\n%s", comp, path, tail(path, 30))
		}
	})

	// managerAvailable: the installed manager Deployment reports all its
	// replicas available. kwok plays the kubelet: the pods are scheduled and
	// shown Running and Ready, though no container runs.
	managerAvailable := func(ctx context.Context) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(ic.client.Get(ctx, client.ObjectKey{Namespace: platformv1alpha1.OperatorNamespace, Name: managerName}, d)).To(Succeed())
			g.Expect(d.Spec.Template.Spec.ServiceAccountName).To(Equal(platformv1alpha1.OperatorServiceAccount))
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
			g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas), "available replicas")
			available := false
			for _, cond := range d.Status.Conditions {
				available = available || (cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue)
			}
			g.Expect(available).To(BeTrue(), "Deployment condition Available")
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(poll).Should(Succeed())
	}

	// operatorReconcilesSamples runs the operator as a host process with a
	// TokenRequest token of the installed service account (the Deployment's
	// pods run nothing), applies the sample Tenant and TenantQuota, and waits
	// until both are Ready.
	operatorReconcilesSamples := func(ctx context.Context) {
		GinkgoHelper()
		By("running the operator with a token of the installed service account")
		out, err := ic.run(ctx, "operator")
		Expect(err).NotTo(HaveOccurred(), "hack/local-cluster.sh operator:\n%s", out)
		Expect(out).To(ContainSubstring("identity: " + platformv1alpha1.OperatorUsername))
		By("applying the sample Tenant and TenantQuota")
		kubectl(ctx, "apply", "--server-side", "-f", path(sampleTenant), "-f", path(sampleQuota))
		expectReadyIn(ctx, ic, &platformv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}, 2*time.Minute)
		expectReadyIn(ctx, ic, &platformv1alpha1.TenantQuota{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}, 2*time.Minute)
	}

	It("dist/install.yaml installs a manager that reconciles the sample Tenant, and uninstalls cleanly", func(ctx SpecContext) {
		By("kubectl apply --server-side -f dist/install.yaml")
		kubectl(ctx, "apply", "--server-side", "-f", path("dist/install.yaml"))
		kubectl(ctx, append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, crds...)...)
		managerAvailable(ctx)
		operatorReconcilesSamples(ctx)

		By("uninstalling as docs/install.md says: Tenants first (Delete policy), while the operator runs")
		kubectl(ctx, "patch", "tenant", "acme", "--type=merge", "-p", `{"spec":{"deletionPolicy":"Delete"}}`)
		kubectl(ctx, "delete", "-f", path(sampleQuota), "-f", path(sampleTenant), "--wait", "--timeout=2m")
		for _, ns := range []string{"acme-prod", "acme-dev"} {
			Eventually(goneIn(ctx, ic, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).WithContext(ctx).
				WithTimeout(2*time.Minute).WithPolling(time.Second).Should(BeTrue(), "namespace %s still exists", ns)
		}
		out, err := ic.run(ctx, "operator-stop")
		Expect(err).NotTo(HaveOccurred(), out)
		By("kubectl delete -f dist/install.yaml")
		kubectl(ctx, "delete", "-f", path("dist/install.yaml"), "--wait", "--timeout=3m")
		Eventually(goneIn(ctx, ic, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: platformv1alpha1.OperatorNamespace}})).
			WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(BeTrue(), "namespace %s still exists", platformv1alpha1.OperatorNamespace)
		kubectl(ctx, "wait", "--for=delete", "--timeout=60s", "crd/tenants.platform.tenantai.io")
	}, SpecTimeout(8*time.Minute))

	It("the Helm chart installs a manager that reconciles the sample Tenant; helm uninstall keeps the CRDs and the tenant", func(ctx SpecContext) {
		By("helm install tenantai dist/chart --namespace tenantai-system --create-namespace --wait")
		runHelm(ctx, "install", "tenantai", "dist/chart", "--namespace", platformv1alpha1.OperatorNamespace,
			"--create-namespace", "--wait", "--timeout", "3m")
		managerAvailable(ctx)
		operatorReconcilesSamples(ctx)

		By("helm uninstall, with the operator stopped first (its service account goes with the release)")
		out, err := ic.run(ctx, "operator-stop")
		Expect(err).NotTo(HaveOccurred(), out)
		out = runHelm(ctx, "uninstall", "tenantai", "--namespace", platformv1alpha1.OperatorNamespace, "--wait", "--timeout", "2m")
		for _, crd := range crds {
			Expect(out).To(ContainSubstring("[CustomResourceDefinition] "+strings.TrimPrefix(crd, "crd/")), "helm uninstall reports the kept CRDs")
		}
		Eventually(goneIn(ctx, ic, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: platformv1alpha1.OperatorNamespace, Name: managerName}})).
			WithContext(ctx).WithTimeout(time.Minute).WithPolling(poll).Should(BeTrue(), "the manager Deployment is removed")

		By("the CRDs, the Tenant and its namespaces are still there")
		kubectl(ctx, append([]string{"get"}, crds...)...)
		tenant := &platformv1alpha1.Tenant{}
		Expect(ic.client.Get(ctx, client.ObjectKey{Name: "acme"}, tenant)).To(Succeed())
		Expect(tenant.DeletionTimestamp).To(BeNil())
		for _, name := range []string{"acme-prod", "acme-dev"} {
			ns := &corev1.Namespace{}
			Expect(ic.client.Get(ctx, client.ObjectKey{Name: name}, ns)).To(Succeed())
			Expect(ns.DeletionTimestamp).To(BeNil(), "namespace %s is being deleted", name)
			Expect(ns.Labels).To(HaveKeyWithValue(platformv1alpha1.TenantLabel, "acme"))
		}
	}, SpecTimeout(8*time.Minute))
})
