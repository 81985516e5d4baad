##@ Benchmarks

# BENCH_FLAGS are passed to the benchmark program, e.g.
#   make bench BENCH_FLAGS='-tenants 100 -reps 1 -memory-tenants 50,100 -out ""'
# for a quick look (see `go run ./test/bench -h`).
BENCH_FLAGS ?=

.PHONY: bench
bench: manifests generate envtest-assets ## Measure provisioning against a raw-client baseline, steady-state writes, memory, drift repair and rebalancing; writes docs/benchmarks.md (~15 min).
	go build -o $(LOCALBIN)/manager ./cmd
	go run ./test/bench -manager $(LOCALBIN)/manager $(BENCH_FLAGS)

.PHONY: bench-scale
bench-scale: manifests generate envtest-assets ## B6: grow one cluster to 1,000, 2,500 and 5,000 tenants (10,000 namespaces), restart the operator there; writes docs/scale.md (about 30 min; not in CI or `make bench`).
	go build -o $(LOCALBIN)/manager ./cmd
	go run ./test/bench -manager $(LOCALBIN)/manager -scale-tenants $(SCALE_TENANTS) -out docs/scale.md $(BENCH_FLAGS)

# SCALE_TENANTS are the sizes B6 grows to, in order.
SCALE_TENANTS ?= 1000,2500,5000

.PHONY: test-memory
test-memory: envtest-assets ## The memory contract: fail when the operator's heap per tenant passes its budget (B3 at 50/125/200 tenants, ~70 s).
	TENANTAI_MEMORY_CONTRACT=1 go test -count=1 -timeout 20m -v -run TestMemoryContract ./test/bench/
