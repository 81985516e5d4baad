package modeldeployment

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
	"github.com/tenantai/tenantai/internal/conditions"
)

const quotaMessage = `pods "chat-abc" is forbidden: exceeded quota: tenantai-quota, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8`

// dep is a Deployment as its controller reports it.
func dep(name, version string, replicas, ready int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Name = name
	d.Generation = 1
	d.Spec.Replicas = ptr.To(replicas)
	d.Spec.Template.Labels = map[string]string{platformv1alpha1.VersionLabel: version}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas,
		ReadyReplicas: ready, AvailableReplicas: ready, Conditions: conds}
	return d
}

func available(status corev1.ConditionStatus, msg string) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: status, Message: msg}
}

func TestVersions(t *testing.T) {
	cases := map[string]struct {
		tracks []track
		want   []platformv1alpha1.VersionStatus
	}{
		"nothing runs yet: desired weights": {
			tracks: []track{{name: "chat", version: "v3", weight: 80}, {name: "chat-canary", version: "v4", weight: 20}},
			want:   []platformv1alpha1.VersionStatus{{Version: "v3", Weight: 80}, {Version: "v4", Weight: 20}},
		},
		"the real split": {
			tracks: []track{
				{name: "chat", version: "v3", weight: 80, deployment: dep("chat", "v3", 3, 3)},
				{name: "chat-canary", version: "v4", weight: 20, deployment: dep("chat-canary", "v4", 1, 1)},
			},
			want: []platformv1alpha1.VersionStatus{{Version: "v3", Replicas: 3, ReadyReplicas: 3, Weight: 75}, {Version: "v4", Replicas: 1, ReadyReplicas: 1, Weight: 25}},
		},
		"rounded, adding up to 100": {
			tracks: []track{
				{name: "chat", version: "v3", weight: 70, deployment: dep("chat", "v3", 2, 2)},
				{name: "chat-canary", version: "v4", weight: 30, deployment: dep("chat-canary", "v4", 1, 0)},
			},
			want: []platformv1alpha1.VersionStatus{{Version: "v3", Replicas: 2, ReadyReplicas: 2, Weight: 67}, {Version: "v4", Replicas: 1, Weight: 33}},
		},
		"a held canary counts for the promoted version": {
			tracks: []track{
				{name: "chat", version: "v4", weight: 100, deployment: dep("chat", "v4", 4, 2)},
				{name: "chat-canary", version: "v4", held: true, deployment: dep("chat-canary", "v4", 1, 1)},
			},
			want: []platformv1alpha1.VersionStatus{{Version: "v4", Replicas: 5, ReadyReplicas: 3, Weight: 100}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, versions(tc.tracks)); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
		})
	}
}

func condition(md *platformv1alpha1.ModelDeployment, condType string) string {
	c := conditions.Get(md, condType)
	if c == nil {
		return "absent"
	}
	return string(c.Status) + "/" + c.Reason + ": " + c.Message
}

