package plugin

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	platformv1alpha1 "github.com/tenantai/tenantai/api/v1alpha1"
)

// The preflight checks of workloads: pods in tenant namespaces (policy
// tenantai-pods) and ModelDeployments (their CRD rules).

// podFindings: tenantai-pods refuses, on create, pods that request an
// accelerator the tenant is not granted, tolerate an accelerator taint while
// requesting none, set NVIDIA_*/AMD_VISIBLE_DEVICES through env, or run as a
// service account the Tenant names; tenantai-token-automount takes the token
// from pods that do not ask for one. Pods that run keep running. Each finding
// names the pod's owner, so that groupPodFindings can merge its pods.
func podFindings(pod *corev1.Pod, tn tenantNamespace) []PreflightFinding {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	kind, name := podOwner(pod)
	var out []PreflightFinding
	add := func(check, finding, action string) {
		out = append(out, PreflightFinding{Check: check, Namespace: pod.Namespace, Kind: kind, Name: name,
			Pods: []string{pod.Name}, Finding: finding, Action: action})
	}
	if g := tn.grants; g != nil {
		accelerators := podAccelerators(pod, g.acceleratorPrefixes)
		if ungranted := without(accelerators, g.accelerators); len(ungranted) > 0 {
			add(checkPodAccelerator,
				fmt.Sprintf("requests %s, which tenant %s is not granted (granted accelerators: %s): running pods keep running, new ones are refused",
					strings.Join(ungranted, ", "), tn.tenant, grantedCell(g.accelerators)),
				fmt.Sprintf("name it in TenantQuota %s's spec.hard (e.g. requests.%s)", tn.tenant, ungranted[0]))
		}
		if tolerated := acceleratorTolerations(pod.Spec.Tolerations, g.acceleratorPrefixes, true); len(accelerators) == 0 && len(tolerated) > 0 {
			add(checkPodToleration,
				fmt.Sprintf("tolerates %s but requests no accelerator: running pods keep running, new ones are refused "+
					"(only pods that request an accelerator may run on accelerator nodes)", strings.Join(tolerated, ", ")),
				"remove the toleration, or request the accelerator in resources")
		}
		if sa := pod.Spec.ServiceAccountName; sa != "" && slices.Contains(g.serviceAccounts, sa) {
			add(checkPodServiceAccount,
				fmt.Sprintf("runs as service account %s, which Tenant %s names as an owner or member: running pods keep running, "+
					"new ones are refused (whoever creates pods would hold its role)", sa, tn.tenant),
				fmt.Sprintf("run the pods as another service account, or stop naming %s in Tenant %s", sa, tn.tenant))
		}
	}
	if pod.Spec.AutomountServiceAccountToken == nil && mountsToken(pod) {
		add(checkPodToken,
			"mounts a service-account token it did not ask for (automountServiceAccountToken unset): running pods keep theirs, "+
				"pods created from now on get none (tenantai-token-automount)",
			"if it calls the Kubernetes API, set automountServiceAccountToken: true in its pod template; otherwise nothing to do")
		out[len(out)-1].Informational = true // nothing is refused; most pods never use the token
	}
	if env := visibilityEnv(podEnvNames(pod)); len(env) > 0 {
		add(checkPodGPUEnv,
			fmt.Sprintf("sets %s through env: the container runtime would show it GPUs it did not request; "+
				"running pods keep running, new ones are refused", strings.Join(env, ", ")),
			"remove the variable; request GPUs as resources (e.g. nvidia.com/gpu)")
	}
	return out
}

// mountsToken reports whether a pod carries the projected token volume the
// ServiceAccount admission plugin adds (kube-api-access-*).
func mountsToken(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil {
					return true
				}
			}
		}
	}
	return false
}

// podOwner is what a pod finding names: the pod's controller, a Deployment
// for a ReplicaSet the Deployment controller named ("<deployment>-<pod-template-hash>"),
// or the pod itself.
func podOwner(pod *corev1.Pod) (kind, name string) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return "Pod", pod.Name
	}
	if hash := pod.Labels["pod-template-hash"]; ref.Kind == "ReplicaSet" && hash != "" && strings.HasSuffix(ref.Name, "-"+hash) {
		return "Deployment", strings.TrimSuffix(ref.Name, "-"+hash)
	}
	return ref.Kind, ref.Name
}

// groupPodFindings merges the identical findings of pods with the same
// owner into one, listing the pods: a Deployment of 50 replicas is one row.
func groupPodFindings(fs []PreflightFinding) []PreflightFinding {
	type key struct{ check, namespace, kind, name, finding string }
	index := map[key]int{}
	var out []PreflightFinding
	for _, f := range fs {
		k := key{f.Check, f.Namespace, f.Kind, f.Name, f.Finding}
		if i, ok := index[k]; ok {
			out[i].Pods = append(out[i].Pods, f.Pods...)
			continue
		}
		index[k] = len(out)
		out = append(out, f)
	}
	for i := range out {
		sort.Strings(out[i].Pods)
	}
	return out
}

