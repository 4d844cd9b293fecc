// Command reelflow runs HeyGen video pipelines on Temporal: the local dev stack, the
// worker, the webhook receiver, and the commands that start and inspect pipelines.
//
// This package only turns flags and environment variables into config structs and
// calls into the packages; the logic lives there.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reelflow:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit code: 2 for an invalid spec or bad usage.
type exitError struct {
	code int
	err  error
}

// Error and Unwrap make exitError a transparent wrapper of err.
func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }
