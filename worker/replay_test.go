package worker

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays Pipeline histories recorded on a real Temporal
// server by earlier versions of the code, through Register, as a worker does after a
// deploy. A change to the workflows that is not guarded by workflow.GetVersion fails
// here with a nondeterminism error.
//
//   - pipeline-render-only-v0.json: a render-only pipeline from before
//     "pipeline-multistep"; it must replay on the GetVersion default branch.
//   - pipeline-multistep-v1.json: a render, three translations (one failing),
//     deliveries and a notification, from version 1 of "pipeline-multistep".
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/pipeline-*.json")
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
