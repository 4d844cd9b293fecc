// Package workflows holds reelflow's Temporal workflows, Pipeline and Job, and the
// contracts other packages share with them: names, IDs, Input and Result structs.
//
// Workflow code here must be deterministic: use workflow.Now, workflow.NewTimer,
// workflow.Go and workflow.NewSelector, never time.Now, goroutines, randomness, the
// network, or a range over a map that issues commands.
// Any change that could alter a running workflow's history is guarded with
// workflow.GetVersion, and the replay tests (worker/replay_test.go, over histories
// recorded on a real server) prove it. Change IDs so far: "pipeline-multistep"
// (version 1: translations, deliveries, notification, template renders),
// "job-poll-jitter" (version 1: jittered intervals between polls),
// "job-concurrency-limit" (version 1: the Limiter's permit, asked only when a limit is set),
// "job-identity" (version 1: the Reset-proof identity of identity.go, continue-as-new
// before the history bound, and failure after repeated permanent poll errors),
// "pipeline-identity" (version 1: Jobs and the notification's webhook-id take the
// Pipeline's run identity), "pipeline-rerun" (version 1: a rerun reuses the steps
// that completed in an earlier run and runs the others again; each Job's memo records
// its spec hash), "pipeline-adopt-running" (version 1: a step whose Job still runs
// from an earlier run waits for it and reuses or restarts it), "job-permit-lease"
// (version 1: a Limiter per limit, the lease and the deadline from the grant) and
// "limiter-holder-check" (version 1: the Limiter frees the permits of holders that no
// longer run, and keeps its first limit).
package workflows
