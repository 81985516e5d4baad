package plugin

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// ModelsOutput is the document `kubectl tenantai models -o json|yaml`
// prints: one entry per ModelDeployment, by namespace and name.
type ModelsOutput struct {
	Models []ModelRow `json:"models"`
}

// ModelRow is one ModelDeployment: what the table shows, as typed fields.
type ModelRow struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Ready is the ModelDeployment's Ready condition.
	Ready Readiness `json:"ready"`
	// DesiredReplicas is spec.replicas (set by the user or the HPA).
	DesiredReplicas int32 `json:"desiredReplicas"`
	// Replicas and ReadyReplicas are the pods of every version.
	Replicas      int32 `json:"replicas"`
	ReadyReplicas int32 `json:"readyReplicas"`
	// Versions are the stable version, then the canary (when spec.canary is
	// set), then any version still running that the spec no longer names.
	Versions []VersionRow `json:"versions"`
	// Endpoint is the in-cluster address of the model's Service.
	Endpoint string `json:"endpoint,omitempty"`
	// Why says what holds the model back: the message of the condition that
	// explains it (Stalled, QuotaExceeded, Ready itself; ScalingLimited while
	// Ready). Empty when nothing does.
	Why string `json:"why,omitempty"`
}

// The tracks of a version.
const (
	TrackStable = platformv1alpha1.TrackStable
	TrackCanary = platformv1alpha1.TrackCanary
	// TrackPrevious is a version the spec no longer names whose replicas
	// still run.
	TrackPrevious = "previous"
)

// VersionRow is one version of a model.
type VersionRow struct {
	Version string `json:"version"`
	// Track is stable, canary or previous.
	Track string `json:"track"`
	// DesiredWeight is the share of replicas the spec asks for, in percent.
	DesiredWeight int32 `json:"desiredWeight"`
	// Weight is the share of replicas the version runs, in percent (the
	// desired share while no replica runs).
	Weight        int32 `json:"weight"`
	Replicas      int32 `json:"replicas"`
	ReadyReplicas int32 `json:"readyReplicas"`
}

