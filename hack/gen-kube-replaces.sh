#!/usr/bin/env bash
# Regenerates the replace block of hack/tools/kubernetes/go.mod from the
# k8s.io/kubernetes module's own go.mod: each ./staging/src/k8s.io/<m> replace
# becomes k8s.io/<m> => k8s.io/<m> <staging version>. Run after a version bump.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mod=$root/hack/tools/kubernetes
kube_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$mod/go.mod")
staging_version=v0.${kube_version#v1.}
dir=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$kube_version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
{
	sed '/^replace (/,$d' "$mod/go.mod"
	echo "replace ("
	awk -v v="$staging_version" '/=> .\/staging\/src\// {print "\t" $1 " => " $1 " " v}' "$dir/go.mod"
	echo ")"
} >"$mod/go.mod.new"
mv "$mod/go.mod.new" "$mod/go.mod"
(cd "$mod" && go mod tidy)
echo "replaced $(grep -c "=> k8s.io/" "$mod/go.mod") staging modules with $staging_version"
