package plugin

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// `kubectl tenantai preflight` lists every existing object that the
// guardrails of an upgrade (the admission policies labelled
// platform.tenantai.io/staged, the CRD rules and the operator's repairs)
// would refuse or change, with what to do about each, so that enforcing them
// never cuts existing use by surprise. It only reads. The checks are in
// preflight_checks.go (pods and ModelDeployments: preflight_workloads.go),
// the reads in preflight_read.go.

// PreflightOutput is the document `kubectl tenantai preflight -o json|yaml`
// prints.
type PreflightOutput struct {
	// Findings in the table's order: by check (in the order of
	// preflightChecks), namespace, then object.
	Findings []PreflightFinding `json:"findings"`
	// Count is the number of findings that are not informational: what
	// --fail-on-findings fails on.
	Count int `json:"count"`
	// Informational is the number of informational findings (nothing is
	// refused; the grant moves to another field).
	Informational int `json:"informational"`
	// Unreadable are the resources the caller may not list; the checks that
	// need them were skipped.
	Unreadable []UnreadableResource `json:"unreadable,omitempty"`
}

// PreflightFinding is one object (or one owner of pods) that a check flags.
type PreflightFinding struct {
	// Check is the check's name, e.g. token-secret.
	Check string `json:"check"`
	// Namespace is empty for cluster-scoped objects (Tenants).
	Namespace string `json:"namespace,omitempty"`
	// Kind and Name are the object to act on. Pods are reported through
	// their owner (a Deployment, a Job, ...) when they have one.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Pods are the pods behind a pod finding, sorted.
	Pods []string `json:"pods,omitempty"`
	// Finding is what the new rules do to the object.
	Finding string `json:"finding"`
	// Action is what to do about it.
	Action string `json:"action"`
	// Informational findings need no action before the upgrade.
	Informational bool `json:"informational,omitempty"`
}

// UnreadableResource is a resource the preflight could not list.
type UnreadableResource struct {
	// Resource is the plural resource name, e.g. secrets.
	Resource string `json:"resource"`
	// Message is the API server's refusal.
	Message string `json:"message"`
	// Skipped are the checks that needed it.
	Skipped []string `json:"skipped"`
}

// ExitFindings is the exit status of `preflight --fail-on-findings` when it
// finds something (1 stays the status of an error).
const ExitFindings = 3

func (c *cli) preflightCommand() *cobra.Command {
	var failOnFindings bool
	cmd := &cobra.Command{
		Use:   "preflight",
		Short: "List the existing objects that the guardrails of an upgrade would refuse or change, and what to do",
		Long: "Before enforcing the guardrails a tenantai upgrade adds, list every existing object they would " +
			"refuse or change (long-lived token Secrets, system: subjects, Service types, storage classes, pods " +
			"with accelerators or GPU env, squatted RoleBindings, orphaned namespaces, ...), with what to do about each.\n\n" +
			"It reads the whole cluster and writes nothing. Resources you may not list are named on stderr and " +
			"their checks skipped. See docs/kubectl-plugin.md for every check.",
		Example: `  kubectl tenantai preflight
  kubectl tenantai preflight -o json
  kubectl tenantai preflight --fail-on-findings   # exit status 3 when something would be refused (CI)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// -n would suggest a scope the checks do not have: the Tenants and
			// orphaned namespaces are cluster-wide.
			_, explicit, err := c.namespace()
			if err != nil {
				return err
			}
			if explicit {
				return errors.New("preflight checks the whole cluster: drop -n/--namespace")
			}
			kube, err := c.client()
			if err != nil {
				return err
			}
			snap, unreadable, err := readSnapshot(cmd.Context(), kube)
			if err != nil {
				return err
			}
			for _, u := range unreadable {
				fmt.Fprintf(c.opts.IOStreams.ErrOut, "warning: cannot list %s: %s; skipped: %s\n",
					u.Resource, u.Message, strings.Join(u.Skipped, ", "))
			}
			out := preflightOutput(snap, unreadable)
			if err := printPreflight(c.opts.IOStreams.Out, c.output, out); err != nil {
				return err
			}
			if failOnFindings && out.Count > 0 {
				return &ExitError{Code: ExitFindings, Err: fmt.Errorf("%s (--fail-on-findings)", countFindings(out.Count))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&failOnFindings, "fail-on-findings", false,
		fmt.Sprintf("exit with status %d when there are findings (informational ones aside), e.g. in CI", ExitFindings))
	return cmd
}

// preflightOutput runs every check whose reads succeeded and sorts the
// findings.
func preflightOutput(s *snapshot, unreadable []UnreadableResource) PreflightOutput {
	skipped := map[string]bool{}
	for _, u := range unreadable {
		for _, check := range u.Skipped {
			skipped[check] = true
		}
	}
	out := PreflightOutput{Findings: []PreflightFinding{}, Unreadable: unreadable}
	for _, f := range s.findings() {
		// A check that lacks one of its reads would report from half the
		// picture (an orphan with no Tenant known is not an orphan without
		// a Tenant): drop what it found.
		if skipped[f.Check] {
			continue
		}
		out.Findings = append(out.Findings, f)
		if f.Informational {
			out.Informational++
		} else {
			out.Count++
		}
	}
	sortFindings(out.Findings)
	return out
}

// sortFindings orders findings by check (in catalogue order, so that the
// table reads in the order of the documentation), namespace and object.
func sortFindings(fs []PreflightFinding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if ca, cb := checkIndex(a.Check), checkIndex(b.Check); ca != cb {
			return ca < cb
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if oa, ob := a.Kind+"/"+a.Name, b.Kind+"/"+b.Name; oa != ob {
			return oa < ob
		}
		return a.Finding < b.Finding
	})
}

// printPreflight writes the document, or the table and its summary line.
func printPreflight(out io.Writer, format string, doc PreflightOutput) error {
	if format != outputTable {
		return printResult(out, format, doc, nil)
	}
	if len(doc.Findings) > 0 {
		if err := preflightTable(doc).print(out); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(out, summaryLine(doc))
	return err
}

func preflightTable(doc PreflightOutput) *table {
	t := &table{header: []string{"CHECK", "NAMESPACE", "OBJECT", "FINDING", "WHAT TO DO"}}
	for _, f := range doc.Findings {
		finding := f.Finding
		if f.Informational {
			finding = "(informational) " + finding
		}
		t.add(f.Check, orDash(f.Namespace), objectCell(f), finding, f.Action)
	}
	return t
}

// objectCell is kind/name, with the number of pods behind an owner.
func objectCell(f PreflightFinding) string {
	cell := f.Kind + "/" + f.Name
	if f.Kind != "Pod" && len(f.Pods) > 0 {
		cell += fmt.Sprintf(" (%s)", plural(len(f.Pods), "pod"))
	}
	return cell
}

// summaryLine is the table's last line: how many findings, or that the
// upgrade refuses nothing, qualified when something could not be read.
func summaryLine(doc PreflightOutput) string {
	line := countFindings(doc.Count)
	if doc.Count == 0 {
		line = "no findings: the upgrade refuses nothing that exists"
		if len(doc.Unreadable) > 0 {
			line = "no findings in what could be read"
		}
	}
	if doc.Informational > 0 {
		line += fmt.Sprintf("; %s", plural(doc.Informational, "informational note"))
	}
	if n := len(doc.Unreadable); n > 0 {
		line += fmt.Sprintf("; %s could not be listed (see the warnings)", plural(n, "resource"))
	}
	return line
}

func countFindings(n int) string { return plural(n, "finding") }

// plural is "1 pod" or "2 pods".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
