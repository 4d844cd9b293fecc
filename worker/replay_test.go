package worker

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays histories recorded on a real Temporal server,
// through Register, as a worker does after a deploy. A change to the workflows that is
// not guarded by workflow.GetVersion fails here with a nondeterminism error. The files
// were recorded from v0.1.0, the baseline (docs/replay.md lists them and says how to
// record more); never delete or re-record a released file to make this pass: it stands
// for workflows still running in production.
//
// devstack's recorders write them (REELFLOW_RECORD_HISTORIES=1): TestRecordHistories,
// TestRecordJobHistories, TestSlotOfATerminatedHolder and TestRerunReusesTheRender. This
// is the one replay test, and each history is replayed once.
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
