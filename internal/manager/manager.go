// Package manager builds the controller-runtime manager of tenantai: its scheme,
// its label-restricted caches and its controllers. cmd/main.go and the test
// harnesses share it, so tests run the operator exactly as it is deployed.
package manager

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/apply"
	"github.com/tenantai/tenantai/internal/controller/tenantquota"
	tenantaimetrics "github.com/tenantai/tenantai/internal/metrics"
	"github.com/tenantai/tenantai/internal/observed"
)

// NewScheme returns a scheme with the Kubernetes kinds and tenantai's kinds.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(platformv1alpha1.AddToScheme(s))
	return s
}

// Config is what a caller may change about the manager.
type Config struct {
	MetricsBindAddress     string
	HealthProbeBindAddress string
	LeaderElection         bool
	LeaderElectionID       string
	// LeaderElectionNamespace defaults to the operator's namespace.
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election;
	// zero keeps controller-runtime's defaults (15s, 10s, 2s). Tests shorten
	// them to exercise failover quickly.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// SyncPeriod is the informers' full resync; long by design, since drift
	// is repaired from watches, not from resyncs.
	SyncPeriod time.Duration
	// MaxConcurrentReconciles per controller.
	MaxConcurrentReconciles int
	// QPS and Burst limit the operator's client-side request rate; zero
	// keeps the rest.Config's own values, which for a deployed operator
	// (ctrl.GetConfig) means no client-side limit: the API server's Priority
	// and Fairness queues the operator's requests fairly instead, which is
	// what lets provisioning run at the API server's pace (see
	// docs/benchmarks.md). A negative QPS also disables the limit.
	QPS   float32
	Burst int
	// MetricsInsecure serves metrics over plain HTTP without authentication,
	// for a metrics address bound to loopback (benchmarks, local runs).
	MetricsInsecure bool
	// PprofBindAddress serves net/http/pprof; empty disables it.
	PprofBindAddress string
	// CostTeamLabel, when set, is a label key (e.g. "team", OpenCost's team
	// label) that the operator also sets to the tenant's name on tenant
	// namespaces and ModelDeployment pod templates, beside the tenant label.
	// Empty (the default) sets no such label. See docs/cost.md.
	CostTeamLabel string
	// AcceleratorPrefixes are the resource-name prefixes that make a resource
	// an accelerator, which a tenant's pods may request only when its
	// TenantQuota names it; empty means naming.DefaultAcceleratorPrefixes.
	AcceleratorPrefixes []string
	// Guardrails is Enforce (the default) or Warn: the report-only rollout of
	// the guardrails an upgrade adds (docs/install.md). In Warn the operator
	// reports token Secrets in tenant namespaces instead of deleting them;
	// install the admission policies in Warn mode alongside.
	Guardrails string
	// NewClient, when set, builds the manager's client (tests wrap it to
	// count writes).
	NewClient client.NewClientFunc
	// Controller skips name validation, for tests that start several managers
	// in one process.
	SkipNameValidation bool
}

// The guardrail rollout modes (Config.Guardrails).
const (
	GuardrailsEnforce = "Enforce"
	GuardrailsWarn    = "Warn"
)

// DefaultConfig is the configuration of a deployed operator.
func DefaultConfig() Config {
	return Config{
		MetricsBindAddress:      ":8443",
		HealthProbeBindAddress:  ":8081",
		LeaderElectionID:        "tenantai.platform.tenantai.io",
		LeaderElectionNamespace: platformv1alpha1.OperatorNamespace,
		SyncPeriod:              10 * time.Hour,
		MaxConcurrentReconciles: 4,
		Guardrails:              GuardrailsEnforce,
	}
}

// ManagedSelector selects the objects the operator manages. Caches for the
// kinds it writes hold only these, so memory grows with managed objects, not
// with the size of the cluster.
func ManagedSelector() labels.Selector {
	r, err := labels.NewRequirement(platformv1alpha1.ManagedByLabel, selection.Equals, []string{platformv1alpha1.ManagedByValue})
	if err != nil {
		panic(fmt.Sprintf("managed-by selector: %v", err))
	}
	return labels.NewSelector().Add(*r)
}

