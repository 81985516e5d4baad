#!/usr/bin/env bash
# The tenantai local cluster: a real control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, metrics-server) with fake GPU nodes
# served by kwok, all run as host processes by kwokctl from binaries built
# into bin/ (hack/build-local-cluster.sh). No Docker, no network beyond
# loopback, nothing downloaded. See docs/local-cluster.md.
#
# usage: hack/local-cluster.sh <command>
#   up              build what is missing, create the cluster (or reuse a running one), add
#                   the fake nodes and kwok's resource metrics, wait for metrics-server
#   install         CRDs, RBAC, admission policies (config/policies/*.yaml), operator namespace
#   operator        (re)start the operator as a host process, as its service account
#   operator-stop   stop the operator
#   down            stop the operator and delete the cluster
#   status          components, nodes, operator
#   kubeconfig      print the admin kubeconfig path
#   logs <name>     print a component's log (etcd, kube-apiserver, kube-controller-manager,
#                   kube-scheduler, kwok-controller, metrics-server, operator)
#
# Environment:
#   LOCAL_CLUSTER_NAME     cluster name (default tenantai; the e2e suite uses tenantai-e2e)
#   KWOK_WORKDIR           kwokctl's state (default .cache/kwok, under the project)
#   OPERATOR_HEALTH_PORT   the operator's /readyz port on 127.0.0.1 (default 18081)
#   OPERATOR_TOKEN_DURATION  lifetime of the operator's token (default 168h)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
CLUSTER=${LOCAL_CLUSTER_NAME:-tenantai}
export KWOK_WORKDIR=${KWOK_WORKDIR:-$root/.cache/kwok}
state=$root/.cache/local-cluster/$CLUSTER
KUBECONFIG_FILE=$state/kubeconfig
OPERATOR_KUBECONFIG=$state/operator.kubeconfig
OPERATOR_LOG=$state/operator.log
OPERATOR_PID=$state/operator.pid
OPERATOR_HEALTH_PORT=${OPERATOR_HEALTH_PORT:-18081}
OPERATOR_TOKEN_DURATION=${OPERATOR_TOKEN_DURATION:-168h}
OPERATOR_NS=tenantai-system
OPERATOR_SA=tenantai-controller-manager
cluster_dir=$KWOK_WORKDIR/clusters/$CLUSTER

# Binary paths, from the build script (one NAME=path per line).
paths=$("$root/hack/build-local-cluster.sh" --print-paths)
binary() { printf '%s\n' "$paths" | sed -n "s|^$1=||p"; }
KUBECTL=$(binary kubectl)
KWOKCTL=$(binary kwokctl)

