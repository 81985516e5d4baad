// Package testenv starts a real kube-apiserver and etcd (envtest) with
// tenantai's CRDs, RBAC and admission policies installed, runs the operator's
// real manager in it under the operator's own service-account identity, and
// optionally runs kube-controller-manager against it. Every integration suite
// of the project uses it, so all of them test the operator as it is deployed.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/manager"
)

// KubeVersion is the Kubernetes version whose binaries hack/build-k8s.sh builds.
const KubeVersion = "v1.37.2"

// Options selects what a test environment runs.
type Options struct {
	// ControllerManager also runs kube-controller-manager (quota, namespace,
	// garbage collector and service-account controllers) against the API server.
	ControllerManager bool
	// ExtraControllers are further kube-controller-manager controllers, e.g.
	// "deployment,replicaset" to have pods created from Deployments.
	ExtraControllers string
	// SkipInstall leaves the API server empty: no CRDs, operator namespace,
	// RBAC or admission policies, for tests that install tenantai
	// themselves (dist/install.yaml, the Helm chart).
	SkipInstall bool
	// ControllerManagerFlags are extra kube-controller-manager flags (last
	// wins), e.g. a higher --kube-api-qps for benchmarks.
	ControllerManagerFlags []string
	// APIServerFlags are extra kube-apiserver flags (name without dashes),
	// e.g. an audit policy for benchmarks.
	APIServerFlags map[string]string
	// Setup runs once the environment is up (e.g. to start the manager); the
	// function it returns runs before the environment stops.
	Setup func(*Env) (func(), error)
}

// Env is a running test environment.
type Env struct {
	Environment *envtest.Environment
	// Admin is a system:masters client, for setting up fixtures only. Tests
	// that act on guardrails "as an admin" use BreakGlass instead.
	Admin client.Client
	// AdminConfig is the system:masters REST config.
	AdminConfig *rest.Config
	// OperatorConfig authenticates as the operator's service account.
	OperatorConfig *rest.Config
	// Root is the repository root.
	Root string
	// Writes counts the write requests of managers started by StartManager.
	Writes *WriteCounter

	kcm *ControllerManager
}

// Start starts the API server with tenantai's CRDs and the operator's RBAC.
// The operator itself is started separately with StartManager.
func Start(opts Options) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := AssetsDir(root)
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		ErrorIfCRDPathMissing: true,
		Scheme:                manager.NewScheme(),
	}
	if !opts.SkipInstall {
		te.CRDDirectoryPaths = []string{filepath.Join(root, "config", "crd", "bases")}
	}
	for name, value := range opts.APIServerFlags {
		te.ControlPlane.GetAPIServer().Configure().Set(name, value)
	}
	// The namespace controller of kube-controller-manager needs the
	// ServiceAccount admission plugin off (envtest's default) only when no
	// token controller runs; keep envtest's defaults otherwise.
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (assets %s): %w", assets, err)
	}
	env := &Env{Environment: te, AdminConfig: cfg, Root: root, Writes: &WriteCounter{}}
	if err := env.setup(opts); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return env, nil
}

func (e *Env) setup(opts Options) error {
	var err error
	e.Admin, err = client.New(e.AdminConfig, client.Options{Scheme: manager.NewScheme()})
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	if !opts.SkipInstall {
		if err := e.install(); err != nil {
			return err
		}
	}
	e.OperatorConfig, err = e.UserConfig(platformv1alpha1.OperatorUsername,
		"system:serviceaccounts", "system:serviceaccounts:"+platformv1alpha1.OperatorNamespace)
	if err != nil {
		return err
	}
	if opts.ControllerManager {
		e.kcm, err = StartControllerManager(e, opts.ExtraControllers, opts.ControllerManagerFlags...)
		if err != nil {
			return err
		}
	}
	return nil
}

// install creates the operator's namespace, RBAC and admission policies from
// config/, as the admin.
func (e *Env) install() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.ensureNamespace(ctx, platformv1alpha1.OperatorNamespace); err != nil {
		return err
	}
	if err := e.ApplyManifestDir(ctx, filepath.Join(e.Root, "config", "rbac")); err != nil {
		return fmt.Errorf("installing the operator's RBAC: %w", err)
	}
	if err := e.ApplyManifestDir(ctx, filepath.Join(e.Root, "config", "policies")); err != nil {
		return fmt.Errorf("installing the admission policies: %w", err)
	}
	return nil
}

// UserConfig returns a REST config that authenticates as the given user and
// groups (system:authenticated is added by the API server).
func (e *Env) UserConfig(name string, groups ...string) (*rest.Config, error) {
	u, err := e.Environment.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding envtest user %s: %w", name, err)
	}
	cfg := rest.CopyConfig(u.Config())
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}

// UserClient returns a client that authenticates as the given user and groups.
func (e *Env) UserClient(name string, groups ...string) (client.Client, error) {
	cfg, err := e.UserConfig(name, groups...)
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: manager.NewScheme()})
}

// OperatorClient returns a client with the operator's identity, for fixtures
// that stand in for something the operator would have written.
func (e *Env) OperatorClient() (client.Client, error) {
	return client.New(e.OperatorConfig, client.Options{Scheme: manager.NewScheme()})
}

// BreakGlass returns a cluster-admin client in the break-glass group, the
// identity a platform admin uses to edit guardrails in an emergency.
func (e *Env) BreakGlass() (client.Client, error) {
	return e.UserClient("break-glass-admin", platformv1alpha1.BreakGlassGroup, "system:masters")
}

func (e *Env) ensureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Admin.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// StartManager runs the operator's manager as the operator's service account
// until ctx ends. The returned function stops it and waits for it to exit.
func (e *Env) StartManager(ctx context.Context, cfg manager.Config) (ctrl.Manager, func(), error) {
	cfg.MetricsBindAddress = "0"
	cfg.HealthProbeBindAddress = "0"
	cfg.SkipNameValidation = true
	if cfg.NewClient == nil {
		cfg.NewClient = e.Writes.NewClientFunc()
	}
	mgr, err := manager.New(e.OperatorConfig, cfg)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "manager exited: %v\n", err)
		}
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		stop()
		return nil, nil, errors.New("manager caches did not sync within a minute")
	}
	return mgr, stop, nil
}

// TestConfig is the manager configuration integration tests use: a resync so
// long that only watches can repair drift within a test.
func TestConfig() manager.Config {
	c := manager.DefaultConfig()
	c.SyncPeriod = 24 * time.Hour
	c.LeaderElection = false
	return c
}

// Stop stops kube-controller-manager (if running) and the control plane.
func (e *Env) Stop() error {
	var errs []error
	if e.kcm != nil {
		errs = append(errs, e.kcm.Stop())
	}
	errs = append(errs, e.Environment.Stop())
	return errors.Join(errs...)
}