// podAccelerators are the accelerator resources a pod's containers and init
// containers request or limit, once each, sorted.
func podAccelerators(pod *corev1.Pod, prefixes []string) []string {
	seen := map[string]bool{}
	for _, c := range append(slices.Clone(pod.Spec.Containers), pod.Spec.InitContainers...) {
		for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			for r := range l {
				if hasAnyPrefix(string(r), prefixes) {
					seen[string(r)] = true
				}
			}
		}
	}
	return sortedKeys(seen)
}

// acceleratorTolerations names the tolerations that let a pod onto
// accelerator nodes: a key with an accelerator prefix, or every taint. The
// pod policy counts an empty key only with operator Exists
// (emptyKeyNeedsExists); the ModelDeployment CRD counts any empty key.
func acceleratorTolerations(tolerations []corev1.Toleration, prefixes []string, emptyKeyNeedsExists bool) []string {
	var out []string
	for _, t := range tolerations {
		switch {
		case t.Key == "" && (!emptyKeyNeedsExists || t.Operator == corev1.TolerationOpExists):
			out = append(out, "every taint")
		case t.Key != "" && hasAnyPrefix(t.Key, prefixes):
			out = append(out, t.Key)
		}
	}
	return out
}

// podEnvNames are the env names of every container, init and ephemeral
// container.
func podEnvNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range append(slices.Clone(pod.Spec.Containers), pod.Spec.InitContainers...) {
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
	}
	return names
}

// visibilityEnv are the names that make the container runtime show GPUs:
// NVIDIA_* and AMD_VISIBLE_DEVICES, once each, sorted.
func visibilityEnv(names []string) []string {
	seen := map[string]bool{}
	for _, n := range names {
		if strings.HasPrefix(n, "NVIDIA_") || n == "AMD_VISIBLE_DEVICES" {
			seen[n] = true
		}
	}
	return sortedKeys(seen)
}

// modelAcceleratorPrefixes are the prefixes the ModelDeployment CRD's
// toleration rule names (fixed in the schema, unlike the operator's
// configurable ones).
var modelAcceleratorPrefixes = []string{"nvidia.com/", "amd.com/", "gpu.intel.com/", "habana.ai/"}

// modelFindings: the ModelDeployment CRD refuses NVIDIA_*/AMD_VISIBLE_DEVICES
// in runtime.env, and placement tolerations of an accelerator taint (or an
// empty key) while runtime.resources requests no accelerator. The second
// rule is on the whole spec, so every change to the spec is refused.
func modelFindings(md *platformv1alpha1.ModelDeployment) []PreflightFinding {
	var out []PreflightFinding
	base := PreflightFinding{Namespace: md.Namespace, Kind: "ModelDeployment", Name: md.Name}
	names := make([]string, 0, len(md.Spec.Runtime.Env))
	for _, e := range md.Spec.Runtime.Env {
		names = append(names, e.Name)
	}
	if env := visibilityEnv(names); len(env) > 0 {
		f := base
		f.Check = checkModelGPUEnv
		f.Finding = fmt.Sprintf("runtime.env sets %s, which the ModelDeployment CRD now refuses: changes to runtime.env are refused "+
			"until it goes, and so are new pods of this model", strings.Join(env, ", "))
		f.Action = "remove it from runtime.env; request GPUs in runtime.resources instead"
		out = append(out, f)
	}
	if md.Spec.Placement == nil || modelRequestsAccelerator(md) {
		return out
	}
	if tolerated := acceleratorTolerations(md.Spec.Placement.Tolerations, modelAcceleratorPrefixes, false); len(tolerated) > 0 {
		f := base
		f.Check = checkModelToleration
		f.Finding = fmt.Sprintf("placement.tolerations tolerates %s but runtime.resources requests no accelerator, which the "+
			"ModelDeployment CRD now refuses: changes to its spec are refused until it is fixed", strings.Join(tolerated, ", "))
		f.Action = "remove the toleration, or request the accelerator in runtime.resources"
		out = append(out, f)
	}
	return out
}

func modelRequestsAccelerator(md *platformv1alpha1.ModelDeployment) bool {
	for _, l := range []corev1.ResourceList{md.Spec.Runtime.Resources.Requests, md.Spec.Runtime.Resources.Limits} {
		for r := range l {
			if hasAnyPrefix(string(r), modelAcceleratorPrefixes) {
				return true
			}
		}
	}
	return false
}
