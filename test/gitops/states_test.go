package gitops_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/tenantai/tenantai/internal/testenv"
)

// verdict is how the GitOps tools judge one object.
type verdict struct {
	// KStatus is kstatus' status (Flux's wait and healthChecks, Helm's
	// --wait), KStatusCondition the "<type>/<reason>" of the condition
	// kstatus reports with it ("" when Current) and KStatusMessage its message.
	KStatus          status.Status
	KStatusCondition string
	KStatusMessage   string
	// Argo is what config/argocd's health check for the kind returns.
	Argo argoHealth
}

// state is one point in the life of an object, with the verdict it must get.
// Each has a fixture, config/argocd/testdata/<name>.yaml, captured from the
// live object by the lifecycle tests.
type state struct {
	kind string
	want verdict
}

const (
	lifecycleTenant   = "gitops-acme"
	waitingTenant     = "gitops-waiting"
	conflictTenant    = "gitops-taken"
	staticTenant      = "gitops-static"
	orphanQuota       = "gitops-orphan"
	modelsTenant      = "gitops-models"
	modelsNamespace   = modelsTenant + "-serve"
	plainNamespace    = "gitops-plain"
	modelName         = "chat"
	modelReadyMessage = "model llama version v1 is available at chat." + modelsNamespace + ".svc:8000"
)

// notObserved is what each tool says about an object whose generation the
// operator has not observed yet.
func notObserved(kind string, generation, observed int64) verdict {
	msg := fmt.Sprintf("%s generation is %d, but latest observed generation is %d", kind, generation, observed)
	return verdict{
		KStatus: status.InProgressStatus, KStatusCondition: "Reconciling/LatestGenerationNotObserved", KStatusMessage: msg,
		Argo: argoHealth{Status: "Progressing", Message: fmt.Sprintf("waiting for the controller to observe generation %d", generation)},
	}
}

// ready is what each tool says about a Ready object.
func ready(message string) verdict {
	return verdict{KStatus: status.CurrentStatus, KStatusMessage: "Resource is Ready", Argo: argoHealth{Status: "Healthy", Message: message}}
}

// reconciling is what each tool says about an object with Reconciling=True.
func reconciling(reason, message string) verdict {
	return verdict{
		KStatus: status.InProgressStatus, KStatusCondition: "Reconciling/" + reason, KStatusMessage: message,
		Argo: argoHealth{Status: "Progressing", Message: message},
	}
}

// stalled is what each tool says about an object with Stalled=True.
func stalled(reason, message string) verdict {
	return verdict{
		KStatus: status.FailedStatus, KStatusCondition: "Stalled/" + reason, KStatusMessage: message,
		Argo: argoHealth{Status: "Degraded", Message: message},
	}
}

// states are every state the lifecycle tests reach, by fixture name.
var states = map[string]state{
	// Tenant and TenantQuota applied together, as GitOps does.
	"tenant-created":      {"Tenant", notObserved("Tenant", 1, -1)},
	"tenant-ready":        {"Tenant", ready("tenant " + lifecycleTenant + " is ready in 2 namespaces")},
	"tenant-spec-changed": {"Tenant", notObserved("Tenant", 2, 1)},
	"tenant-waiting-for-quota": {"Tenant", reconciling("WaitingForQuota",
		"waiting for TenantQuota "+waitingTenant+" to create ResourceQuota tenantai-quota in "+waitingTenant+"-prod: "+
			"with quotaPolicy Required no principal is bound in a namespace without its quota")},
	"tenant-namespace-conflict": {"Tenant", stalled("NamespaceConflict",
		"namespace "+conflictTenant+"-prod already exists and does not belong to tenant "+conflictTenant+
			"; it is never adopted: remove it or rename the entry")},

	"tenantquota-created":      {"TenantQuota", notObserved("TenantQuota", 1, -1)},
	"tenantquota-ready":        {"TenantQuota", ready("quota of tenant " + lifecycleTenant + " enforced in 2 namespaces")},
	"tenantquota-spec-changed": {"TenantQuota", notObserved("TenantQuota", 2, 1)},
	"tenantquota-tenant-not-found": {"TenantQuota", reconciling("TenantNotFound",
		"waiting for Tenant "+orphanQuota+": no ResourceQuota is created before it exists")},
	"tenantquota-static-split-exceeds-hard": {"TenantQuota", stalled("StaticSplitExceedsHard",
		"the static split exceeds hard: pods: 12 > 10; lower the static amounts or raise hard")},

	"modeldeployment-created": {"ModelDeployment", notObserved("ModelDeployment", 1, -1)},
	"modeldeployment-rolling-out": {"ModelDeployment", reconciling("RollingOut",
		"waiting for the Deployment controller to observe Deployment "+modelName)},
	"modeldeployment-ready":          {"ModelDeployment", ready(modelReadyMessage)},
	"modeldeployment-spec-changed":   {"ModelDeployment", notObserved("ModelDeployment", 2, 1)},
	"modeldeployment-scaled-to-zero": {"ModelDeployment", ready(modelReadyMessage)},
	"modeldeployment-not-tenant-namespace": {"ModelDeployment", stalled("NotTenantNamespace",
		"namespace "+plainNamespace+" is not a tenant namespace (it lacks the platform.tenantai.io/tenant and "+
			"app.kubernetes.io/managed-by=tenantai labels the Tenant controller sets): ModelDeployments are served in tenant namespaces only")},
}

