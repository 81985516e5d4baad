package plugin

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// The messages the API server gives the controllers, as their FailedCreate
// Events quote them.
const (
	quotaRefusal = `Error creating: pods "train-x7k2p" is forbidden: exceeded quota: tenantai-quota, ` +
		`requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=2, limited: requests.nvidia.com/gpu=2`
	policyRefusal = `Error creating: pods "envy-84987466f-htkl8" is forbidden: ValidatingAdmissionPolicy 'tenantai-pods' ` +
		`with binding 'tenantai-pods' denied request: the pod sets NVIDIA_VISIBLE_DEVICES through env`
	unschedulable = "0/5 nodes are available: 5 Insufficient nvidia.com/gpu. preemption: 0/5 nodes are available: " +
		"5 No preemption victims found for incoming pod."
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func at(minutes int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(minutes) * time.Minute)) }

func objectMeta(name string, uid types.UID, owner *metav1.OwnerReference) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: "acme-prod", Name: name, UID: uid}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return m
}

func controlledBy(kind, name string, uid types.UID) *metav1.OwnerReference {
	return &metav1.OwnerReference{Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}
}

// failedCreate is a FailedCreate Event about an object, recorded through
// core/v1 (as kube-controller-manager does): its time is lastTimestamp.
func failedCreate(name, kind, object string, uid types.UID, last metav1.Time, note string) eventsv1.Event {
	return eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: name},
		Reason: reasonFailedCreate, Note: note, Type: corev1.EventTypeWarning,
		Regarding:                corev1.ObjectReference{Kind: kind, Namespace: "acme-prod", Name: object, UID: uid},
		DeprecatedFirstTimestamp: last, DeprecatedLastTimestamp: last}
}

func pendingPod(name string, owner *metav1.OwnerReference, conds ...corev1.PodCondition) corev1.Pod {
	return corev1.Pod{ObjectMeta: objectMeta(name, types.UID("uid-"+name), owner),
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: conds}}
}

func notScheduled(since metav1.Time, message string) corev1.PodCondition {
	return corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: message, LastTransitionTime: since}
}

func trainJob(active, succeeded int32, conds ...batchv1.JobCondition) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: objectMeta("train", "uid-train", nil),
		Spec:   batchv1.JobSpec{Parallelism: ptr.To[int32](3), Completions: ptr.To[int32](3)},
		Status: batchv1.JobStatus{Active: active, Succeeded: succeeded, Ready: ptr.To[int32](0), Conditions: conds}}
}

// TestJobWhyOrder: pods missing, the latest FailedCreate Event wins over a
// waiting pod; without missing pods the Events are stale and the pod's
// condition says why; a Job that wants no pod shows its own condition.
func TestJobWhyOrder(t *testing.T) {
	jobRef := controlledBy("Job", "train", "uid-train")
	older := failedCreate("train.1", "Job", "train", "uid-train", at(1), "Error creating: an older refusal")
	latest := failedCreate("train.2", "Job", "train", "uid-train", at(3), quotaRefusal)
	stuck := pendingPod("train-a", jobRef, notScheduled(at(2), unschedulable))
	cases := map[string]struct {
		job    *batchv1.Job
		events []eventsv1.Event
		pods   []corev1.Pod
		want   string
	}{
		"pods missing: the latest FailedCreate, before a waiting pod": {
			job: trainJob(2, 0), events: []eventsv1.Event{latest, older}, pods: []corev1.Pod{stuck},
			want: "FailedCreate: " + quotaRefusal,
		},
		"pods missing, no Event: the waiting pod": {
			job: trainJob(2, 0), pods: []corev1.Pod{stuck},
			want: "Unschedulable: " + unschedulable,
		},
		"no pod missing: the Events are stale, the pod says why": {
			job: trainJob(3, 0), events: []eventsv1.Event{latest}, pods: []corev1.Pod{stuck},
			want: "Unschedulable: " + unschedulable,
		},
		"fewer completions remain than parallelism": {
			job: trainJob(1, 2), events: []eventsv1.Event{latest},
			want: "",
		},
		"a pending pod no scheduler has seen says nothing": {
			job: trainJob(3, 0), pods: []corev1.Pod{pendingPod("train-b", jobRef)},
			want: "",
		},
		"another object's Event does not count": {
			job:    trainJob(2, 0),
			events: []eventsv1.Event{failedCreate("other.1", "Job", "other", "uid-other", at(5), "Error creating: not train's")},
			want:   "",
		},
		"complete: nothing holds it back": {
			job:    trainJob(0, 3, batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}),
			events: []eventsv1.Event{latest},
			want:   "",
		},
		"failed: its condition": {
			job: trainJob(0, 1, batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
				Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}),
			events: []eventsv1.Event{latest},
			want:   "BackoffLimitExceeded: Job has reached the specified backoff limit",
		},
		"suspended: its condition": {
			job: func() *batchv1.Job {
				j := trainJob(0, 0, batchv1.JobCondition{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue,
					Reason: "JobSuspended", Message: "Job suspended"})
				j.Spec.Suspend = ptr.To(true)
				return j
			}(),
			events: []eventsv1.Event{latest},
			want:   "JobSuspended: Job suspended",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			row := jobRow(tc.job, newRelated(tc.events, tc.pods, nil))
			if row.Why != tc.want {
				t.Errorf("why = %q\nwant  %q", row.Why, tc.want)
			}
		})
	}
}

