// Package plugin implements kubectl-tenantai, the kubectl plugin that tells
// tenant owners what they have and how much quota is left without reading
// YAML: `tenants`, `quota <tenant>`, `models` and `workloads` (the tenant's
// own Jobs, CronJobs, Deployments and StatefulSets, and why their pods wait),
// each as a table or as a stable JSON/YAML document (docs/kubectl-plugin.md);
// and, for platform admins before an upgrade, `preflight`: what its
// guardrails would refuse.
package plugin

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// Options are what the plugin needs from its caller.
type Options struct {
	// IOStreams are where tables, documents and warnings go.
	IOStreams genericiooptions.IOStreams
	// Now is the clock of the AGE column; nil means time.Now. Tests fix it so
	// that a table can be compared whole.
	Now func() time.Time
}

// cli holds one invocation's flags, shared by the subcommands.
type cli struct {
	opts   Options
	flags  *genericclioptions.ConfigFlags
	output string
}

// NewCommand returns the kubectl-tenantai root command with its subcommands.
// The kubeconfig flags are kubectl's own (--kubeconfig, --context, -n, --as,
// --as-group, ...), so the plugin reaches the cluster as kubectl would.
func NewCommand(opts Options) *cobra.Command {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &cli{opts: opts, flags: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:   "kubectl-tenantai",
		Short: "Show tenantai tenants, their quota use, their models and their workloads",
		Long: "Show tenantai tenants, how much of each tenant's quota is used (GPUs first), " +
			"the state of ModelDeployments, and the tenant's own Jobs, CronJobs, Deployments and " +
			"StatefulSets with why their pods wait (a quota or admission refusal, an unschedulable pod), " +
			"as tables or as JSON/YAML documents; " +
			"before an upgrade, list what its guardrails would refuse (preflight).",
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl tenantai"},
		SilenceUsage:  true,
		SilenceErrors: true,
		// Refuse an unknown -o before reaching the cluster.
		PersistentPreRunE: func(*cobra.Command, []string) error { return validateOutput(c.output) },
	}
	root.SetIn(opts.IOStreams.In)
	root.SetOut(opts.IOStreams.Out)
	root.SetErr(opts.IOStreams.ErrOut)
	c.flags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVarP(&c.output, "output", "o", outputTable,
		"output format: json or yaml (default: a table)")
	root.AddCommand(c.tenantsCommand(), c.quotaCommand(), c.modelsCommand(), c.workloadsCommand(), c.preflightCommand())
	// Define --help before cobra looks for the subcommand: otherwise it takes
	// "--help --kubeconfig f" for a flag with a value and f for a command.
	root.InitDefaultHelpFlag()
	return root
}

// client returns a client for the cluster the kubeconfig flags select. API
// server warnings go to stderr, as kubectl prints them.
func (c *cli) client() (client.Client, error) {
	cfg, err := c.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "kubectl-tenantai"
	cfg.WarningHandler = rest.NewWarningWriter(c.opts.IOStreams.ErrOut, rest.WarningWriterOptions{Deduplicate: true})
	return client.New(cfg, client.Options{Scheme: newScheme()})
}

// newScheme knows the kinds the plugin reads: the tenantai API, the core
// kinds (ResourceQuotas; namespaces, pods and the like for preflight),
// RoleBindings, and for workloads Deployments, ReplicaSets, StatefulSets,
// Jobs, CronJobs and events.k8s.io Events.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	// They only register static types; they cannot fail.
	_ = corev1.AddToScheme(s)
	_ = appsv1.AddToScheme(s)
	_ = batchv1.AddToScheme(s)
	_ = eventsv1.AddToScheme(s)
	_ = rbacv1.AddToScheme(s)
	_ = platformv1alpha1.AddToScheme(s)
	return s
}

// namespace is the namespace of -n, or else of the kubeconfig context;
// explicit says whether -n was given.
func (c *cli) namespace() (ns string, explicit bool, err error) {
	return c.flags.ToRawKubeConfigLoader().Namespace()
}

// readScope is where a namespaced command reads: one namespace, or every
// one (namespace empty), with the words and hint of a refused read.
type readScope struct {
	namespace  string
	what, hint string
}

// listOptions restrict a List to the scope.
func (sc readScope) listOptions() []client.ListOption {
	if sc.namespace == "" {
		return nil
	}
	return []client.ListOption{client.InNamespace(sc.namespace)}
}

// scope is every namespace with -A, else -n's or the kubeconfig context's.
func (c *cli) scope(allNamespaces bool) (readScope, error) {
	if allNamespaces {
		return readScope{what: "in any namespace", hint: hintAllNamespaces}, nil
	}
	ns, _, err := c.namespace()
	if err != nil {
		return readScope{}, err
	}
	return readScope{namespace: ns, what: fmt.Sprintf("in namespace %q", ns), hint: hintNamespace}, nil
}

// age is the AGE column of an object created at t, as kubectl prints it.
func (c *cli) age(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(c.opts.Now().Sub(t))
}
