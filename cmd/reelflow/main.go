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
		os.Exit(exitFailed)
	}
}

// The exit codes, which the README and `reelflow --help` document. Scripts and CI read
// them, so 0 means that every step succeeded and nothing less.
const (
	// exitFailed: a pipeline failed or was cancelled, or a command could not do its job
	// (Temporal unreachable, no such pipeline). Any error without an exitError is 1.
	exitFailed = 1
	// exitUsage: bad usage or an invalid spec: cobra's own errors (a missing argument,
	// an unknown flag or command), a malformed flag or variable, a spec that is missing,
	// unreadable or invalid. Nothing was started.
	exitUsage = 2
	// exitFailedSteps: a pipeline completed, but some of its steps failed (a
	// translation, without fail_fast); or a batch had bad rows or pipelines that did not
	// complete every step.
	exitFailedSteps = 3
)

// exitError carries a specific exit code: exitUsage, exitFailedSteps, or exitFailed.
type exitError struct {
	code int
	err  error
}

// Error and Unwrap make exitError a transparent wrapper of err.
func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as bad usage or an invalid spec (exit code 2).
func usageError(err error) error { return &exitError{code: exitUsage, err: err} }
