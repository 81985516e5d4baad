package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// RepoRoot finds the repository root: the first parent directory of the
// working directory that holds the project's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "PROJECT")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod and PROJECT) not found above the working directory")
		}
		dir = parent
	}
}

// AssetsDir is where kube-apiserver, etcd and kubectl are: KUBEBUILDER_ASSETS
// when the user set it, else bin/k8s/<version> built by hack/build-k8s.sh.
func AssetsDir(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	dir := filepath.Join(root, "bin", "k8s", KubeVersion)
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		return "", fmt.Errorf("no kube-apiserver in %s: run 'make envtest-assets' (or set KUBEBUILDER_ASSETS)", dir)
	}
	return dir, nil
}

// Binary finds a Kubernetes binary in the assets directory, falling back to
// the project's own bin/k8s/<version> (a user's KUBEBUILDER_ASSETS may hold
// only what envtest needs).
func Binary(root, name string) (string, error) {
	dirs := []string{filepath.Join(root, "bin", "k8s", KubeVersion)}
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		dirs = append([]string{dir}, dirs...)
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %v: run 'hack/build-k8s.sh %s'", name, dirs, name)
}
