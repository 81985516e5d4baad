##@ Fault injection

.PHONY: test-faults
test-faults: ## Run the fault-injection suite (crashes, conflicts, API-server restart, leader failover) against envtest.
	go test -count=1 ./test/faults/
