#!/usr/bin/env bash
# make demo: the local cluster with the operator and two sample tenants, then a
# short tour of what tenantai did. Leaves everything running; `make demo-down`
# stops it. A second run reuses the running cluster (and restarts the operator
# with a fresh build), so it takes seconds. See docs/local-cluster.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
lc=$root/hack/local-cluster.sh
export LOCAL_CLUSTER_NAME=${LOCAL_CLUSTER_NAME:-tenantai}
KUBECONFIG_FILE=$("$lc" kubeconfig)
KUBECTL=$("$root/hack/build-local-cluster.sh" --print-paths | sed -n 's/^kubectl=//p')
samples=$root/config/samples
demo=$samples/demo
kwok_logs=${KWOK_WORKDIR:-$root/.cache/kwok}/clusters/$LOCAL_CLUSTER_NAME/logs
operator_log=$root/.cache/local-cluster/$LOCAL_CLUSTER_NAME/operator.log

kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
# The kubectl plugin (docs/kubectl-plugin.md), found by kubectl on PATH.
# kubectl refuses flags before a plugin's name, so the kubeconfig goes last.
kubectl_tenantai() { PATH="$root/bin:$PATH" "$KUBECTL" tenantai "$@" --kubeconfig "$KUBECONFIG_FILE"; }

bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
current=""
demo_start=$SECONDS
step() {
	current=$1
	printf '%s==> [%3ds] %s%s\n' "$bold" $((SECONDS - demo_start)) "$1" "$plain"
}
section() { printf '\n%s%s%s\n' "$bold" "$1" "$plain"; }

on_error() {
	local rc=$?
	printf '\nERROR: make demo failed at step: %s (exit %d)\n' "$current" "$rc" >&2
	printf '  operator log:        %s\n' "$operator_log" >&2
	printf '  cluster logs:        %s/<component>.log (etcd, kube-apiserver, kube-controller-manager,\n' "$kwok_logs" >&2
	printf '                       kube-scheduler, kwok-controller, metrics-server)\n' >&2
	printf '  state of the cluster: hack/local-cluster.sh status\n' >&2
	exit "$rc"
}
trap on_error ERR

