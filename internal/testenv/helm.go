package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// helmRequire finds the pinned helm version in hack/tools/helm/go.mod.
var helmRequire = regexp.MustCompile(`(?m)^require helm\.sh/helm/v\d+ (v\S+)$`)

// HelmBinary is the helm built by `make helm` into bin/helm-<version>, the
// version pinned in hack/tools/helm/go.mod.
func HelmBinary(root string) (string, error) {
	gomod := filepath.Join(root, "hack", "tools", "helm", "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("reading the pinned helm version: %w", err)
	}
	m := helmRequire.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s has no 'require helm.sh/helm/vN <version>' line", gomod)
	}
	bin := filepath.Join(root, "bin", "helm-"+string(m[1]))
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no helm at %s: run 'make helm'", bin)
	}
	return bin, nil
}
