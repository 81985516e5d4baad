#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries that envtest and the local cluster
# run, from the pinned Go modules under hack/tools/, into bin/k8s/<version>/.
#
# Nothing is downloaded from release pages: only the Go module proxy is needed,
# so this works in air-gapped CI. A binary that already exists is not rebuilt
# (delete it, or the whole bin/k8s/<version> directory, to force a rebuild).
#
# usage: hack/build-k8s.sh [component ...]
#   components: kube-apiserver etcd kubectl kube-controller-manager kube-scheduler
#   default: kube-apiserver etcd kubectl (what envtest needs)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Keep these in step with hack/tools/kubernetes/go.mod and hack/tools/etcd/go.mod.
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
out=${K8S_BIN_DIR:-$root/bin/k8s/$KUBE_VERSION}
mkdir -p "$out"

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kube-apiserver etcd kubectl)

log() { printf '[build-k8s] %s\n' "$*" >&2; }
# shellcheck source=hack/lib.sh
. "$root/hack/lib.sh"

# Version stamping, as the Kubernetes release build does, so that clients and
# the /version endpoint report v1.37.2 instead of v0.0.0-master.
kube_ldflags() {
	local major minor
	major=${KUBE_VERSION#v}; major=${major%%.*}
	minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
	local flags="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=$KUBE_VERSION"
		flags+=" -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
		flags+=" -X $pkg.gitTreeState=clean"
		flags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	printf '%s' "$flags"
}

build() { # build <name> <module dir> <package> <ldflags>
	local name=$1 moddir=$2 pkg=$3 ldflags=$4
	if [ -x "$out/$name" ]; then
		log "$name: cached at $out/$name"
		return
	fi
	log "$name: building $pkg (first build takes several minutes)"
	local start=$SECONDS
	(cd "$root/hack/tools/$moddir" &&
		with_progress "$name" env CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
	mv "$out/$name.tmp" "$out/$name"
	log "$name: built in $((SECONDS - start))s"
}

for c in "${components[@]}"; do
	case "$c" in
	kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
		build "$c" kubernetes "k8s.io/kubernetes/cmd/$c" "$(kube_ldflags)" ;;
	etcd)
		build etcd etcd go.etcd.io/etcd/server/v3 \
			"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" ;;
	*)
		log "unknown component $c"; exit 2 ;;
	esac
done
