// Package bench measures reelflow against the baselines of issue 6, on the dev stack
// (devstack.Start: the embedded Temporal server on a SQLite file, the HeyGen sandbox,
// the receiver and the worker, all in this process).
//
// Each benchmark is a Run function that takes a Config and returns a Result: the
// median of several runs with the spread, reelflow and its baseline measured in the same
// process against the same server, their ratio and the goal. bench_test.go runs
// every one of them twice: a smoke version with a few jobs in `go test ./...`, which
// asserts that the harness still works, and the full version behind `go test -bench`,
// which prints a table and can refresh BENCHMARKS.md. BENCHMARKS.md says how to run them.
//
// The harness sits between the sandbox and the receiver: Env replaces the dev stack's
// webhook endpoint with a Tap of its own, which notes when the sandbox posted each
// job's webhook, and can pass it on to the receiver (re-signed with the receiver's
// secret), swallow it (webhooks off, for polling baselines), or hold every webhook and
// release them at once (a webhook storm). Nothing else of the stack is changed.
//
// The harness is measurement code, not production code: it may sleep between polls of
// a condition, and it reports what it saw rather than retrying until a goal is met.
package bench