step() { printf '==> %s\n' "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
kwokctl() { "$KWOKCTL" --name "$CLUSTER" "$@"; }

component_log() { printf '%s/logs/%s.log' "$cluster_dir" "$1"; }

# fail_component <component> <message>: says which component failed, shows
# the end of its log and where the whole log is.
fail_component() {
	local c=$1 msg=$2 log
	if [ "$c" = operator ]; then log=$OPERATOR_LOG; else log=$(component_log "$c"); fi
	printf 'ERROR: %s: %s\n' "$c" "$msg" >&2
	if [ -f "$log" ]; then
		printf -- '--- last lines of %s ---\n' "$log" >&2
		tail -n 25 "$log" >&2 || true
		printf -- '--- full log: %s ---\n' "$log" >&2
	fi
	exit 1
}

module_dir() { # module_dir <tool dir> <module>
	(cd "$root/hack/tools/$1" && go list -m -f '{{.Dir}}' "$2")
}

cluster_exists() { [ -f "$cluster_dir/kwok.yaml" ]; }
api_ready() { [ -f "$KUBECONFIG_FILE" ] && kubectl get --raw /readyz >/dev/null 2>&1; }

render_config() {
	local ms_dir
	ms_dir=$(module_dir metrics-server sigs.k8s.io/metrics-server) || die "metrics-server module not in the module cache (go mod download in hack/tools/metrics-server)"
	[ -d "$ms_dir/manifests/base" ] || die "$ms_dir/manifests/base is missing"
	mkdir -p "$state"
	sed -e "s|\${KUBE_VERSION}|$KUBE_VERSION|g" \
		-e "s|\${KUBECTL}|$KUBECTL|g" \
		-e "s|\${ETCD}|$(binary etcd)|g" \
		-e "s|\${KUBE_APISERVER}|$(binary kube-apiserver)|g" \
		-e "s|\${KUBE_CONTROLLER_MANAGER}|$(binary kube-controller-manager)|g" \
		-e "s|\${KUBE_SCHEDULER}|$(binary kube-scheduler)|g" \
		-e "s|\${KWOK}|$(binary kwok)|g" \
		-e "s|\${METRICS_SERVER}|$(binary metrics-server)|g" \
		-e "s|\${METRICS_SERVER_MANIFESTS}|$ms_dir/manifests/base|g" \
		"$root/hack/local-cluster/kwokctl.yaml.tmpl" >"$state/kwokctl.yaml"
	if grep -q '\${' "$state/kwokctl.yaml"; then
		die "unfilled placeholders in $state/kwokctl.yaml: $(grep -o '\${[A-Z_]*}' "$state/kwokctl.yaml" | sort -u | tr '\n' ' ')"
	fi
}

wait_for() { # wait_for <seconds> <description> <command...>
	local timeout=$1 what=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then return 1; fi
		sleep 1
	done
}

apiservice_available() {
	[ "$(kubectl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[?(@.type=="Available")].status}')" = True ]
}
# kwok serves each fake node's kubelet-style resource metrics on its own port
# (the node's kubelet endpoint); metrics-server scrapes them there.
kwok_serves_metrics() {
	local port
	port=$(kubectl get node gpu-a-0 -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')
	curl -fsk "https://127.0.0.1:$port/metrics/nodes/gpu-a-0/metrics/resource" | grep -q '^node_cpu_usage_seconds_total'
}

cmd_up() {
	local start=$SECONDS
	mkdir -p "$state"
	step "building binaries that are missing (hack/build-local-cluster.sh)"
	"$root/hack/build-local-cluster.sh" 2>&1 | sed 's/^/    /' >&2

	if cluster_exists && api_ready; then
		step "cluster $CLUSTER is already running: reusing it"
	else
		if cluster_exists; then
			step "cluster $CLUSTER exists but its API server does not answer: recreating it"
			kwokctl delete cluster --kubeconfig "$KUBECONFIG_FILE" >"$state/kwokctl-delete.log" 2>&1 || true
		fi
		step "creating cluster $CLUSTER (kwokctl, runtime binary, workdir $KWOK_WORKDIR)"
		render_config
		rm -f "$KUBECONFIG_FILE"
		local t=$SECONDS
		if ! kwokctl create cluster --config "$state/kwokctl.yaml" --kubeconfig "$KUBECONFIG_FILE" \
			--wait 2m >"$state/kwokctl-create.log" 2>&1; then
			cat "$state/kwokctl-create.log" >&2
			die "kwokctl create cluster failed (log above, also in $state/kwokctl-create.log; component logs in $cluster_dir/logs/)"
		fi
		info "control plane up in $((SECONDS - t))s"
	fi
	api_ready || fail_component kube-apiserver "the API server does not answer /readyz"

	step "adding fake nodes (hack/local-cluster/nodes.yaml)"
	kubectl apply --server-side --field-manager=tenantai-local-cluster -f "$root/hack/local-cluster/nodes.yaml" >/dev/null
	kubectl wait --for=condition=Ready node --all --timeout=60s >/dev/null ||
		fail_component kwok-controller "fake nodes did not become Ready"

	step "serving kubelet-style resource metrics from kwok (Metric metrics-resource)"
	local kwok_dir
	kwok_dir=$(module_dir kwok sigs.k8s.io/kwok)
	wait_for 60 "kwok's Metric CRD" kubectl wait --for=condition=Established --timeout=10s crd/metrics.kwok.x-k8s.io ||
		fail_component kwok-controller "kwok's Metric CRD is not established"
	kubectl apply --server-side --field-manager=tenantai-local-cluster \
		-f "$kwok_dir/kustomize/metrics/resource/metrics-resource.yaml" >/dev/null

	# Node metrics appear once pods run: metrics-server drops a node whose
	# cumulative CPU is still 0.
	step "waiting for metrics-server (apiservice/v1beta1.metrics.k8s.io Available)"
	wait_for 120 "metrics API" apiservice_available ||
		fail_component metrics-server "apiservice v1beta1.metrics.k8s.io is not Available"
	wait_for 60 "kwok metrics" kwok_serves_metrics ||
		fail_component kwok-controller "kwok does not serve /metrics/nodes/gpu-a-0/metrics/resource"

	step "cluster $CLUSTER ready in $((SECONDS - start))s"
	info "kubeconfig: $KUBECONFIG_FILE"
}

cmd_install() {
	api_ready || die "cluster $CLUSTER is not running: run '$0 up' first"
	step "installing CRDs (config/crd/bases, server-side)"
	kubectl apply --server-side --force-conflicts --field-manager=tenantai-local-cluster -f "$root/config/crd/bases" >/dev/null
	# kubectl wait fails at once (not waits) on a CRD created so recently that
	# it has no conditions yet: retry it.
	wait_for 60 "CRDs established" kubectl wait --for=condition=Established --timeout=10s crd/tenants.platform.tenantai.io \
		crd/tenantquotas.platform.tenantai.io crd/modeldeployments.platform.tenantai.io ||
		die "tenantai's CRDs are not Established after 60s: kubectl get crd -o yaml shows why"

	step "creating the operator namespace $OPERATOR_NS"
	kubectl apply --server-side --field-manager=tenantai-local-cluster -f - >/dev/null <<-EOF
		apiVersion: v1
		kind: Namespace
		metadata:
		  name: $OPERATOR_NS
		  labels:
		    app.kubernetes.io/name: tenantai
		    pod-security.kubernetes.io/enforce: restricted
	EOF

	step "installing RBAC and the operator's service account (config/rbac)"
	kubectl apply --server-side --force-conflicts --field-manager=tenantai-local-cluster -k "$root/config/rbac" >/dev/null

	local policies=()
	for f in "$root"/config/policies/*.yaml; do
		[ -e "$f" ] && [ "$(basename "$f")" != kustomization.yaml ] && policies+=("$f")
	done
	if [ ${#policies[@]} -gt 0 ]; then
		step "installing admission policies (${#policies[@]} files in config/policies)"
		for f in "${policies[@]}"; do
			kubectl apply --server-side --force-conflicts --field-manager=tenantai-local-cluster -f "$f" >/dev/null ||
				die "the API server refused the admission policies of ${f#"$root"/} (its message is above)"
		done
	else
		step "no admission policies in config/policies yet"
	fi
}

operator_running() { [ -f "$OPERATOR_PID" ] && kill -0 "$(cat "$OPERATOR_PID")" 2>/dev/null; }

cmd_operator_stop() {
	if operator_running; then
		local pid
		pid=$(cat "$OPERATOR_PID")
		step "stopping the operator (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$OPERATOR_PID"
}

# write_operator_kubeconfig: a kubeconfig with a token from the TokenRequest
# API for the operator's service account, so that the operator runs under its
# real RBAC, never as an admin.
write_operator_kubeconfig() {
	local server ca token
	server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
	ca=$(kubectl config view --raw --minify --flatten -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
	token=$(kubectl create token "$OPERATOR_SA" -n "$OPERATOR_NS" --duration "$OPERATOR_TOKEN_DURATION")
	local tmp=$OPERATOR_KUBECONFIG.tmp
	rm -f "$tmp"
	printf '%s' "$ca" | base64 -d >"$state/ca.crt"
	"$KUBECTL" config --kubeconfig "$tmp" set-cluster "$CLUSTER" --server "$server" \
		--certificate-authority "$state/ca.crt" --embed-certs >/dev/null
	"$KUBECTL" config --kubeconfig "$tmp" set-credentials "$OPERATOR_SA" --token "$token" >/dev/null
	"$KUBECTL" config --kubeconfig "$tmp" set-context "$OPERATOR_SA@$CLUSTER" --cluster "$CLUSTER" --user "$OPERATOR_SA" >/dev/null
	"$KUBECTL" config --kubeconfig "$tmp" use-context "$OPERATOR_SA@$CLUSTER" >/dev/null
	chmod 600 "$tmp"
	mv "$tmp" "$OPERATOR_KUBECONFIG"
}

cmd_operator() {
	api_ready || die "cluster $CLUSTER is not running: run '$0 up' first"
	cmd_operator_stop
	step "building the operator (go build -o bin/manager ./cmd)"
	(cd "$root" && go build -o bin/manager ./cmd) || die "go build ./cmd failed"

	step "starting the operator as $OPERATOR_NS/$OPERATOR_SA (TokenRequest kubeconfig)"
	write_operator_kubeconfig
	local who
	who=$("$KUBECTL" --kubeconfig "$OPERATOR_KUBECONFIG" auth whoami -o jsonpath='{.status.userInfo.username}')
	[ "$who" = "system:serviceaccount:$OPERATOR_NS:$OPERATOR_SA" ] || die "the operator kubeconfig authenticates as '$who'"
	info "identity: $who"
	: >"$OPERATOR_LOG"
	# Detached (its own session where setsid exists), so that it outlives this
	# script and a Ctrl-C in the terminal that ran it.
	local detach=()
	if command -v setsid >/dev/null; then detach=(setsid); fi
	KUBECONFIG=$OPERATOR_KUBECONFIG ${detach[@]+"${detach[@]}"} nohup "$root/bin/manager" \
		--metrics-bind-address=0 \
		--health-probe-bind-address="127.0.0.1:$OPERATOR_HEALTH_PORT" \
		--leader-elect=true \
		>>"$OPERATOR_LOG" 2>&1 </dev/null &
	echo $! >"$OPERATOR_PID"
	local ready=http://127.0.0.1:$OPERATOR_HEALTH_PORT/readyz
	for _ in $(seq 1 60); do
		operator_running || fail_component operator "the operator exited at start"
		if curl -fsS "$ready" >/dev/null 2>&1; then
			info "pid $(cat "$OPERATOR_PID"), ready ($ready), log $OPERATOR_LOG"
			return 0
		fi
		sleep 0.5
	done
	fail_component operator "not ready on $ready after 30s"
}

cmd_down() {
	cmd_operator_stop
	if cluster_exists; then
		step "deleting cluster $CLUSTER"
		local out
		out=$(kwokctl delete cluster --kubeconfig "$KUBECONFIG_FILE" 2>&1) || {
			printf '%s\n' "$out" >&2
			die "kwokctl delete cluster failed"
		}
	else
		step "cluster $CLUSTER does not exist"
	fi
	rm -rf "$state"
}

cmd_status() {
	if ! cluster_exists; then
		echo "cluster $CLUSTER: not created"
		return 0
	fi
	if api_ready; then echo "cluster $CLUSTER: running"; else echo "cluster $CLUSTER: created, API server not answering"; fi
	echo "kubeconfig: $KUBECONFIG_FILE"
	echo "component logs: $cluster_dir/logs/"
	kwokctl get components 2>/dev/null || true
	if api_ready; then kubectl get nodes -L pool.tenantai.io/name,nvidia.com/gpu.product || true; fi
	if operator_running; then
		echo "operator: running, pid $(cat "$OPERATOR_PID"), log $OPERATOR_LOG"
	else
		echo "operator: not running"
	fi
}

cmd_logs() {
	local c=${1:?component name}
	if [ "$c" = operator ]; then cat "$OPERATOR_LOG"; else cat "$(component_log "$c")"; fi
}

case "${1:-}" in
up) cmd_up ;;
install) cmd_install ;;
operator) cmd_operator ;;
operator-stop) cmd_operator_stop ;;
down) cmd_down ;;
status) cmd_status ;;
kubeconfig) echo "$KUBECONFIG_FILE" ;;
logs) shift; cmd_logs "$@" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
