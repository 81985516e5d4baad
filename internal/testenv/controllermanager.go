package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// controllerManagerControllers are the kube-controller-manager controllers a
// test environment needs: quota accounting (status.used and status.hard),
// namespace deletion, garbage collection, service accounts, and the
// aggregation that fills the built-in admin/edit/view roles.
const controllerManagerControllers = "resourcequota,namespace,garbagecollector,serviceaccount,serviceaccount-token,clusterrole-aggregation"

// ControllerManager is a kube-controller-manager process run against envtest.
type ControllerManager struct {
	cmd  *exec.Cmd
	dir  string
	logs *bytes.Buffer
	done chan struct{}
}

// StartControllerManager runs kube-controller-manager against the env's API
// server, as a system:masters user, with the controllers tests rely on plus
// extraControllers (comma-separated) and extraFlags.
func StartControllerManager(e *Env, extraControllers string, extraFlags ...string) (*ControllerManager, error) {
	bin, err := Binary(e.Root, "kube-controller-manager")
	if err != nil {
		return nil, err
	}
	cfg, err := e.UserConfig("kube-controller-manager-test", "system:masters")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tenantai-kcm-")
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(kubeconfig, cfg); err != nil {
		return nil, err
	}
	certDir := e.Environment.ControlPlane.APIServer.CertDir
	cm := &ControllerManager{dir: dir, logs: &bytes.Buffer{}, done: make(chan struct{})}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Trim(controllerManagerControllers+","+extraControllers, ","),
		"--service-account-private-key-file=" + filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file=" + filepath.Join(certDir, "apiserver.crt"),
		"--leader-elect=false",
		// Each controller acts as its own service account (as in production), so
		// admission policies see the garbage collector and the namespace
		// controller by name.
		"--use-service-account-credentials=true",
		"--secure-port=0",
		"--concurrent-resource-quota-syncs=4",
		"--resource-quota-sync-period=30s",
		"-v=1",
	}
	cm.cmd = exec.Command(bin, append(args, extraFlags...)...)
	cm.cmd.Stdout, cm.cmd.Stderr = cm.logs, cm.logs
	cm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cm.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { _ = cm.cmd.Wait(); close(cm.done) }()
	select {
	case <-cm.done:
		return nil, fmt.Errorf("kube-controller-manager exited at start:\n%s", cm.logs.String())
	case <-time.After(500 * time.Millisecond):
	}
	return cm, nil
}

// Logs returns what kube-controller-manager has printed so far.
func (c *ControllerManager) Logs() string { return c.logs.String() }

// Stop ends kube-controller-manager and removes its files.
func (c *ControllerManager) Stop() error {
	if c == nil || c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	return os.RemoveAll(c.dir)
}

// WriteKubeconfig writes a kubeconfig file that authenticates with cfg's client
// certificate, for the Kubernetes binaries and kubectl.
func WriteKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "user"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}
