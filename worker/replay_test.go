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
//   - job-limited.json: a Job with a concurrency limit ("job-concurrency-limit"): it
//     asks the Limiter, waits for the grant, and gives the permit back at its end.
//   - limiter.json: the Limiter workflow that granted it, as far as it had run.
//   - pipeline-fanout.json: a render and two translations (Klingon fails), with
//     captions, deliveries and a notification.
//   - pipeline-cancelled.json: a pipeline cancelled while its translation rendered.
//
// Every file except the first two was recorded by devstack's TestRecordHistories
// (REELFLOW_RECORD_HISTORIES=1).
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
