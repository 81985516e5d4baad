# tenantai Makefile. Every tool is built from a pinned Go module under
# hack/tools/ into bin/; nothing is downloaded from release pages.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT := $(abspath .)
LOCALBIN := $(ROOT)/bin
KUBE_VERSION ?= v1.37.2
K8S_BIN := $(LOCALBIN)/k8s/$(KUBE_VERSION)

CONTROLLER_TOOLS_VERSION := v0.23.0
GOLANGCI_LINT_VERSION := v2.15.0
# The version in hack/tools/helm/go.mod; tests find bin/helm-<that version>.
HELM_VERSION := v4.3.1
CONTROLLER_GEN := $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT := $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM := $(LOCALBIN)/helm-$(HELM_VERSION)

# A KUBEBUILDER_ASSETS set by the user wins; otherwise the binaries built here.
KUBEBUILDER_ASSETS ?= $(K8S_BIN)
export KUBEBUILDER_ASSETS
# The project's kubectl comes first: the machine's own may be years old.
export PATH := $(K8S_BIN):$(LOCALBIN):$(PATH)

IMG ?= tenantai/tenantai:dev
GO_TEST_FLAGS ?= -count=1
TEST_TIMEOUT ?= 20m

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=tenantai-manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: lint-fix
lint-fix: $(GOLANGCI_LINT) ## Run golangci-lint and apply its fixes.
	$(GOLANGCI_LINT) run --fix ./...

.PHONY: verify
verify: manifests generate build-installer ## Fail when generated files (api, config, dist) or go.mod are stale.
	go mod tidy
	@if [ -n "$$(git status --porcelain -- api config dist go.mod go.sum)" ]; then \
		echo "generated files are stale; run 'make manifests generate build-installer' and 'go mod tidy', then commit:"; \
		git status --porcelain -- api config dist go.mod go.sum; git --no-pager diff --stat -- api config dist go.mod go.sum; exit 1; fi

##@ Test

.PHONY: envtest-assets
envtest-assets: ## Build kube-apiserver, etcd, kubectl and kube-controller-manager for envtest (cached).
	@if [ "$(KUBEBUILDER_ASSETS)" = "$(K8S_BIN)" ]; then \
		hack/build-k8s.sh kube-apiserver etcd kubectl kube-controller-manager; \
	else echo "using KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS)"; fi

.PHONY: test
test: manifests generate envtest-assets helm-lint ## Run unit and envtest suites (and lint the Helm chart).
	go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-security
test-security: manifests envtest-assets ## Run the adversarial security suite (also part of make test).
	go test $(GO_TEST_FLAGS) -v -run . ./test/security/ | grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok)' | grep -v '=== RUN'

.PHONY: test-negative-controls
test-negative-controls: envtest-assets ## Prove tests fail when the guarantee they check is removed (ordering, quota decisions).
	@echo "negative control: operator built with RBAC before guardrails; TestOrderingInvariant must fail"
	@if go test -count=1 -tags tenantai_negative_control -run TestOrderingInvariant ./internal/controller/tenant/ > $(LOCALBIN)/negative-control.log 2>&1; then \
		cat $(LOCALBIN)/negative-control.log; echo "FAIL: the ordering test passed against a reordered operator: it cannot fail"; exit 1; fi
	@grep -q "existed (revision" $(LOCALBIN)/negative-control.log || { cat $(LOCALBIN)/negative-control.log; \
		echo "FAIL: the ordering test failed, but not on the ordering invariant"; exit 1; }
	@echo "ok: TestOrderingInvariant fails against the reordered operator, on the invariant"
	@echo "negative control: quota decisions from the cache, quotas raised to an overshoot; both quota invariant tests must fail"
	@if go test -count=1 -tags tenantai_negative_control -run 'TestGrowsAreDecidedFromCurrentState|TestQuotaIsNeverRaisedToAnOvershoot' \
		./internal/controller/tenantquota/ > $(LOCALBIN)/negative-control-quota.log 2>&1; then \
		cat $(LOCALBIN)/negative-control-quota.log; echo "FAIL: the quota invariant tests passed against the old behaviour: they cannot fail"; exit 1; fi
	@for test in TestGrowsAreDecidedFromCurrentState TestQuotaIsNeverRaisedToAnOvershoot; do \
		grep -q -- "--- FAIL: $$test" $(LOCALBIN)/negative-control-quota.log && \
		grep -A3 -- "--- FAIL: $$test" $(LOCALBIN)/negative-control-quota.log | grep -q "Σ spec.hard\|tenant total was exceeded\|raised to the overshoot" || \
		{ cat $(LOCALBIN)/negative-control-quota.log; echo "FAIL: $$test did not fail on the quota invariant"; exit 1; }; done
	@echo "ok: both quota invariant tests fail against the old behaviour, on the invariant"

.PHONY: test-unit
test-unit: $(HELM) ## Run tests that need no API server (the chart's rendering tests need helm).
	go test $(GO_TEST_FLAGS) -short ./...

##@ Build

.PHONY: build
build: manifests generate build-plugin ## Build the manager binary and the kubectl plugin.
	go build -o $(LOCALBIN)/manager ./cmd

.PHONY: build-plugin
build-plugin: ## Build the kubectl plugin into bin/kubectl-tenantai (bin/ on PATH: kubectl tenantai ...).
	go build -o $(LOCALBIN)/kubectl-tenantai ./cmd/kubectl-tenantai

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig.
	go run ./cmd

.PHONY: build-installer
build-installer: manifests chart ## Render dist/install.yaml (image IMG) and the chart's generated templates from config/.
	KUBECTL=$(K8S_BIN)/kubectl hack/build-installer.sh $(IMG)

.PHONY: chart
chart: manifests envtest-assets ## Generate the Helm chart's CRD, RBAC and policy templates (dist/chart) from config/.
	KUBECTL=$(K8S_BIN)/kubectl hack/gen-chart.sh

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart and render it with default and non-default values.
	$(HELM) lint --strict --namespace tenantai-system dist/chart
	$(HELM) lint --strict --namespace tenantai-system --values dist/chart/ci/full-values.yaml dist/chart
	$(HELM) template tenantai dist/chart --namespace tenantai-system >/dev/null
	$(HELM) template tenantai dist/chart --namespace tenantai-system --values dist/chart/ci/full-values.yaml >/dev/null

.PHONY: docker-build
docker-build: ## Build the manager image (needs a container engine).
	docker build -t $(IMG) .

include hack/make/local.mk
include hack/make/faults.mk
include hack/make/bench.mk

##@ Tools

$(CONTROLLER_GEN): hack/tools/controller-gen/go.mod
	@mkdir -p $(LOCALBIN)
	cd hack/tools/controller-gen && go build -trimpath -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

$(GOLANGCI_LINT): hack/tools/golangci-lint/go.mod
	@mkdir -p $(LOCALBIN)
	cd hack/tools/golangci-lint && go build -trimpath -o $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint

$(HELM): hack/tools/helm/go.mod
	@mkdir -p $(LOCALBIN)
	cd hack/tools/helm && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM_VERSION)" -o $@ helm.sh/helm/v4/cmd/helm

.PHONY: helm
helm: $(HELM) ## Build the pinned helm into bin/.

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(HELM) ## Build the pinned tools into bin/.
