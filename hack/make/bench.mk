##@ Benchmarks

# BENCH_FLAGS are passed to the benchmark program, e.g.
#   make bench BENCH_FLAGS='-tenants 100 -reps 1 -memory-tenants 50,100 -out ""'
# for a quick look (see `go run ./test/bench -h`).
BENCH_FLAGS ?=

.PHONY: bench
bench: manifests generate envtest-assets ## Measure provisioning against a raw-client baseline, steady-state writes, memory, drift repair and rebalancing; writes docs/benchmarks.md (~15 min).
	go build -o $(LOCALBIN)/manager ./cmd
	go run ./test/bench -manager $(LOCALBIN)/manager $(BENCH_FLAGS)

.PHONY: test-memory
test-memory: envtest-assets ## The memory contract: fail when the operator's heap per tenant passes its budget (B3 at 50/125/200 tenants, ~70 s).
	TENANTAI_MEMORY_CONTRACT=1 go test -count=1 -timeout 20m -v -run TestMemoryContract ./test/bench/
