//go:build e2e

// Package e2e proves tenantai's claims on a local cluster with the real
// Kubernetes controllers: kube-apiserver admission (quota, Pod Security),
// kube-controller-manager (Deployments, quota accounting, the HPA, namespace
// deletion), kube-scheduler placing pods on fake GPU nodes served by kwok, and
// metrics-server fed by kwok's emulated resource usage. The operator runs as
// a host process under its own service account, as in `make demo`.
//
// Run with `make test-e2e` (build tag e2e; plain `go test ./...` skips the
// package). The suite brings up the cluster "tenantai-e2e" with
// hack/local-cluster.sh, or reuses it when it already runs; it deletes a
// cluster it created unless E2E_KEEP_CLUSTER=1. See docs/local-cluster.md.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tenantai/tenantai/internal/manager"
	"github.com/tenantai/tenantai/internal/testenv"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	// Clients made later in the run (a spec's own cluster) would otherwise
	// make controller-runtime print a stack trace about a missing logger.
	ctrllog.SetLogger(GinkgoLogr)
	RunSpecs(t, "tenantai e2e (local cluster)")
}

// cluster is what the specs share: the local cluster and its clients, all
// as the cluster admin (kwokctl's system:masters certificate). The operator
// itself runs under its service account in its own process.
type cluster struct {
	root       string
	name       string
	kubeconfig string
	kubectlBin string
	script     string
	// logDir holds the components' logs, operatorLog the operator's.
	logDir      string
	operatorLog string
	// created: the suite created the cluster, so it deletes it at the end.
	created bool
	// healthPort is the operator's /readyz port on 127.0.0.1: one per
	// cluster, since two clusters' operators may run at once.
	healthPort string
	config     *rest.Config
	client     client.WithWatch
}

var c *cluster

const operatorHealthPort = "18082"

var _ = BeforeSuite(func(ctx SpecContext) {
	root, err := testenv.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	c = newCluster(root)
	status, _ := c.run(ctx, "status")
	c.created = !strings.Contains(status, "cluster "+c.name+": running")
	By("bringing up the local cluster " + c.name)
	start := time.Now()
	out, err := c.run(ctx, "up")
	Expect(err).NotTo(HaveOccurred(), "hack/local-cluster.sh up:\n%s", out)
	GinkgoWriter.Printf("cluster %s up in %s (reused: %v)\n", c.name, time.Since(start).Round(time.Second), !c.created)
	By("installing CRDs, RBAC and admission policies")
	out, err = c.run(ctx, "install")
	Expect(err).NotTo(HaveOccurred(), "hack/local-cluster.sh install:\n%s", out)
	By("starting the operator as a host process, as its service account")
	out, err = c.run(ctx, "operator")
	Expect(err).NotTo(HaveOccurred(), "hack/local-cluster.sh operator:\n%s", out)
	GinkgoWriter.Print(out)

	c.connect()
}, NodeTimeout(10*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	if c == nil {
		return
	}
	out, err := c.run(ctx, "operator-stop")
	Expect(err).NotTo(HaveOccurred(), out)
	if c.created && os.Getenv("E2E_KEEP_CLUSTER") == "" {
		By("deleting the local cluster " + c.name + " (E2E_KEEP_CLUSTER=1 keeps it)")
		out, err := c.run(ctx, "down")
		Expect(err).NotTo(HaveOccurred(), out)
	} else {
		GinkgoWriter.Printf("leaving cluster %s running; KUBECONFIG=%s; delete it with LOCAL_CLUSTER_NAME=%s hack/local-cluster.sh down\n",
			c.name, c.kubeconfig, c.name)
	}
}, NodeTimeout(2*time.Minute))

func newCluster(root string) *cluster {
	name := os.Getenv("E2E_CLUSTER")
	if name == "" {
		name = "tenantai-e2e"
	}
	return newNamedCluster(root, name, operatorHealthPort)
}

// newNamedCluster describes a local cluster by name; the operator that
// hack/local-cluster.sh starts for it serves /readyz on healthPort.
func newNamedCluster(root, name, healthPort string) *cluster {
	workdir := os.Getenv("KWOK_WORKDIR")
	if workdir == "" {
		workdir = filepath.Join(root, ".cache", "kwok")
	}
	state := filepath.Join(root, ".cache", "local-cluster", name)
	return &cluster{
		root:        root,
		name:        name,
		kubeconfig:  filepath.Join(state, "kubeconfig"),
		kubectlBin:  filepath.Join(root, "bin", "k8s", testenv.KubeVersion, "kubectl"),
		script:      filepath.Join(root, "hack", "local-cluster.sh"),
		logDir:      filepath.Join(workdir, "clusters", name, "logs"),
		operatorLog: filepath.Join(state, "operator.log"),
		healthPort:  healthPort,
	}
}

// connect builds the admin clients of a running cluster.
func (cl *cluster) connect() {
	GinkgoHelper()
	var err error
	cl.config, err = clientcmd.BuildConfigFromFlags("", cl.kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	cl.config.QPS, cl.config.Burst = 50, 100
	cl.client, err = client.NewWithWatch(cl.config, client.Options{Scheme: manager.NewScheme()})
	Expect(err).NotTo(HaveOccurred())
}

// run runs hack/local-cluster.sh for the cluster.
func (cl *cluster) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, cl.script, args...)
	cmd.Dir = cl.root
	cmd.Env = append(os.Environ(), "LOCAL_CLUSTER_NAME="+cl.name, "OPERATOR_HEALTH_PORT="+cl.healthPort)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kubectl runs the project's kubectl as the cluster admin.
func (cl *cluster) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, cl.kubectlBin, append([]string{"--kubeconfig", cl.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// diagnostics are printed when a spec fails: the state of its namespaces and
// the end of every component's log.
var specNamespaces []string

var _ = BeforeEach(func() { specNamespaces = nil })

var _ = AfterEach(func(_ SpecContext) {
	if !CurrentSpecReport().Failed() || c == nil {
		return
	}
	// The spec's own context may be done (a timeout): use a fresh one.
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ns := range specNamespaces {
		out, _ := c.kubectl(dctx, "get", "modeldeployments,deployments,replicasets,pods,hpa,resourcequotas", "-n", ns, "-o", "wide")
		GinkgoWriter.Printf("\n===== namespace %s =====\n%s", ns, out)
		out, _ = c.kubectl(dctx, "get", "modeldeployments,hpa,resourcequotas", "-n", ns, "-o", "yaml")
		GinkgoWriter.Printf("%s", out)
		out, _ = c.kubectl(dctx, "get", "events", "-n", ns, "--sort-by=.lastTimestamp")
		GinkgoWriter.Printf("--- events in %s ---\n%s", ns, out)
	}
	out, _ := c.kubectl(dctx, "get", "tenants,tenantquotas,nodes", "-o", "wide")
	GinkgoWriter.Printf("\n===== cluster =====\n%s", out)
	GinkgoWriter.Printf("\n===== operator log (%s) =====\n%s", c.operatorLog, tail(c.operatorLog, 60))
	for _, comp := range []string{"kube-controller-manager", "kube-scheduler", "kwok-controller", "metrics-server", "kube-apiserver"} {
		path := filepath.Join(c.logDir, comp+".log")
		GinkgoWriter.Printf("\n===== %s (%s) =====\n%s", comp, path, tail(path, 30))
	}
}, NodeTimeout(2*time.Minute))

// tail returns the last n lines of a log, leaving out metrics-server's
// harmless complaints about the request-header CA (none is configured).
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)\n", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if strings.Contains(l, "extension-apiserver-authentication") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