func TestAvailable(t *testing.T) {
	cases := map[string]struct {
		tracks []track
		want   string
	}{
		"not created yet": {
			tracks: []track{{name: "chat"}},
			want:   "False/DeploymentUnavailable: Deployment chat has not reported availability yet",
		},
		"canary unavailable": {
			tracks: []track{
				{name: "chat", deployment: dep("chat", "v3", 1, 1, available(corev1.ConditionTrue, "ok"))},
				{name: "chat-canary", deployment: dep("chat-canary", "v4", 1, 0, available(corev1.ConditionFalse, "Deployment does not have minimum availability."))},
			},
			want: "False/DeploymentUnavailable: Deployment chat-canary is not available: Deployment does not have minimum availability.",
		},
		"a held canary does not count": {
			tracks: []track{
				{name: "chat", deployment: dep("chat", "v4", 1, 1, available(corev1.ConditionTrue, "ok"))},
				{name: "chat-canary", held: true, deployment: dep("chat-canary", "v4", 1, 0)},
			},
			want: "True/DeploymentsAvailable: Deployment chat is available",
		},
		"all available": {
			tracks: []track{
				{name: "chat", deployment: dep("chat", "v3", 1, 1, available(corev1.ConditionTrue, "ok"))},
				{name: "chat-canary", deployment: dep("chat-canary", "v4", 1, 1, available(corev1.ConditionTrue, "ok"))},
			},
			want: "True/DeploymentsAvailable: Deployments chat, chat-canary are available",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			setAvailable(md, tc.tracks)
			if got := condition(md, platformv1alpha1.ModelConditionAvailable); got != tc.want {
				t.Errorf("Available = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestQuotaExceeded(t *testing.T) {
	failure := func(reason, msg string) appsv1.DeploymentCondition {
		return appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: reason, Message: msg}
	}
	cases := map[string]struct {
		cond appsv1.DeploymentCondition
		want string
	}{
		"quota refusal, the API server's message": {cond: failure("FailedCreate", quotaMessage), want: "True/QuotaExceeded: " + quotaMessage},
		"another creation failure is not quota": {
			cond: failure("FailedCreate", `pods "chat-abc" is forbidden: error looking up service account acme-prod/chat-model: serviceaccount "chat-model" not found`),
			want: "False/WithinQuota: no replica of the model is refused by quota",
		},
		"a resolved failure": {
			cond: appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionFalse, Reason: "FailedCreate", Message: quotaMessage},
			want: "False/WithinQuota: no replica of the model is refused by quota",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			setQuotaExceeded(md, []track{{name: "chat", deployment: dep("chat", "v3", 2, 1, tc.cond)}})
			if got := condition(md, platformv1alpha1.ModelConditionQuotaExceeded); got != tc.want {
				t.Errorf("QuotaExceeded = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScalingLimited(t *testing.T) {
	hpa := func(status corev1.ConditionStatus, reason string) *autoscalingv2.HorizontalPodAutoscaler {
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{
			Type: autoscalingv2.ScalingLimited, Status: status, Reason: reason, Message: "the desired replica count is more than the maximum replica count",
		}}
		return h
	}
	cases := map[string]struct {
		autoscaled bool
		hpa        *autoscalingv2.HorizontalPodAutoscaler
		want       string
	}{
		"no autoscaling: absent":       {want: "absent"},
		"HPA not observed yet":         {autoscaled: true, want: "False/WithinRange: the autoscaler is not held back by maxReplicas"},
		"TooManyReplicas is mirrored":  {autoscaled: true, hpa: hpa(corev1.ConditionTrue, "TooManyReplicas"), want: "True/TooManyReplicas: the desired replica count is more than the maximum replica count"},
		"TooFewReplicas is normal":     {autoscaled: true, hpa: hpa(corev1.ConditionTrue, "TooFewReplicas"), want: "False/WithinRange: the autoscaler is not held back by maxReplicas"},
		"DesiredWithinRange is normal": {autoscaled: true, hpa: hpa(corev1.ConditionFalse, "DesiredWithinRange"), want: "False/WithinRange: the autoscaler is not held back by maxReplicas"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			conditions.True(md, platformv1alpha1.ModelConditionScalingLimited, "TooManyReplicas", "stale")
			setScalingLimited(md, tc.autoscaled, tc.hpa)
			if got := condition(md, platformv1alpha1.ModelConditionScalingLimited); got != tc.want {
				t.Errorf("ScalingLimited = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRolloutMessage(t *testing.T) {
	behind := dep("chat", "v4", 4, 4)
	behind.Generation = 2
	updating := dep("chat", "v4", 4, 4)
	updating.Status.UpdatedReplicas = 1
	old := dep("chat", "v4", 4, 4)
	old.Status.Replicas = 5
	cases := map[string]struct {
		canary *platformv1alpha1.Canary
		tracks []track
		want   string
	}{
		"settled":             {tracks: []track{{name: "chat", version: "v3", deployment: dep("chat", "v3", 4, 4)}}},
		"not created":         {tracks: []track{{name: "chat", version: "v3"}}, want: "Deployment chat is being created"},
		"generation behind":   {tracks: []track{{name: "chat", version: "v4", deployment: behind}}, want: "waiting for the Deployment controller to observe Deployment chat"},
		"replicas updating":   {tracks: []track{{name: "chat", version: "v4", deployment: updating}}, want: "Deployment chat: 1 of 4 replicas run version v4"},
		"old replicas remain": {tracks: []track{{name: "chat", version: "v4", deployment: old}}, want: "Deployment chat: 1 old replicas are pending termination"},
		"a canary runs": {
			canary: &platformv1alpha1.Canary{Version: "v4", Weight: 20},
			tracks: []track{{name: "chat", version: "v3", deployment: dep("chat", "v3", 4, 4)}, {name: "chat-canary", version: "v4", deployment: dep("chat-canary", "v4", 1, 1)}},
			want:   "canary version v4 runs at weight 20%: set model.version to v4 to promote it, or remove spec.canary to roll back",
		},
		"a promoted canary is held, whatever the stable's progress": {
			tracks: []track{{name: "chat", version: "v4", deployment: updating}, {name: "chat-canary", version: "v4", held: true}},
			want:   "promoting version v4: Deployment chat-canary is kept until Deployment chat runs it on every replica",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			md := sampleVLLM()
			md.Spec.Canary = tc.canary
			if got := rolloutMessage(md, tc.tracks); got != tc.want {
				t.Errorf("rollout = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRolledOut(t *testing.T) {
	stale := dep("chat", "v3", 4, 4)
	notAvailable := dep("chat", "v4", 4, 4)
	notAvailable.Status.AvailableReplicas = 3
	if rolledOut(stale, "v4") {
		t.Error("a Deployment whose template still has v3 counts as rolled out to v4 (a stale cache would delete the canary early)")
	}
	if rolledOut(notAvailable, "v4") {
		t.Error("a Deployment with an unavailable replica counts as rolled out")
	}
	if !rolledOut(dep("chat", "v4", 4, 4), "v4") {
		t.Error("a fully rolled out Deployment does not count as rolled out")
	}
}

func TestSummarize(t *testing.T) {
	withConds := func(avail, quota metav1.ConditionStatus) *platformv1alpha1.ModelDeployment {
		md := sampleVLLM()
		md.Generation = 3
		md.Status.Endpoint = "chat.acme-prod.svc:8000"
		conditions.Set(md, platformv1alpha1.ModelConditionAvailable, avail, "DeploymentUnavailable", "Deployment chat is not available: x")
		conditions.Set(md, platformv1alpha1.ModelConditionQuotaExceeded, quota, "QuotaExceeded", quotaMessage)
		conditions.True(md, platformv1alpha1.ModelConditionScalingLimited, "TooManyReplicas", "at max")
		return md
	}
	cases := map[string]struct {
		md              *platformv1alpha1.ModelDeployment
		stall           *stall
		err             error
		rollingOut      string
		wantReady       string
		wantReconciling string
		wantStalled     string
	}{
		"ready, scaling limited does not matter": {
			md:              withConds(metav1.ConditionTrue, metav1.ConditionFalse),
			wantReady:       "True/Reconciled: model llama-3.1-8b-instruct version v3 is available at chat.acme-prod.svc:8000",
			wantReconciling: "absent", wantStalled: "absent",
		},
		"ready while a canary rolls out": {
			md: withConds(metav1.ConditionTrue, metav1.ConditionFalse), rollingOut: "canary version v4 runs at weight 20%",
			wantReady:       "True/Reconciled: model llama-3.1-8b-instruct version v3 is available at chat.acme-prod.svc:8000",
			wantReconciling: "True/RollingOut: canary version v4 runs at weight 20%", wantStalled: "absent",
		},
		"quota refusal wins over availability": {
			md:              withConds(metav1.ConditionTrue, metav1.ConditionTrue),
			wantReady:       "False/QuotaExceeded: " + quotaMessage,
			wantReconciling: "True/QuotaExceeded: " + quotaMessage, wantStalled: "absent",
		},
		"unavailable": {
			md:              withConds(metav1.ConditionFalse, metav1.ConditionFalse),
			wantReady:       "False/DeploymentUnavailable: Deployment chat is not available: x",
			wantReconciling: "True/DeploymentUnavailable: Deployment chat is not available: x", wantStalled: "absent",
		},
		"stalled": {
			md: withConds(metav1.ConditionTrue, metav1.ConditionFalse), stall: &stall{reason: "ChildConflict", message: "Deployment chat is taken"},
			wantReady: "False/ChildConflict: Deployment chat is taken", wantReconciling: "absent", wantStalled: "True/ChildConflict: Deployment chat is taken",
		},
		"error": {
			md: withConds(metav1.ConditionTrue, metav1.ConditionFalse), err: errors.New("etcd is down"),
			wantReady: "False/ReconcileError: etcd is down", wantReconciling: "True/ReconcileError: retrying after an error: etcd is down", wantStalled: "absent",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newScope(tc.md)
			s.stall, s.rollingOut, s.completed = tc.stall, tc.rollingOut, tc.err == nil
			summarize(s, tc.err)
			got := []string{condition(tc.md, "Ready"), condition(tc.md, "Reconciling"), condition(tc.md, "Stalled")}
			if diff := cmp.Diff([]string{tc.wantReady, tc.wantReconciling, tc.wantStalled}, got); diff != "" {
				t.Errorf("Ready, Reconciling, Stalled (-want +got):\n%s", diff)
			}
			wantObserved := int64(0)
			if tc.err == nil {
				wantObserved = 3
			}
			if tc.md.Status.ObservedGeneration != wantObserved {
				t.Errorf("observedGeneration = %d, want %d", tc.md.Status.ObservedGeneration, wantObserved)
			}
		})
	}
}
