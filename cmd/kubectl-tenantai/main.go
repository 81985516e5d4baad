// Command kubectl-tenantai is the tenantai kubectl plugin: put it on PATH and
// run `kubectl tenantai tenants|quota <tenant>|models|preflight`. See
// docs/kubectl-plugin.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tenantai/tenantai/internal/plugin"
)

func main() {
	// The controller-runtime client logs nothing a plugin user needs (API
	// warnings go to stderr through the plugin's own handler); without a
	// logger it would complain about the missing one on a slow request.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := plugin.NewCommand(plugin.Options{IOStreams: streams}).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		// 1, or 3 for `preflight --fail-on-findings` with findings.
		os.Exit(plugin.ExitCode(err))
	}
}
