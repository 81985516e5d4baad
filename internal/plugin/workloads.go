package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// `kubectl tenantai workloads` lists the workloads tenants run themselves
// (Jobs, CronJobs, Deployments, StatefulSets; a ModelDeployment's
// Deployments are the operator's and `models` shows them) and says why their
// pods wait. When a controller creates the pods, a refusal by quota or by an
// admission policy shows only as a FailedCreate Event on the object that
// creates them (the Job, the Deployment's ReplicaSet, the StatefulSet, the
// CronJob); a pod that exists but waits says why in its conditions.

// WorkloadsOutput is the document `kubectl tenantai workloads -o json|yaml`
// prints: one entry per workload, by namespace, kind and name.
type WorkloadsOutput struct {
	Workloads []WorkloadRow `json:"workloads"`
}

// The kinds of workloads listed.
const (
	KindCronJob     = "CronJob"
	KindDeployment  = "Deployment"
	KindJob         = "Job"
	KindStatefulSet = "StatefulSet"
)

// WorkloadRow is one workload: what the table shows, as typed fields.
// Exactly one of Replicas, Job and CronJob is set, after Kind.
type WorkloadRow struct {
	Namespace string `json:"namespace"`
	// Kind is Job, CronJob, Deployment or StatefulSet.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Replicas are the pods of a Deployment or StatefulSet.
	Replicas *ReplicaCounts `json:"replicas,omitempty"`
	// Job is the progress of a Job.
	Job *JobCounts `json:"job,omitempty"`
	// CronJob is the schedule and Jobs of a CronJob.
	CronJob *CronJobState `json:"cronJob,omitempty"`
	// Why says what holds the workload back, quoted verbatim and prefixed
	// with its reason: the latest FailedCreate Event (the API server's
	// refusal of a pod or a Job), a waiting pod's condition, or the
	// workload's own condition. Empty when nothing does.
	Why string `json:"why,omitempty"`
}

// ReplicaCounts are a Deployment's or StatefulSet's pods.
type ReplicaCounts struct {
	// Desired is spec.replicas.
	Desired int32 `json:"desired"`
	// Current is the pods that exist (status.replicas); Ready, those ready.
	Current int32 `json:"current"`
	Ready   int32 `json:"ready"`
	// Updated is the pods of the current template (status.updatedReplicas).
	Updated int32 `json:"updated"`
}

// JobCounts are a Job's wanted and counted pods.
type JobCounts struct {
	// Completions is spec.completions; absent when any one success completes
	// the Job.
	Completions *int32 `json:"completions,omitempty"`
	// Parallelism is spec.parallelism (1 when unset).
	Parallelism int32 `json:"parallelism"`
	// Succeeded, Active (pods that exist and have not finished; Ready of
	// them ready) and Failed are the Job's status.
	Succeeded int32 `json:"succeeded"`
	Active    int32 `json:"active"`
	Ready     int32 `json:"ready"`
	Failed    int32 `json:"failed"`
	// Suspended is spec.suspend.
	Suspended bool `json:"suspended,omitempty"`
	// Finished is Complete or Failed once the Job has finished.
	Finished string `json:"finished,omitempty"`
}

// CronJobState is a CronJob's schedule and Jobs.
type CronJobState struct {
	Schedule string `json:"schedule"`
	// Suspended is spec.suspend: no Job is created while it is true.
	Suspended bool `json:"suspended,omitempty"`
	// LastScheduleTime is when a Job was last created (status.lastScheduleTime).
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// ActiveJobs are the names of its running Jobs, sorted (each is listed
	// as a Job too).
	ActiveJobs []string `json:"activeJobs,omitempty"`
}

// reasonFailedCreate is the reason of the Event a controller records when
// the API server refuses the pod (or, for a CronJob, the Job) it creates.
const reasonFailedCreate = "FailedCreate"