// TestLatestEventByLastObservation: core/v1 Events (lastTimestamp), new
// ones (eventTime) and series compare by when they were last observed.
func TestLatestEventByLastObservation(t *testing.T) {
	legacy := failedCreate("a", "Job", "train", "uid-train", at(4), "legacy, last seen at 4")
	fresh := eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Reason: reasonFailedCreate, Note: "new, at 2",
		EventTime: metav1.NewMicroTime(at(2).Time)}
	series := eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Reason: reasonFailedCreate, Note: "series, last at 6",
		EventTime: metav1.NewMicroTime(at(1).Time), Series: &eventsv1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(at(6).Time)}}
	if got := latestEvent([]*eventsv1.Event{&legacy, &fresh, &series}); got.Note != series.Note {
		t.Errorf("latest = %q, want the series", got.Note)
	}
	if got := latestEvent([]*eventsv1.Event{&fresh, &legacy}); got.Note != legacy.Note {
		t.Errorf("latest = %q, want the legacy Event", got.Note)
	}
	if latestEvent(nil) != nil {
		t.Error("latest of none is not nil")
	}
}

// TestPodWhy: not scheduled, then a waiting container, then not Ready.
func TestPodWhy(t *testing.T) {
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady",
		Message: "containers with unready status: [app]", LastTransitionTime: at(1)}
	pulling := pendingPod("p", nil, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, ready)
	pulling.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "example.com/app:1"`}}}}
	notReady := pendingPod("q", nil, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, ready)
	running := pendingPod("r", nil, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
	running.Status.Phase = corev1.PodRunning
	done := pendingPod("s", nil, notScheduled(at(1), unschedulable))
	done.Status.Phase = corev1.PodSucceeded
	cases := map[string]struct {
		pod  corev1.Pod
		want string
	}{
		"unschedulable":            {pendingPod("u", nil, notScheduled(at(1), unschedulable)), "Unschedulable: " + unschedulable},
		"image pull":               {pulling, `ImagePullBackOff: Back-off pulling image "example.com/app:1"`},
		"containers not ready":     {notReady, "ContainersNotReady: containers with unready status: [app]"},
		"running and ready":        {running, ""},
		"finished":                 {done, ""},
		"no scheduler has seen it": {pendingPod("n", nil), ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got, _ := podWhy(&tc.pod); got != tc.want {
				t.Errorf("why = %q, want %q", got, tc.want)
			}
		})
	}
	// Of several waiting pods, the freshest reason.
	a := pendingPod("a", nil, notScheduled(at(1), "0/5 nodes are available: an older message"))
	b := pendingPod("b", nil, notScheduled(at(2), unschedulable))
	if got := waitingPodWhy([]*corev1.Pod{&a, &b}); got != "Unschedulable: "+unschedulable {
		t.Errorf("freshest = %q", got)
	}
}

func envyDeployment(ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "envy", UID: "uid-envy",
			Annotations: map[string]string{revisionAnnotation: "2"}},
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.DeploymentStatus{Replicas: ready, ReadyReplicas: ready, UpdatedReplicas: ready},
	}
}

func replicaSet(name, revision string, replicas, current int32) appsv1.ReplicaSet {
	rs := appsv1.ReplicaSet{ObjectMeta: objectMeta(name, types.UID("uid-"+name), controlledBy("Deployment", "envy", "uid-envy")),
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.ReplicaSetStatus{Replicas: current}}
	rs.Annotations = map[string]string{revisionAnnotation: revision}
	return rs
}

// TestDeploymentWhyFromItsCurrentReplicaSets: the Events of the current
// ReplicaSets count, not those of an old one scaled to 0; without Events,
// the ReplicaSet's ReplicaFailure, then the Deployment's conditions.
func TestDeploymentWhyFromItsCurrentReplicaSets(t *testing.T) {
	current := replicaSet("envy-new", "2", 2, 0)
	old := replicaSet("envy-old", "1", 0, 0)
	events := []eventsv1.Event{
		failedCreate("envy-new.1", "ReplicaSet", "envy-new", "uid-envy-new", at(1), policyRefusal),
		failedCreate("envy-old.1", "ReplicaSet", "envy-old", "uid-envy-old", at(5), "Error creating: the old revision's refusal"),
	}
	failing := replicaSet("envy-new", "2", 2, 0)
	failing.Status.Conditions = []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
		Reason: reasonFailedCreate, Message: `pods "envy-new-abcde" is forbidden: exceeded quota: tenantai-quota`}}
	stalled := envyDeployment(0)
	stalled.Status.Conditions = []appsv1.DeploymentCondition{
		{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."},
		{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "envy-new" has timed out progressing.`},
	}
	cases := map[string]struct {
		d      *appsv1.Deployment
		rs     []appsv1.ReplicaSet
		events []eventsv1.Event
		want   string
	}{
		"the current ReplicaSet's refusal":           {envyDeployment(0), []appsv1.ReplicaSet{current, old}, events, "FailedCreate: " + policyRefusal},
		"all ready: nothing, whatever Events remain": {envyDeployment(2), []appsv1.ReplicaSet{current, old}, events, ""},
		"no Event left: the ReplicaSet's ReplicaFailure": {envyDeployment(0), []appsv1.ReplicaSet{failing}, nil,
			`FailedCreate: pods "envy-new-abcde" is forbidden: exceeded quota: tenantai-quota`},
		"no Event, no ReplicaSet condition: a stalled rollout": {stalled, []appsv1.ReplicaSet{current}, nil,
			`ProgressDeadlineExceeded: ReplicaSet "envy-new" has timed out progressing.`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := deploymentRow(tc.d, newRelated(tc.events, nil, tc.rs)).Why; got != tc.want {
				t.Errorf("why = %q\nwant  %q", got, tc.want)
			}
		})
	}
}