// CacheOptions restricts every cache of a kind the operator writes to the
// objects carrying the managed-by label, and drops managedFields, which the
// operator never reads, to keep the heap small. Deployments are kept without
// their pod template (apply.PruneDeployment; compared by generation through
// apply.Verified). The guardrails are not
// cached at all but observed by fingerprint (internal/observed), except the
// canonical data keys in the operator's namespace.
//
// A read of a kind no controller watches fails instead of quietly starting
// an informer for it: such an informer would cache every object of the kind
// in the cluster, unfiltered.
func CacheOptions(syncPeriod time.Duration) cache.Options {
	managed := cache.ByObject{Label: ManagedSelector()}
	return cache.Options{
		SyncPeriod:                  &syncPeriod,
		DefaultTransform:            trimMetadata,
		ReaderFailOnMissingInformer: true,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Namespace{}: managed,
			// Canonical keys are written with Update from the cached object:
			// their annotations must all be kept.
			&corev1.Secret{}: {Label: ManagedSelector(), Transform: cache.TransformStripManagedFields(),
				Namespaces: map[string]cache.Config{platformv1alpha1.OperatorNamespace: {}}},
			&corev1.ResourceQuota{}:                  {Label: ManagedSelector(), Transform: pruneResourceQuota},
			&corev1.Service{}:                        managed,
			&corev1.ServiceAccount{}:                 managed,
			&appsv1.Deployment{}:                     {Label: ManagedSelector(), Transform: apply.PruneDeployment},
			&autoscalingv2.HorizontalPodAutoscaler{}: managed,
			&policyv1.PodDisruptionBudget{}:          managed,
			// Tenants' Jobs (demand in Dynamic quota): all of them, as
			// little of each as the demand reads.
			&batchv1.Job{}: {Transform: tenantquota.PruneJob},
		},
	}
}

// pruneResourceQuota is trimMetadata, and once kube-controller-manager
// enforces the spec (status.hard equal to spec.hard, the usual state) one map
// serves both: a quota's three lists (spec.hard, status.hard, status.used)
// are most of a cached ResourceQuota, and readers get deep copies.
func pruneResourceQuota(obj any) (any, error) {
	obj, err := trimMetadata(obj)
	if rq, ok := obj.(*corev1.ResourceQuota); ok && err == nil && quotav1.Equals(rq.Spec.Hard, rq.Status.Hard) {
		rq.Status.Hard = rq.Spec.Hard
	}
	return obj, err
}

// trimMetadata is the cache transform of every kind the operator never
// writes with an Update from the cache: it drops managedFields and kubectl's
// last-applied-configuration annotation (a second copy of the whole object
// on anything applied client-side, as Argo CD does by default). Neither is
// read.
func trimMetadata(obj any) (any, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	o.SetManagedFields(nil)
	if annotations := o.GetAnnotations(); annotations[corev1.LastAppliedConfigAnnotation] != "" {
		delete(annotations, corev1.LastAppliedConfigAnnotation)
		o.SetAnnotations(annotations)
	}
	return obj, nil
}

