package testenv

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// Main runs a package's tests against one shared environment, started before
// and stopped after them: use it from TestMain. With -short, the tests run
// without an environment (Shared returns nil), so unit tests still run and
// integration tests skip themselves through Require.
func Main(m *testing.M, opts Options) {
	os.Exit(run(m, opts))
}

var shared *Env

func run(m *testing.M, opts Options) int {
	if testingShort() {
		return m.Run()
	}
	env, err := Start(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	shared = env
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stopping: %v\n", err)
		}
	}()
	if opts.Setup != nil {
		teardown, err := opts.Setup(env)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testenv: setup: %v\n", err)
			return 1
		}
		defer teardown()
	}
	return m.Run()
}

// Require returns the package's shared environment, skipping the test under
// -short (where no API server runs).
func Require(t testing.TB) *Env {
	t.Helper()
	if shared == nil {
		if testingShort() {
			t.Skip("integration test: needs an API server (not run with -short)")
		}
		t.Fatal("testenv.Main was not called from TestMain")
	}
	return shared
}

// testingShort reports -short; TestMain runs before the testing package
// parses its flags, so parse them here first.
func testingShort() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	return testing.Short()
}
