// Package chaos proves reelflow's promise to resume after failures, with figures. Its
// tests run pipelines on the in-process Temporal server (devstack) against the HeyGen
// sandbox turned hostile (sandbox.Faults: webhooks dropped, duplicated and late, 429s,
// 5xx, ambiguous creates, failed and stuck renders), stop and replace the worker while
// they run, and compare every outcome with the sandbox's ground truth.
//
//   - go test ./chaos/ runs the small run (30 pipelines, one worker restart) and the
//     crash tests (a worker stopped, or killed with SIGKILL, mid-pipeline; the dev stack
//     stopped and started again on its state).
//   - go test -tags chaos -run TestChaosFull -timeout 60m ./chaos/ runs the full run
//     (300 pipelines, two worker restarts) and prints the table RELIABILITY.md records.
//
// The package has no code of its own besides this comment: everything is in its tests.
package chaos