// New returns a manager with tenantai's scheme and caches and all of its
// controllers registered.
func New(cfg *rest.Config, c Config) (ctrl.Manager, error) {
	if err := validateCostTeamLabel(c.CostTeamLabel); err != nil {
		return nil, err
	}
	if err := validateInsecureMetrics(c.MetricsBindAddress, c.MetricsInsecure); err != nil {
		return nil, err
	}
	if err := validateGuardrails(c.Guardrails); err != nil {
		return nil, err
	}
	if err := validateAcceleratorPrefixes(c.AcceleratorPrefixes); err != nil {
		return nil, err
	}
	opts := ctrl.Options{
		Scheme:                  NewScheme(),
		Cache:                   CacheOptions(c.SyncPeriod),
		HealthProbeBindAddress:  c.HealthProbeBindAddress,
		LeaderElection:          c.LeaderElection,
		LeaderElectionID:        c.LeaderElectionID,
		LeaderElectionNamespace: c.LeaderElectionNamespace,
		// The lease is released on a clean shutdown so that a new leader takes
		// over at once instead of waiting for the lease to expire.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: &c.SkipNameValidation},
	}
	if c.LeaseDuration > 0 {
		opts.LeaseDuration = &c.LeaseDuration
	}
	if c.RenewDeadline > 0 {
		opts.RenewDeadline = &c.RenewDeadline
	}
	if c.RetryPeriod > 0 {
		opts.RetryPeriod = &c.RetryPeriod
	}
	opts.Metrics = metricsOptions(c.MetricsBindAddress, c.MetricsInsecure)
	opts.PprofBindAddress = c.PprofBindAddress
	if c.QPS != 0 || c.Burst != 0 {
		cfg = rest.CopyConfig(cfg)
		if c.QPS != 0 {
			cfg.QPS = c.QPS
		}
		if c.Burst != 0 {
			cfg.Burst = c.Burst
		}
	}
	if c.NewClient != nil {
		opts.NewClient = c.NewClient
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	tokens, err := newTokenCache(mgr, c.SyncPeriod)
	if err != nil {
		return nil, err
	}
	guardrails, err := observed.New(mgr.GetConfig(), mgr.GetScheme(), observed.Guardrails()...)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(guardrails); err != nil {
		return nil, err
	}
	if err := SetupControllers(mgr, c, shared{tokens: tokens, guardrails: guardrails}); err != nil {
		return nil, err
	}
	if err := tenantaimetrics.AddToManager(mgr, ctrlmetrics.Registry); err != nil {
		return nil, err
	}
	return mgr, nil
}

// SetupControllers registers every tenantai controller with the manager.
func SetupControllers(mgr ctrl.Manager, c Config, sh shared) error {
	for _, setup := range controllers {
		if err := setup(mgr, c, sh); err != nil {
			return err
		}
	}
	return nil
}

// newTokenCache caches the Secrets of type kubernetes.io/service-account-token
// (a field selector: no other Secret is listed or held) without their data:
// the operator removes them from tenant namespaces and never reads a token.
func newTokenCache(mgr ctrl.Manager, syncPeriod time.Duration) (cache.Cache, error) {
	tokens, err := cache.New(mgr.GetConfig(), cache.Options{
		Scheme:     mgr.GetScheme(),
		Mapper:     mgr.GetRESTMapper(),
		HTTPClient: mgr.GetHTTPClient(),
		SyncPeriod: &syncPeriod,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Field: fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken))},
		},
		DefaultTransform: stripTokens,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the token Secret cache: %w", err)
	}
	if err := mgr.Add(tokens); err != nil {
		return nil, err
	}
	return tokens, nil
}

// stripTokens drops a Secret's data and managedFields before it is cached.
func stripTokens(obj any) (any, error) {
	if s, ok := obj.(*corev1.Secret); ok {
		s.Data, s.StringData, s.ManagedFields = nil, nil, nil
	}
	return obj, nil
}

func validateGuardrails(mode string) error {
	switch mode {
	case "", GuardrailsEnforce, GuardrailsWarn:
		return nil
	}
	return fmt.Errorf("--guardrails=%q: use %s (the default) or %s (report what the guardrails added by an upgrade would remove)",
		mode, GuardrailsEnforce, GuardrailsWarn)
}

func validateAcceleratorPrefixes(prefixes []string) error {
	for _, p := range prefixes {
		if p == "" || !strings.Contains(p, ".") {
			return fmt.Errorf("--accelerator-prefixes: %q is not a resource-name prefix such as nvidia.com/ or amd.com/", p)
		}
	}
	return nil
}