# wait_or_explain <what> <kubectl wait args...>: on timeout, shows the
# objects' conditions before failing.
wait_or_explain() {
	local what=$1
	shift
	if ! kubectl wait "$@" >/dev/null; then
		echo "timed out waiting for $what; their conditions:" >&2
		local ns_args=() objs=() a
		for a in "$@"; do
			case "$a" in
			--*) ;;
			-n) ;;
			*/*) objs+=("$a") ;;
			*) ns_args=(-n "$a") ;;
			esac
		done
		for a in "${objs[@]}"; do
			kubectl get ${ns_args[@]+"${ns_args[@]}"} "$a" -o jsonpath='{.kind}/{.metadata.name}:{"\n"}{range .status.conditions[*]}  {.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2 || true
		done
		return 1
	fi
}

if ! "$root/hack/build-local-cluster.sh" --all-built 2>/dev/null; then
	printf '%sFirst run: building etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and
' "$bold"
	printf 'metrics-server from their Go modules into bin/ (about 20 minutes on two cores; progress below every 30 s).
'
	printf 'Later runs reuse them and take about 15 seconds.%s
' "$plain"
fi
step "local cluster: build missing binaries, start or reuse cluster '$LOCAL_CLUSTER_NAME'"
"$lc" up 2>&1 | sed 's/^/    /'
step "install CRDs, RBAC, admission policies and the operator's service account"
"$lc" install 2>&1 | sed 's/^/    /'
step "run the operator as a host process (its service account's token, its RBAC)"
"$lc" operator 2>&1 | sed 's/^/    /'

step "apply tenants and quotas: acme (config/samples), globex (config/samples/demo)"
kubectl apply --server-side -f "$samples/platform_v1alpha1_tenant.yaml" -f "$samples/platform_v1alpha1_tenantquota.yaml" \
	-f "$demo/00-globex.yaml" | sed 's/^/    /'
step "wait for the tenants and quotas to be Ready"
wait_or_explain "tenants" --for=condition=Ready --timeout=120s tenant/acme tenant/globex
wait_or_explain "tenant quotas" --for=condition=Ready --timeout=120s tenantquota/acme tenantquota/globex

# Quota admission refuses what a ResourceQuota lists but kube-controller-manager
# does not account yet ("status unknown for quota"): a count/<resource> of a
# CRD installed moments ago is tracked after the quota controller's next
# discovery pass (every 30 s) and the next quota resync (10 s here).
step "wait for kube-controller-manager to account every resource of the tenants' quotas"
unaccounted() {
	kubectl get resourcequotas -A -l platform.tenantai.io/tenant -o go-template='{{range .items}}{{$used := .status.used}}{{$ns := .metadata.namespace}}{{range $k, $v := .status.hard}}{{if not $used}}{{$ns}}:{{$k}} {{else if not (index $used $k)}}{{$ns}}:{{$k}} {{end}}{{end}}{{end}}'
}
deadline=$((SECONDS + 120))
while [ -n "$(unaccounted)" ]; do
	if [ $SECONDS -ge $deadline ]; then
		echo "kube-controller-manager does not account: $(unaccounted)" >&2
		false
	fi
	sleep 1
done

step "apply emulated load (kwok ClusterResourceUsage) and what the acme samples reference"
kubectl apply --server-side -f "$root/hack/local-cluster/demo-usage.yaml" | sed 's/^/    /'
# The model inputs and the checkpoints claim are the platform team's: claims
# pre-bound to static volumes, which the admission policy tenantai-storage
# lets only break-glass make (the cluster has no storage provisioner).
kubectl apply --server-side --as=platform-admin --as-group=tenantai:break-glass --as-group=system:masters \
	-f "$demo/10-acme-prod-model-inputs.yaml" | sed 's/^/    /'

step "apply model deployments: acme chat and ranker (config/samples), globex embed"
mds=()
for f in "$samples"/platform_v1alpha1_modeldeployment*.yaml; do mds+=(-f "$f"); done
kubectl apply --server-side "${mds[@]}" -f "$demo/20-globex-embed.yaml" | sed 's/^/    /'
step "wait for the model deployments to be Ready (pods scheduled on fake GPU nodes)"
acme_mds=$(kubectl get modeldeployments -n acme-prod -o name)
# shellcheck disable=SC2086 # one argument per ModelDeployment
wait_or_explain "acme models" --for=condition=Ready --timeout=180s -n acme-prod $acme_mds
wait_or_explain "globex embed" --for=condition=Ready --timeout=180s -n globex-prod modeldeployment/embed

step "apply globex summarize: 3 GPUs asked, 1 left in globex's quota"
kubectl apply --server-side -f "$demo/30-globex-summarize.yaml" | sed 's/^/    /'
wait_or_explain "summarize to report QuotaExceeded" --for=condition=QuotaExceeded --timeout=120s -n globex-prod modeldeployment/summarize

# Train, then serve, as the tenant: alice@acme.example is an acme developer.
# kwok completes a Job's pod as soon as it runs (no training happens). A Job
# applied again unchanged stays Complete, and the canary file holds only
# spec.canary, under its own field manager: both steps are idempotent.
step "apply acme's fine-tune Job as alice@acme.example (1 GPU, writes pvc://checkpoints/chat-ft-v2)"
kubectl apply --server-side --as=alice@acme.example -f "$demo/40-acme-finetune.yaml" | sed 's/^/    /'
wait_or_explain "the fine-tune Job" --for=condition=Complete --timeout=120s -n acme-prod job/chat-finetune
step "apply chat's canary ft-v2 from pvc://checkpoints/chat-ft-v2 as alice@acme.example"
kubectl apply --server-side --as=alice@acme.example --field-manager=acme-finetune \
	-f "$demo/50-acme-chat-canary.yaml" | sed 's/^/    /'
wait_or_explain "chat with its canary" --for=condition=Ready --timeout=180s -n acme-prod modeldeployment/chat
# Not fatal: metrics-server needs two scrapes (10 s apart) of a pod before it
# reports its CPU, and the HPA then reads it.
step "wait for the HPA to read chat's CPU from metrics-server (kwok's emulated use)"
hpa_utilization() { kubectl get hpa chat -n acme-prod -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization}' 2>/dev/null; }
deadline=$((SECONDS + 60))
until [ -n "$(hpa_utilization)" ] || [ $SECONDS -ge $deadline ]; do sleep 2; done
[ -n "$(hpa_utilization)" ] || echo "    (no metrics yet: see $kwok_logs/metrics-server.log)"
step "build the kubectl plugin into bin/kubectl-tenantai"
(cd "$root" && go build -o bin/kubectl-tenantai ./cmd/kubectl-tenantai)
step "ready in $((SECONDS - demo_start))s; the tour:"

section "1. Tenants, and the namespaces the operator made for them (Pod Security enforced)"
kubectl get tenants
echo
kubectl get namespaces -l platform.tenantai.io/tenant \
	-L platform.tenantai.io/tenant,pod-security.kubernetes.io/enforce,env

section "2. Quota use per tenant (TenantQuota = sum of one native ResourceQuota per namespace)"
kubectl get tenantquotas
echo
kubectl get resourcequotas -A -l platform.tenantai.io/tenant -o custom-columns='NAMESPACE:.metadata.namespace,GPU USED:.status.used.requests\.nvidia\.com/gpu,GPU HARD:.status.hard.requests\.nvidia\.com/gpu,CPU USED:.status.used.requests\.cpu,CPU HARD:.status.hard.requests\.cpu,PODS:.status.used.pods'
echo
echo "\$ kubectl tenantai quota acme    # the kubectl plugin: per resource and namespace, GPUs first"
kubectl_tenantai quota acme

section "3. Models, and their pods on the fake GPU nodes (kwok: no containers run)"
kubectl get modeldeployments -A
echo
kubectl get pods -A -l platform.tenantai.io/model -o custom-columns='NAMESPACE:.metadata.namespace,POD:.metadata.name,STATUS:.status.phase,NODE:.spec.nodeName,TENANT:.metadata.labels.platform\.tenantai\.io/tenant,MODEL:.metadata.labels.platform\.tenantai\.io/model,VERSION:.metadata.labels.platform\.tenantai\.io/version,GPU:.spec.containers[0].resources.requests.nvidia\.com/gpu'
echo
kubectl get nodes -o custom-columns='NODE:.metadata.name,POOL:.metadata.labels.pool\.tenantai\.io/name,GPUS:.status.allocatable.nvidia\.com/gpu,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product,TAINT:.spec.taints[*].key,READY:.status.conditions[?(@.type=="Ready")].status'
echo
kubectl get hpa -A
top=$(kubectl top pods -A -l platform.tenantai.io/model 2>/dev/null || true)
if [ "$(printf '%s\n' "$top" | wc -l)" -gt 1 ]; then
	echo
	printf '%s\n' "$top"
fi

section "4. A tenant's own workload: train on a GPU, then serve the result as a canary"
echo "\$ kubectl get jobs -n acme-prod    # applied as alice@acme.example; kwok completed its pod: no training ran"
kubectl get jobs -n acme-prod
echo
kubectl get pods -n acme-prod -l batch.kubernetes.io/job-name=chat-finetune -o custom-columns='POD:.metadata.name,STATUS:.status.phase,NODE:.spec.nodeName,GPU:.spec.containers[0].resources.requests.nvidia\.com/gpu,CLAIM:.spec.volumes[?(@.persistentVolumeClaim)].persistentVolumeClaim.claimName,SA TOKEN:.spec.automountServiceAccountToken'
echo "(SA TOKEN false: the pod left automountServiceAccountToken unset; tenantai-token-automount set it)"
echo
echo "\$ kubectl tenantai models -n acme-prod    # chat: v3 from S3, its canary ft-v2 from the Job's output"
kubectl_tenantai models -n acme-prod

section "5. What was refused, and why"
msg=$(kubectl get modeldeployment summarize -n globex-prod -o jsonpath='{.status.conditions[?(@.type=="QuotaExceeded")].message}')
printf -- '- globex-prod/summarize asked for 3 GPUs with 1 left; its status (QuotaExceeded):\n    %s\n' "$msg"
printf -- '- a GPU pod in globex-prod, even from a cluster admin (quota admission):\n    '
kubectl run over-quota -n globex-prod --image=registry.k8s.io/pause:3.10 --restart=Never --dry-run=server \
	--overrides='{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"over-quota","image":"registry.k8s.io/pause:3.10","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}},"resources":{"requests":{"nvidia.com/gpu":"1"},"limits":{"nvidia.com/gpu":"1"}}}]}}' \
	2>&1 | head -n 3 || true
printf -- '- a privileged pod in acme-prod (Pod Security restricted):\n    '
kubectl run privileged -n acme-prod --image=registry.k8s.io/pause:3.10 --restart=Never --privileged --dry-run=server 2>&1 | head -n 3 || true
printf -- '- an ExternalName Service in acme-prod aliasing globex'"'"'s model (admission policy tenantai-service-types):\n    '
kubectl create service externalname alias -n acme-prod --external-name=embed.globex-prod.svc.cluster.local --dry-run=server 2>&1 | head -n 3 || true
printf -- '- alice@acme.example (an acme developer) reading globex-prod (RBAC):\n    '
kubectl get pods -n globex-prod --as alice@acme.example 2>&1 | head -n 3 || true

section "Use it"
cat <<EOF
  export KUBECONFIG=$KUBECONFIG_FILE
  export PATH=$root/bin:$(dirname "$KUBECTL"):\$PATH   # the project's kubectl, matching the cluster, and its plugin
  kubectl get tenants,tenantquotas
  kubectl tenantai tenants; kubectl tenantai quota globex; kubectl tenantai models -A   # docs/kubectl-plugin.md
  kubectl get modeldeployments,pods -n acme-prod -o wide
  kubectl --as alice@acme.example -n acme-prod get jobs,pods   # what acme's developer sees
  kubectl -n acme-prod annotate pods -l platform.tenantai.io/model=chat kwok.x-k8s.io/usage-cpu=8   # emulate load
  kubectl get hpa -n acme-prod -w                                                                    # ...and watch the HPA
  operator log: $operator_log
  cluster logs: $kwok_logs/
  hack/local-cluster.sh status      # components, nodes, operator
  make demo-down                    # stop the operator and delete the cluster
EOF
