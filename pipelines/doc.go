// Package pipelines starts, resumes, reads and cancels reelflow pipelines over a
// Temporal client: what `reelflow start`, `status` and `cancel` do, without the printing.
//
// Its rules:
//   - A pipeline is never started twice: a running one, or one that completed with every
//     step done, is followed, not started again (Look says NextFollow).
//   - A pipeline that failed, was cancelled, terminated or timed out, or completed with
//     unfinished steps (failed, cancelled or not delivered: Unfinished, the same as the
//     exit code) is resumed (NextResume): its completed steps are reused. Look refuses,
//     with a *workflows.StepChangedError, a resume that would reuse a completed step
//     whose spec changed, unless the input asks for Fresh; the Pipeline makes the same
//     check itself.
//   - Errors from Temporal come back through TemporalError, which says what happened
//     and what to do instead of the server's wording.
package pipelines