func (c *cli) workloadsCommand() *cobra.Command {
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "workloads",
		Short: "List the tenant's own Jobs, CronJobs, Deployments and StatefulSets: pods, and why they wait",
		Long: "List the workloads tenants run themselves (Jobs, CronJobs, Deployments and StatefulSets; a " +
			"ModelDeployment's Deployments are shown by \"kubectl tenantai models\"): their pods, and why pods " +
			"wait or are missing.\n\n" +
			"WHY quotes, prefixed with its reason: the latest FailedCreate Event on the object that creates the " +
			"pods (the Job, the Deployment's current ReplicaSets, the StatefulSet; the CronJob, for its Jobs), which " +
			"is the API server's refusal (quota, an admission policy, Pod Security); else a waiting pod's condition " +
			"(e.g. Unschedulable); else the workload's own condition (e.g. a Job's BackoffLimitExceeded).\n\n" +
			"Tenant members read one namespace at a time: use -n.",
		Example: `  kubectl tenantai workloads -n acme-prod
  kubectl tenantai workloads -A
  kubectl tenantai workloads -n acme-prod -o json`,
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
			snap, err := readWorkloads(cmd.Context(), kube, sc)
			if err != nil {
				return err
			}
			out := workloadsOutput(snap)
			if len(out.Workloads) == 0 && c.output == outputTable {
				_, err := fmt.Fprintf(c.opts.IOStreams.ErrOut,
					"No workloads found %s (a ModelDeployment's Deployments: kubectl tenantai models).\n", sc.what)
				return err
			}
			return printResult(c.opts.IOStreams.Out, c.output, out, func() *table { return c.workloadsTable(out, allNamespaces) })
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list the workloads of every namespace")
	return cmd
}

// workloadSnapshot is what the command reads in its scope.
type workloadSnapshot struct {
	deployments  appsv1.DeploymentList
	statefulSets appsv1.StatefulSetList
	jobs         batchv1.JobList
	cronJobs     batchv1.CronJobList
	// What WHY is drawn from, read only when there is a workload: every
	// ReplicaSet (a Deployment's are found by ownerReferences), pod, and
	// FailedCreate Event.
	replicaSets appsv1.ReplicaSetList
	pods        corev1.PodList
	events      eventsv1.EventList
}

func (s *workloadSnapshot) empty() bool {
	return len(s.deployments.Items)+len(s.statefulSets.Items)+len(s.jobs.Items)+len(s.cronJobs.Items) == 0
}

