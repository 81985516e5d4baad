##@ Benchmarks

# BENCH_FLAGS are passed to the benchmark program, e.g.
#   make bench BENCH_FLAGS='-tenants 100 -reps 1 -memory-tenants 50,100 -out ""'
# for a quick look (see `go run ./test/bench -h`).
BENCH_FLAGS ?=

.PHONY: bench
bench: manifests generate envtest-assets ## Measure provisioning against a raw-client baseline, steady-state writes, memory, drift repair and rebalancing; writes docs/benchmarks.md (~15 min).
	go build -o $(LOCALBIN)/manager ./cmd
	go run ./test/bench -manager $(LOCALBIN)/manager $(BENCH_FLAGS)