func TestStatefulSetAndCronJobWhy(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: objectMeta("notebook", "uid-notebook", nil),
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1)}}
	refusal := `create Pod notebook-0 in StatefulSet notebook failed error: pods "notebook-0" is forbidden: exceeded quota: tenantai-quota`
	// An Event that names no UID is matched by kind and name.
	ev := failedCreate("notebook.1", "StatefulSet", "notebook", "", at(1), refusal)
	if got := statefulSetRow(sts, newRelated([]eventsv1.Event{ev}, nil, nil)).Why; got != "FailedCreate: "+refusal {
		t.Errorf("StatefulSet why = %q", got)
	}

	jobRefusal := `Error creating job: jobs.batch "nightly-29630520" is forbidden: exceeded quota: tenantai-quota, ` +
		`requested: count/jobs.batch=1, used: count/jobs.batch=50, limited: count/jobs.batch=50`
	nightly := func(lastSchedule *metav1.Time, suspend bool) *batchv1.CronJob {
		return &batchv1.CronJob{ObjectMeta: objectMeta("nightly", "uid-nightly", nil),
			Spec:   batchv1.CronJobSpec{Schedule: "0 2 * * *", Suspend: ptr.To(suspend)},
			Status: batchv1.CronJobStatus{LastScheduleTime: lastSchedule}}
	}
	events := []eventsv1.Event{failedCreate("nightly.1", "CronJob", "nightly", "uid-nightly", at(10), jobRefusal)}
	cases := map[string]struct {
		cj   *batchv1.CronJob
		want string
	}{
		"a Job refused since the last one was created": {nightly(ptr.To(at(5)), false), "FailedCreate: " + jobRefusal},
		"never scheduled, refused":                     {nightly(nil, false), "FailedCreate: " + jobRefusal},
		"a Job created since the refusal":              {nightly(ptr.To(at(15)), false), ""},
		"suspended":                                    {nightly(nil, true), "Suspended: spec.suspend is true: no Job is created until it is unset"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := cronJobRow(tc.cj, newRelated(events, nil, nil)).Why; got != tc.want {
				t.Errorf("why = %q\nwant  %q", got, tc.want)
			}
		})
	}
}

