#!/usr/bin/env bash
# Builds every binary the local cluster runs, from pinned Go modules, into bin/:
#   bin/k8s/<kube version>/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#       (delegated to hack/build-k8s.sh)
#   bin/kwok/<kwok version>/{kwok,kwokctl}              (hack/tools/kwok/go.mod)
#   bin/metrics-server/<version>/metrics-server         (hack/tools/metrics-server/go.mod)
#
# Nothing is downloaded from release pages: only the Go module proxy is needed.
# A binary that already exists is not rebuilt (delete it to force a rebuild).
# Versions are read from the tool modules' go.mod files, so a bump there is all
# it takes (the output directories are versioned).
#
# usage: hack/build-local-cluster.sh [component ...]
#   components: kube-apiserver etcd kubectl kube-controller-manager kube-scheduler
#               kwok kwokctl metrics-server
#   default: all of them
#   hack/build-local-cluster.sh --print-paths   prints NAME=path lines, builds nothing
#   hack/build-local-cluster.sh --all-built     exits 0 when every binary exists, builds nothing
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}

modversion() { # modversion <tool dir> <module path>
	awk -v m="$2" '($1 == m || ($1 == "require" && $2 == m)) {print $NF; exit}' "$root/hack/tools/$1/go.mod"
}
KWOK_VERSION=$(modversion kwok sigs.k8s.io/kwok)
METRICS_SERVER_VERSION=$(modversion metrics-server sigs.k8s.io/metrics-server)

k8s_bin=$root/bin/k8s/$KUBE_VERSION
kwok_bin=$root/bin/kwok/$KWOK_VERSION
ms_bin=$root/bin/metrics-server/$METRICS_SERVER_VERSION

if [ "${1:-}" = "--print-paths" ]; then
	for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
		printf '%s=%s\n' "$c" "$k8s_bin/$c"
	done
	printf 'kwok=%s\nkwokctl=%s\nmetrics-server=%s\n' "$kwok_bin/kwok" "$kwok_bin/kwokctl" "$ms_bin/metrics-server"
	exit 0
fi

if [ "${1:-}" = "--all-built" ]; then
	for f in "$k8s_bin"/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl} "$kwok_bin"/{kwok,kwokctl} "$ms_bin/metrics-server"; do
		[ -x "$f" ] || exit 1
	done
	exit 0
fi

components=("$@")
[ ${#components[@]} -gt 0 ] ||
	components=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl metrics-server)

log() { printf '[build-local-cluster] %s\n' "$*" >&2; }
# shellcheck source=hack/lib.sh
. "$root/hack/lib.sh"

build() { # build <out dir> <name> <module dir> <package> <ldflags>
	local out=$1 name=$2 moddir=$3 pkg=$4 ldflags=$5
	mkdir -p "$out"
	if [ -x "$out/$name" ]; then
		log "$name: cached at $out/$name"
		return
	fi
	log "$name: building $pkg (first build takes a few minutes)"
	local start=$SECONDS
	(cd "$root/hack/tools/$moddir" &&
		with_progress "$name" env CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
	mv "$out/$name.tmp" "$out/$name"
	log "$name: built in $((SECONDS - start))s"
}

kube=()
for c in "${components[@]}"; do
	case "$c" in
	etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
		kube+=("$c") ;;
	kwok | kwokctl)
		# kwokctl parses each component's --version, and uses its KubeVersion
		# as the default for components not given as binaries.
		build "$kwok_bin" "$c" kwok "sigs.k8s.io/kwok/cmd/$c" \
			"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}" ;;
	metrics-server)
		# kwokctl reads metrics-server's --version to pick its flags.
		build "$ms_bin" metrics-server metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server \
			"-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.buildDate=1970-01-01T00:00:00Z" ;;
	*)
		log "unknown component $c"; exit 2 ;;
	esac
done
if [ ${#kube[@]} -gt 0 ]; then
	KUBE_VERSION=$KUBE_VERSION "$root/hack/build-k8s.sh" "${kube[@]}"
fi