func (c *cli) modelsCommand() *cobra.Command {
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List ModelDeployments: readiness, replicas, versions, endpoint, and why one is not ready",
		Example: `  kubectl tenantai models -n acme-prod
  kubectl tenantai models -A
  kubectl tenantai models -n acme-prod -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kube, err := c.client()
			if err != nil {
				return err
			}
			sc, err := c.scope(allNamespaces)
			if err != nil {
				return err
			}
			list := &platformv1alpha1.ModelDeploymentList{}
			if err := kube.List(cmd.Context(), list, sc.listOptions()...); err != nil {
				return readError(err, "ModelDeployments "+sc.what, sc.hint)
			}
			out := modelsOutput(list.Items)
			if len(out.Models) == 0 && c.output == outputTable {
				_, err := fmt.Fprintf(c.opts.IOStreams.ErrOut, "No ModelDeployments found %s.\n", sc.what)
				return err
			}
			return printResult(c.opts.IOStreams.Out, c.output, out, func() *table { return modelsTable(out, allNamespaces) })
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list the ModelDeployments of every namespace")
	return cmd
}

// modelsOutput builds the rows, by namespace and name.
func modelsOutput(mds []platformv1alpha1.ModelDeployment) ModelsOutput {
	out := ModelsOutput{Models: []ModelRow{}}
	for i := range mds {
		out.Models = append(out.Models, modelRow(&mds[i]))
	}
	sort.Slice(out.Models, func(i, j int) bool {
		a, b := out.Models[i], out.Models[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

func modelRow(md *platformv1alpha1.ModelDeployment) ModelRow {
	return ModelRow{
		Namespace:       md.Namespace,
		Name:            md.Name,
		Ready:           readiness(md.Status.Conditions),
		DesiredReplicas: ptr.Deref(md.Spec.Replicas, 1),
		Replicas:        md.Status.Replicas,
		ReadyReplicas:   md.Status.ReadyReplicas,
		Versions:        versionRows(md),
		Endpoint:        md.Status.Endpoint,
		Why:             why(md.Status.Conditions),
	}
}

// versionRows joins the split the spec asks for with what status reports
// running.
func versionRows(md *platformv1alpha1.ModelDeployment) []VersionRow {
	stable := VersionRow{Version: md.Spec.Model.Version, Track: TrackStable, DesiredWeight: 100}
	rows := []VersionRow{stable}
	if cn := md.Spec.Canary; cn != nil {
		rows[0].DesiredWeight -= cn.Weight
		rows = append(rows, VersionRow{Version: cn.Version, Track: TrackCanary, DesiredWeight: cn.Weight})
	}
	for i := range rows {
		rows[i].Weight = rows[i].DesiredWeight
	}
	for _, st := range md.Status.Versions {
		i := indexOfVersion(rows, st.Version)
		if i < 0 {
			rows = append(rows, VersionRow{Version: st.Version, Track: TrackPrevious})
			i = len(rows) - 1
		}
		rows[i].Weight, rows[i].Replicas, rows[i].ReadyReplicas = st.Weight, st.Replicas, st.ReadyReplicas
	}
	return rows
}

func indexOfVersion(rows []VersionRow, version string) int {
	for i, r := range rows {
		if r.Version == version {
			return i
		}
	}
	return -1
}

// why is the message of the condition that explains a model's state, in the
// order a user needs it: Stalled (nothing will change until they act), then
// QuotaExceeded (replicas refused), then Ready's own reason; a Ready model
// held at maxReplicas says ScalingLimited.
func why(conds []metav1.Condition) string {
	for _, t := range []string{platformv1alpha1.ConditionStalled, platformv1alpha1.ModelConditionQuotaExceeded} {
		if c := meta.FindStatusCondition(conds, t); c != nil && c.Status == metav1.ConditionTrue {
			return fmt.Sprintf("%s: %s", t, c.Message)
		}
	}
	ready := meta.FindStatusCondition(conds, platformv1alpha1.ConditionReady)
	switch {
	case ready == nil:
		return "the operator has not reported on it yet"
	case ready.Status != metav1.ConditionTrue:
		return fmt.Sprintf("%s: %s", ready.Reason, ready.Message)
	}
	if c := meta.FindStatusCondition(conds, platformv1alpha1.ModelConditionScalingLimited); c != nil && c.Status == metav1.ConditionTrue {
		return fmt.Sprintf("%s: %s", platformv1alpha1.ModelConditionScalingLimited, c.Message)
	}
	return ""
}

// versionsCell is the VERSIONS column: "v1 67% 2/2, v2 33% 1/1 (canary, weight 25)":
// each version's share of the running replicas and its ready/running pods;
// the canary with the weight the spec asks for.
func versionsCell(rows []VersionRow) string {
	parts := make([]string, 0, len(rows))
	for _, v := range rows {
		s := fmt.Sprintf("%s %d%% %d/%d", v.Version, v.Weight, v.ReadyReplicas, v.Replicas)
		switch v.Track {
		case TrackCanary:
			s += fmt.Sprintf(" (canary, weight %d)", v.DesiredWeight)
		case TrackPrevious:
			s += " (previous)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func modelsTable(out ModelsOutput, allNamespaces bool) *table {
	header := []string{"NAME", "READY", "REPLICAS", "VERSIONS", "ENDPOINT", "WHY"}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	t := &table{header: header}
	for _, m := range out.Models {
		cells := []string{
			m.Name, string(m.Ready.Status), fmt.Sprintf("%d/%d", m.ReadyReplicas, m.DesiredReplicas),
			versionsCell(m.Versions), orNone(m.Endpoint), orDash(m.Why),
		}
		if allNamespaces {
			cells = append([]string{m.Namespace}, cells...)
		}
		t.add(cells...)
	}
	return t
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