// verdictOf judges an object with kstatus and with its kind's Argo CD
// health check.
func verdictOf(root string, obj *unstructured.Unstructured) (verdict, error) {
	res, err := status.Compute(obj)
	if err != nil {
		return verdict{}, fmt.Errorf("kstatus: %w", err)
	}
	v := verdict{KStatus: res.Status, KStatusMessage: res.Message}
	var conds []string
	for _, c := range res.Conditions {
		conds = append(conds, string(c.Type)+"/"+c.Reason)
	}
	v.KStatusCondition = strings.Join(conds, ",")
	script, err := readHealthScript(root, obj.GetKind())
	if err != nil {
		return verdict{}, err
	}
	v.Argo, err = runHealthScript(script, obj)
	if err != nil {
		return verdict{}, fmt.Errorf("Argo CD health check of %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return v, nil
}

// verdictDiff is "" when obj gets the verdict of the named state, else what
// differs (-want +got).
func verdictDiff(root, name string, obj *unstructured.Unstructured) string {
	st, ok := states[name]
	if !ok {
		return fmt.Sprintf("no state %q in the states table", name)
	}
	if obj.GetKind() != st.kind {
		return fmt.Sprintf("state %q is for a %s, got a %s", name, st.kind, obj.GetKind())
	}
	got, err := verdictOf(root, obj)
	if err != nil {
		return err.Error()
	}
	if diff := cmp.Diff(st.want, got); diff != "" {
		return fmt.Sprintf("%s %s in state %q (-want +got):\n%s", obj.GetKind(), obj.GetName(), name, diff)
	}
	return ""
}

func fixtureDir(root string) string { return filepath.Join(root, "config", "argocd", "testdata") }

func fixturePath(root, name string) string { return filepath.Join(fixtureDir(root), name+".yaml") }

// fixtureHeader opens every fixture: it says where the file comes from.
const fixtureHeader = "# Captured from a live envtest object by test/gitops (go test ./test/gitops -count=1 -update).\n" +
	"# Do not edit: Argo CD health-check and kstatus tests read it as a real object.\n"

// stableCopy drops what changes from run to run (managedFields, uid,
// resourceVersion, timestamps), so a regenerated fixture differs only where
// the object really does.
func stableCopy(obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := obj.DeepCopy()
	for _, field := range []string{"managedFields", "uid", "resourceVersion", "creationTimestamp"} {
		unstructured.RemoveNestedField(out.Object, "metadata", field)
	}
	conds, found, err := unstructured.NestedSlice(out.Object, "status", "conditions")
	if err != nil || !found {
		return out, err
	}
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			delete(m, "lastTransitionTime")
		}
	}
	return out, unstructured.SetNestedSlice(out.Object, conds, "status", "conditions")
}

// writeFixture writes an object's stable copy as a state's fixture.
func writeFixture(root, name string, obj *unstructured.Unstructured) error {
	stable, err := stableCopy(obj)
	if err != nil {
		return err
	}
	data, err := yaml.Marshal(stable.Object)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(fixtureDir(root), 0o755); err != nil {
		return err
	}
	return os.WriteFile(fixturePath(root, name), append([]byte(fixtureHeader), data...), 0o644)
}

// readFixture reads a state's fixture.
func readFixture(root, name string) (*unstructured.Unstructured, error) {
	objs, err := testenv.ReadObjects(fixturePath(root, name))
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, fmt.Errorf("fixture %s holds %d objects, want 1", name, len(objs))
	}
	return objs[0], nil
}
