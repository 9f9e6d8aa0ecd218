// Command meshload is claudemesh's load generator: a real client of the
// public protocol that creates a mesh, opens authenticated sessions, runs
// a scenario and verifies every delivery (docs/benchmarks.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "meshload:", err)
		os.Exit(exitCode(err))
	}
}
