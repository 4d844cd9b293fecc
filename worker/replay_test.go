package worker

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays histories recorded on a real Temporal server by
// earlier versions of the code, through Register, as a worker does after a deploy. A
// change to the workflows that is not guarded by workflow.GetVersion fails here with a
// nondeterminism error. docs/replay.md says how to record more; never delete or re-record
// an old file to make this pass: it stands for workflows still running in production.
//
//   - pipeline-render-only-v0.json: a render-only pipeline from before
//     "pipeline-multistep"; it must replay on the GetVersion default branch.
//   - pipeline-multistep-v1.json: a render, three translations (one failing),
//     deliveries and a notification, from version 1 of "pipeline-multistep".
//   - job-webhook.json, job-poll.json, job-failed.json: a Job finished by its webhook,
//     by polling (every webhook dropped), and failed by HeyGen (avatar sandbox-fail).
//   - job-limited.json: a Job of a scheduled account: its create answers SlotRequired,
//     it asks the account's scheduler (AcquireSlot), waits for the grant, creates, and
//     gives the slot back at its end; scheduler.json: the Scheduler that granted it, as
//     far as it had run.
//   - pipeline-fanout.json: a render and two translations (Klingon fails), with
//     captions, deliveries and a notification.
//   - pipeline-cancelled.json: a pipeline cancelled while its translation rendered.
//   - job-*-v0.json: Jobs from before "job-poll-jitter" (push window 1s, polls 1s and 2s
//     apart), which must replay on the plain schedule; job-polling-v1.json and
//     job-webhook-while-polling-v1.json: the same with the jitter;
//     job-limited-polling-v1.json: a Job of a scheduled account that polls to the end.
//   - pipeline-rerun-v1.json: a rerun ("pipeline-rerun") that reused its render;
//     scheduler-holder-check.json: a Scheduler that freed the slot of a terminated
//     holder after a holder check; job-slot-wait.json: the Job that waited for that slot.
//
// Every file except the first two, job-polling-* and job-webhook-while-polling-* (recorded
// by earlier code) was recorded by devstack's record tests (REELFLOW_RECORD_HISTORIES=1): TestRecordHistories, TestRecordJobHistories,
// TestSlotOfATerminatedHolder and TestRerunReusesTheRender. This is the one replay test,
// and each history is replayed once.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			Register(r, nil)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), f))
		})
	}
}
