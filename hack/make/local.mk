# The local cluster: a real control plane with fake GPU nodes (kwok) and
# metrics-server, every binary built from pinned Go modules into bin/. Included
# by the top-level Makefile. See docs/local-cluster.md.

##@ Local cluster

LOCAL_CLUSTER := hack/local-cluster.sh
# The e2e suite's cluster, apart from the demo's, so that both can run at once.
E2E_CLUSTER ?= tenantai-e2e
E2E_TIMEOUT ?= 15m
E2E_FLAGS ?= -ginkgo.v

.PHONY: local-cluster-assets
local-cluster-assets: ## Build etcd, kube-*, kubectl, kwok, kwokctl and metrics-server into bin/ (cached).
	hack/build-local-cluster.sh

.PHONY: demo
demo: manifests generate ## Start the local cluster, run the operator, apply the samples and print a tour.
	hack/local-cluster/demo.sh

.PHONY: demo-down
demo-down: ## Stop the demo's operator and delete its local cluster.
	$(LOCAL_CLUSTER) down

.PHONY: test-e2e
test-e2e: manifests generate build-installer $(HELM) local-cluster-assets ## Run the end-to-end suite on a local cluster (test/e2e).
	E2E_CLUSTER=$(E2E_CLUSTER) go test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) ./test/e2e/ \
		-ginkgo.timeout=$(E2E_TIMEOUT) $(E2E_FLAGS)
