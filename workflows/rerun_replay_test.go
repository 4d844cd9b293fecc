package workflows

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
)

// TestRerunAndPermitReplay replays histories recorded on the dev stack's real server by
// devstack's TestPermitOfATerminatedHolder and TestRerunReusesTheRender
// (REELFLOW_RECORD_HISTORIES=1), so that later changes keep them replaying:
//   - pipeline-rerun-v1.json: a rerun ("pipeline-rerun") that reused its render;
//   - limiter-holder-check-v1.json: a Limiter ("limiter-holder-check") that freed the
//     permit of a terminated holder after a holder check;
//   - job-permit-lease-v1.json: the Job that waited for that permit ("job-permit-lease").
func TestRerunAndPermitReplay(t *testing.T) {
	for _, name := range []string{"pipeline-rerun-v1", "limiter-holder-check-v1", "job-permit-lease-v1"} {
		t.Run(name, func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			r.RegisterWorkflow(Pipeline)
			r.RegisterWorkflow(Job)
			r.RegisterWorkflow(Limiter)
			f := filepath.Join("testdata", name+".json")
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), f))
		})
	}
}