// readWorkloads lists the workloads not managed by tenantai and, when there
// are any, what explains them. A refused read says what was refused and
// what to run instead.
func readWorkloads(ctx context.Context, kube client.Client, sc readScope) (*workloadSnapshot, error) {
	notManaged, err := labels.NewRequirement(platformv1alpha1.ManagedByLabel, selection.NotEquals,
		[]string{platformv1alpha1.ManagedByValue})
	if err != nil {
		return nil, err
	}
	inScope := sc.listOptions()
	tenants := append([]client.ListOption{client.MatchingLabelsSelector{Selector: labels.NewSelector().Add(*notManaged)}}, inScope...)
	s := &workloadSnapshot{}
	err = listAll(ctx, kube, sc, []scopedList{
		{"Deployments", &s.deployments, tenants},
		{"StatefulSets", &s.statefulSets, tenants},
		{"Jobs", &s.jobs, tenants},
		{"CronJobs", &s.cronJobs, tenants},
	})
	if err != nil {
		return nil, err
	}
	if s.empty() {
		return s, nil
	}
	err = listAll(ctx, kube, sc, []scopedList{
		{"ReplicaSets", &s.replicaSets, inScope},
		{"Pods", &s.pods, inScope},
		{"Events", &s.events, append([]client.ListOption{client.MatchingFields{"reason": reasonFailedCreate}}, inScope...)},
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// scopedList is one list a command reads, named for a refusal.
type scopedList struct {
	what string
	list client.ObjectList
	opts []client.ListOption
}

// listAll reads each list in turn; the first refusal ends it, saying what
// was refused and what to run instead.
func listAll(ctx context.Context, kube client.Client, sc readScope, lists []scopedList) error {
	for _, l := range lists {
		if err := kube.List(ctx, l.list, l.opts...); err != nil {
			return readError(err, l.what+" "+sc.what, sc.hint)
		}
	}
	return nil
}

// related indexes what explains a workload: FailedCreate Events by the UID
// of the object they regard, pods and ReplicaSets by their controller's UID.
type related struct {
	failedCreate map[types.UID][]*eventsv1.Event
	// failedCreateByName holds the Events that name no UID, by kind,
	// namespace and name.
	failedCreateByName map[string][]*eventsv1.Event
	pods               map[types.UID][]*corev1.Pod
	replicaSets        map[types.UID][]*appsv1.ReplicaSet
}

func newRelated(events []eventsv1.Event, pods []corev1.Pod, replicaSets []appsv1.ReplicaSet) *related {
	r := &related{
		failedCreate:       map[types.UID][]*eventsv1.Event{},
		failedCreateByName: map[string][]*eventsv1.Event{},
		pods:               map[types.UID][]*corev1.Pod{},
		replicaSets:        map[types.UID][]*appsv1.ReplicaSet{},
	}
	for i := range events {
		ev := &events[i]
		if ev.Reason != reasonFailedCreate {
			continue
		}
		if ev.Regarding.UID != "" {
			r.failedCreate[ev.Regarding.UID] = append(r.failedCreate[ev.Regarding.UID], ev)
		} else {
			key := nameKey(ev.Regarding.Kind, ev.Regarding.Namespace, ev.Regarding.Name)
			r.failedCreateByName[key] = append(r.failedCreateByName[key], ev)
		}
	}
	for i := range pods {
		if ref := metav1.GetControllerOf(&pods[i]); ref != nil {
			r.pods[ref.UID] = append(r.pods[ref.UID], &pods[i])
		}
	}
	for i := range replicaSets {
		if ref := metav1.GetControllerOf(&replicaSets[i]); ref != nil {
			r.replicaSets[ref.UID] = append(r.replicaSets[ref.UID], &replicaSets[i])
		}
	}
	return r
}

func nameKey(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// eventsAbout are the FailedCreate Events regarding obj.
func (r *related) eventsAbout(kind string, obj metav1.Object) []*eventsv1.Event {
	out := append([]*eventsv1.Event{}, r.failedCreate[obj.GetUID()]...)
	return append(out, r.failedCreateByName[nameKey(kind, obj.GetNamespace(), obj.GetName())]...)
}

// workloadsOutput builds the rows, by namespace, kind and name.
func workloadsOutput(s *workloadSnapshot) WorkloadsOutput {
	r := newRelated(s.events.Items, s.pods.Items, s.replicaSets.Items)
	out := WorkloadsOutput{Workloads: []WorkloadRow{}}
	for i := range s.deployments.Items {
		out.Workloads = append(out.Workloads, deploymentRow(&s.deployments.Items[i], r))
	}
	for i := range s.statefulSets.Items {
		out.Workloads = append(out.Workloads, statefulSetRow(&s.statefulSets.Items[i], r))
	}
	for i := range s.jobs.Items {
		out.Workloads = append(out.Workloads, jobRow(&s.jobs.Items[i], r))
	}
	for i := range s.cronJobs.Items {
		out.Workloads = append(out.Workloads, cronJobRow(&s.cronJobs.Items[i], r))
	}
	sort.Slice(out.Workloads, func(i, j int) bool {
		a, b := out.Workloads[i], out.Workloads[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return out
}

// The WHY of a workload, in the order a user needs it:
//
//  1. when pods are missing (fewer exist than it wants), the latest
//     FailedCreate Event on the objects that create them: the API server's
//     refusal, verbatim (quota, an admission policy, Pod Security);
//  2. else (or without such an Event) the freshest reason a pod of it waits:
//     PodScheduled=False (Unschedulable: ...), a container waiting
//     (ImagePullBackOff: ...), Ready=False (ContainersNotReady: ...);
//  3. else the workload's own condition (a Deployment's ReplicaFailure,
//     ProgressDeadlineExceeded, ...).
//
// A workload that wants no pod waits for none: a finished or suspended Job
// shows its condition, a suspended CronJob says so, and one that has what
// it wants shows nothing, whatever Events remain.

// whyPods is steps 1 and 2: missing says whether pods are missing, creators
// are the objects whose FailedCreate Events count, pods the workload's pods.
func whyPods(missing bool, creators []*eventsv1.Event, pods []*corev1.Pod) string {
	if missing {
		if ev := latestEvent(creators); ev != nil {
			return ev.Reason + ": " + ev.Note
		}
	}
	return waitingPodWhy(pods)
}

// latestEvent is the newest Event, by the last time it was observed; on a
// tie the one whose name sorts last.
func latestEvent(events []*eventsv1.Event) *eventsv1.Event {
	var latest *eventsv1.Event
	for _, ev := range events {
		if latest == nil {
			latest = ev
			continue
		}
		a, b := lastObserved(ev), lastObserved(latest)
		if a.After(b) || (a.Equal(b) && ev.Name > latest.Name) {
			latest = ev
		}
	}
	return latest
}

// lastObserved is when an Event was last seen: its series' last
// observation, its eventTime, or the core/v1 lastTimestamp and
// firstTimestamp (events.k8s.io/v1's deprecated fields), whichever is
// latest; its creation as a last resort.
func lastObserved(ev *eventsv1.Event) time.Time {
	t := ev.EventTime.Time
	for _, u := range []time.Time{ev.DeprecatedLastTimestamp.Time, ev.DeprecatedFirstTimestamp.Time} {
		if u.After(t) {
			t = u
		}
	}
	if ev.Series != nil && ev.Series.LastObservedTime.After(t) {
		t = ev.Series.LastObservedTime.Time
	}
	if t.IsZero() {
		t = ev.CreationTimestamp.Time
	}
	return t
}

// waitingPodWhy is the freshest reason one of pods waits; on a tie, the pod
// whose name sorts first. Empty when none says why (a pending pod no
// scheduler has looked at yet has no PodScheduled condition).
func waitingPodWhy(pods []*corev1.Pod) string {
	var why, name string
	var at time.Time
	for _, pod := range pods {
		w, t := podWhy(pod)
		if w == "" {
			continue
		}
		if why == "" || t.After(at) || (t.Equal(at) && pod.Name < name) {
			why, name, at = w, pod.Name, t
		}
	}
	return why
}

// podWhy is why one pod waits and since when: not scheduled, a container
// (init first) waiting, or not Ready. Empty for a pod that runs and is
// ready, has finished, is being deleted, or says nothing.
func podWhy(pod *corev1.Pod) (string, time.Time) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return "", time.Time{}
	}
	var ready *corev1.PodCondition
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		switch {
		case c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse:
			return conditionWhy(c.Reason, c.Message), c.LastTransitionTime.Time
		case c.Type == corev1.PodReady:
			ready = c
		}
	}
	if ready != nil && ready.Status == corev1.ConditionTrue {
		return "", time.Time{}
	}
	since := pod.CreationTimestamp.Time
	if ready != nil {
		since = ready.LastTransitionTime.Time
	}
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, st := range statuses {
			if w := st.State.Waiting; w != nil && w.Reason != "" && w.Reason != "PodInitializing" {
				return conditionWhy(w.Reason, w.Message), since
			}
		}
	}
	if ready != nil && ready.Reason != "" {
		return conditionWhy(ready.Reason, ready.Message), since
	}
	return "", time.Time{}
}

// conditionWhy is "reason: message", or whichever of them is set.
func conditionWhy(reason, message string) string {
	switch {
	case reason == "":
		return message
	case message == "":
		return reason
	default:
		return reason + ": " + message
	}
}

func deploymentRow(d *appsv1.Deployment, r *related) WorkloadRow {
	counts := &ReplicaCounts{Desired: ptr.Deref(d.Spec.Replicas, 1), Current: d.Status.Replicas,
		Ready: d.Status.ReadyReplicas, Updated: d.Status.UpdatedReplicas}
	row := WorkloadRow{Namespace: d.Namespace, Kind: KindDeployment, Name: d.Name, Replicas: counts}
	if counts.Ready >= counts.Desired && counts.Updated >= counts.Desired {
		return row
	}
	// The current ReplicaSets: the one of the Deployment's revision and any
	// still asked for pods (a rollout in progress).
	var events []*eventsv1.Event
	var pods []*corev1.Pod
	missing := false
	revision := d.Annotations[revisionAnnotation]
	var failure *appsv1.ReplicaSetCondition
	for _, rs := range r.replicaSets[d.UID] {
		want := ptr.Deref(rs.Spec.Replicas, 1)
		if want == 0 && (revision == "" || rs.Annotations[revisionAnnotation] != revision) {
			continue
		}
		if rs.Status.Replicas < want {
			missing = true
		}
		events = append(events, r.eventsAbout("ReplicaSet", rs)...)
		pods = append(pods, r.pods[rs.UID]...)
		for i := range rs.Status.Conditions {
			if c := &rs.Status.Conditions[i]; c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
				failure = c
			}
		}
	}
	if row.Why = whyPods(missing, events, pods); row.Why != "" {
		return row
	}
	if failure != nil {
		row.Why = conditionWhy(failure.Reason, failure.Message)
		return row
	}
	row.Why = deploymentConditionWhy(d.Status.Conditions)
	return row
}

// revisionAnnotation is the revision the Deployment controller sets on a
// Deployment and on the ReplicaSet of each revision.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// deploymentConditionWhy is a Deployment's own explanation: ReplicaFailure
// (pods refused), a stalled rollout, then missing availability.
func deploymentConditionWhy(conds []appsv1.DeploymentCondition) string {
	find := func(t appsv1.DeploymentConditionType, s corev1.ConditionStatus) *appsv1.DeploymentCondition {
		for i := range conds {
			if conds[i].Type == t && conds[i].Status == s {
				return &conds[i]
			}
		}
		return nil
	}
	for _, want := range []struct {
		t appsv1.DeploymentConditionType
		s corev1.ConditionStatus
	}{
		{appsv1.DeploymentReplicaFailure, corev1.ConditionTrue},
		{appsv1.DeploymentProgressing, corev1.ConditionFalse},
		{appsv1.DeploymentAvailable, corev1.ConditionFalse},
	} {
		if c := find(want.t, want.s); c != nil {
			return conditionWhy(c.Reason, c.Message)
		}
	}
	return ""
}

func statefulSetRow(s *appsv1.StatefulSet, r *related) WorkloadRow {
	counts := &ReplicaCounts{Desired: ptr.Deref(s.Spec.Replicas, 1), Current: s.Status.Replicas,
		Ready: s.Status.ReadyReplicas, Updated: s.Status.UpdatedReplicas}
	row := WorkloadRow{Namespace: s.Namespace, Kind: KindStatefulSet, Name: s.Name, Replicas: counts}
	if counts.Ready >= counts.Desired {
		return row
	}
	row.Why = whyPods(counts.Current < counts.Desired, r.eventsAbout(KindStatefulSet, s), r.pods[s.UID])
	return row
}

func jobRow(job *batchv1.Job, r *related) WorkloadRow {
	counts := &JobCounts{
		Completions: job.Spec.Completions, Parallelism: ptr.Deref(job.Spec.Parallelism, 1),
		Succeeded: job.Status.Succeeded, Active: job.Status.Active, Ready: ptr.Deref(job.Status.Ready, 0),
		Failed: job.Status.Failed, Suspended: ptr.Deref(job.Spec.Suspend, false),
	}
	row := WorkloadRow{Namespace: job.Namespace, Kind: KindJob, Name: job.Name, Job: counts}
	// A finished or suspended Job wants no pod: its condition says why.
	for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed} {
		if c := jobCondition(job, t); c != nil {
			counts.Finished = string(t)
			if t == batchv1.JobFailed {
				row.Why = conditionWhy(c.Reason, c.Message)
			}
			return row
		}
	}
	if counts.Suspended {
		row.Why = "Suspended: spec.suspend is true: the Job runs no pod until it is unset"
		if c := jobCondition(job, batchv1.JobSuspended); c != nil {
			row.Why = conditionWhy(c.Reason, c.Message)
		}
		return row
	}
	wanted := jobWantsActive(counts)
	if counts.Active >= wanted && counts.Ready >= counts.Active {
		return row
	}
	row.Why = whyPods(counts.Active < wanted, r.eventsAbout(KindJob, job), r.pods[job.UID])
	return row
}

// jobWantsActive is how many pods a running Job wants at once: its
// parallelism, or fewer when fewer completions remain.
func jobWantsActive(counts *JobCounts) int32 {
	if counts.Completions == nil {
		if counts.Succeeded > 0 {
			return 0 // one success completes it: no new pod is started
		}
		return counts.Parallelism
	}
	return max(0, min(counts.Parallelism, *counts.Completions-counts.Succeeded))
}

// jobCondition is a Job's condition of type t when it is True.
func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func cronJobRow(cj *batchv1.CronJob, r *related) WorkloadRow {
	state := &CronJobState{Schedule: cj.Spec.Schedule, Suspended: ptr.Deref(cj.Spec.Suspend, false),
		LastScheduleTime: cj.Status.LastScheduleTime}
	for _, ref := range cj.Status.Active {
		state.ActiveJobs = append(state.ActiveJobs, ref.Name)
	}
	sort.Strings(state.ActiveJobs)
	row := WorkloadRow{Namespace: cj.Namespace, Kind: KindCronJob, Name: cj.Name, CronJob: state}
	if state.Suspended {
		row.Why = "Suspended: spec.suspend is true: no Job is created until it is unset"
		return row
	}
	// A refusal of a Job counts until a later Job was created.
	var since time.Time
	if t := cj.Status.LastScheduleTime; t != nil {
		since = t.Time
	}
	if ev := latestEvent(r.eventsAbout(KindCronJob, cj)); ev != nil && lastObserved(ev).After(since) {
		row.Why = ev.Reason + ": " + ev.Note
	}
	return row
}

// podsCell is the PODS column: ready/desired replicas; a Job's completions
// as kubectl shows them (succeeded/completions, "0/1 of 3" without
// completions) with its active and failed pods; a CronJob's active Jobs and
// last schedule.
func (c *cli) podsCell(w WorkloadRow) string {
	switch {
	case w.Replicas != nil:
		return fmt.Sprintf("%d/%d", w.Replicas.Ready, w.Replicas.Desired)
	case w.Job != nil:
		j := w.Job
		s := fmt.Sprintf("%d/1", j.Succeeded)
		switch {
		case j.Completions != nil:
			s = fmt.Sprintf("%d/%d", j.Succeeded, *j.Completions)
		case j.Parallelism > 1:
			s = fmt.Sprintf("%d/1 of %d", j.Succeeded, j.Parallelism)
		}
		var more []string
		if j.Active > 0 {
			more = append(more, fmt.Sprintf("%d active", j.Active))
		}
		if j.Failed > 0 {
			more = append(more, fmt.Sprintf("%d failed", j.Failed))
		}
		if len(more) > 0 {
			s += " (" + strings.Join(more, ", ") + ")"
		}
		return s
	case w.CronJob != nil:
		jobs := "no active job"
		switch n := len(w.CronJob.ActiveJobs); {
		case n == 1:
			jobs = "1 active job"
		case n > 1:
			jobs = fmt.Sprintf("%d active jobs", n)
		}
		if t := w.CronJob.LastScheduleTime; t != nil {
			return jobs + ", last scheduled " + c.age(t.Time) + " ago"
		}
		return jobs + ", never scheduled"
	}
	return ""
}

func (c *cli) workloadsTable(out WorkloadsOutput, allNamespaces bool) *table {
	header := []string{"NAME", "PODS", "WHY"}
	if allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	t := &table{header: header}
	for _, w := range out.Workloads {
		cells := []string{w.Kind + "/" + w.Name, c.podsCell(w), orDash(w.Why)}
		if allNamespaces {
			cells = append([]string{w.Namespace}, cells...)
		}
		t.add(cells...)
	}
	return t
}
