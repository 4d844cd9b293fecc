// Package workflows holds reelflow's Temporal workflows, Pipeline, Job and the account
// Scheduler, and the contracts other packages share with them: names, IDs, Input and
// Result structs.
//
// Workflow code here must be deterministic: use workflow.Now, workflow.NewTimer,
// workflow.Go and workflow.NewSelector, never time.Now, goroutines, randomness, the
// network, or a range over a map that issues commands.
// Any change that could alter a running workflow's history is guarded with
// workflow.GetVersion, and the replay tests (worker/replay_test.go, over histories
// recorded on a real server) prove it. Change IDs so far: "pipeline-multistep"
// (version 1: translations, deliveries, notification, template renders),
// "job-poll-jitter" (version 1: jittered intervals between polls),
// "job-identity" (version 1: the Reset-proof identity of identity.go, continue-as-new
// before the history bound, and failure after repeated permanent poll errors),
// "pipeline-identity" (version 1: Jobs and the notification's webhook-id take the
// Pipeline's run identity), "pipeline-rerun" (version 1: a rerun reuses the steps
// that completed in an earlier run and runs the others again; each Job's memo records
// its spec hash) and "pipeline-adopt-running" (version 1: a step whose Job still runs
// from an earlier run waits for it and reuses or restarts it). The account scheduler
// (scheduler.go) and a Job's slot (permit.go) have no change ID: they came before any
// release, and a Job on an unscheduled account writes the history it always did.
package workflows
