// Package workflows holds reelflow's Temporal workflows, Pipeline, Job and the account
// Scheduler, and the contracts other packages share with them: names, IDs, Input and
// Result structs.
//
// Workflow code here must be deterministic: use workflow.Now, workflow.NewTimer,
// workflow.Go and workflow.NewSelector, never time.Now, goroutines, randomness, the
// network, or a range over a map that issues commands.
// From v0.1.0 on, any change that could alter a running workflow's history is guarded
// with workflow.GetVersion, and the replay tests (worker/replay_test.go, over histories
// recorded on a real server from v0.1.0) prove it. v0.1.0 is the baseline: the change
// IDs of the unreleased code before it were folded into it, and docs/replay.md lists the
// change IDs since (none yet).
package workflows