func TestWorkloadsTableRendering(t *testing.T) {
	jobRef := controlledBy("Job", "train", "uid-train")
	snap := &workloadSnapshot{}
	snap.jobs.Items = []batchv1.Job{*trainJob(2, 0),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-dev", Name: "sweep"},
			Spec:   batchv1.JobSpec{Parallelism: ptr.To[int32](4)},
			Status: batchv1.JobStatus{Succeeded: 1, Active: 3, Ready: ptr.To[int32](3), Failed: 2}}}
	snap.cronJobs.Items = []batchv1.CronJob{{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "nightly"},
		Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *"},
		Status: batchv1.CronJobStatus{LastScheduleTime: ptr.To(at(0)),
			Active: []corev1.ObjectReference{{Name: "nightly-29630521"}, {Name: "nightly-29630520"}}}}}
	snap.statefulSets.Items = []appsv1.StatefulSet{{ObjectMeta: objectMeta("notebook", "uid-notebook", nil),
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1)}, Status: appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1}}}
	snap.events.Items = []eventsv1.Event{failedCreate("train.1", "Job", "train", "uid-train", at(1), quotaRefusal)}
	snap.pods.Items = []corev1.Pod{pendingPod("train-a", jobRef), pendingPod("train-b", jobRef)}
	out := workloadsOutput(snap)
	c := &cli{opts: Options{Now: func() time.Time { return t0.Add(90 * time.Minute) }}}

	want := `NAMESPACE   NAME                   PODS                                    WHY
acme-dev    Job/sweep              1/1 of 4 (3 active, 2 failed)           -
acme-prod   CronJob/nightly        2 active jobs, last scheduled 90m ago   -
acme-prod   Job/train              0/3 (2 active)                          FailedCreate: ` + quotaRefusal + `
acme-prod   StatefulSet/notebook   1/1                                     -
`
	if diff := cmp.Diff(want, render(t, c.workloadsTable(out, true))); diff != "" {
		t.Errorf("table -A (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&CronJobState{Schedule: "0 2 * * *", LastScheduleTime: ptr.To(at(0)),
		ActiveJobs: []string{"nightly-29630520", "nightly-29630521"}}, out.Workloads[1].CronJob); diff != "" {
		t.Errorf("CronJob state (-want +got):\n%s", diff)
	}
}

// TestReadWorkloadsSkipsTenantaiManaged: a ModelDeployment's Deployments
// (managed by tenantai) are not the tenant's workloads; without any
// workload nothing else is read.
func TestReadWorkloadsSkipsTenantaiManaged(t *testing.T) {
	managed := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "chat",
		Labels: map[string]string{platformv1alpha1.ManagedByLabel: platformv1alpha1.ManagedByValue}}}
	own := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-prod", Name: "web"}}
	elsewhere := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "acme-dev", Name: "web"}}
	kube := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(managed, own, elsewhere).
		WithIndex(&eventsv1.Event{}, "reason", func(o client.Object) []string { return []string{o.(*eventsv1.Event).Reason} }).Build()
	snap, err := readWorkloads(context.Background(), kube, readScope{namespace: "acme-prod"})
	if err != nil {
		t.Fatal(err)
	}
	out := workloadsOutput(snap)
	if len(out.Workloads) != 1 || out.Workloads[0].Name != "web" || out.Workloads[0].Namespace != "acme-prod" {
		t.Errorf("workloads = %+v, want only acme-prod/web", out.Workloads)
	}

	kube = fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(managed).Build()
	snap, err = readWorkloads(context.Background(), kube, readScope{namespace: "acme-prod"})
	if err != nil || !snap.empty() {
		t.Errorf("only a model's Deployment: %v, %+v", err, snap)
	}
}
