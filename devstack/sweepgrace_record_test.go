package devstack

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/workflows"
)

// TestRecordSweepGrace records job-sweep-grace.json (docs/replay.md): a Job created
// within the sweep's grace before an instant, whose webhook is lost, found over by the
// grace read after the instant. The sweep is 12 s here, so the grace is 1 s; the
// pipeline starts 0.7 s before a multiple of 12 s, so that its create lands in the
// grace. A start whose create missed it (the marker is then absent) is tried again, up
// to five times. Run with the other recorders (REELFLOW_RECORD_HISTORIES=1).
func TestRecordSweepGrace(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skip("set " + recordEnv + "=1 to record the replay histories into " + recordDir)
	}
	st := startStack(t, Config{RenderTime: 300 * time.Millisecond})
	st.Sandbox.SetDropRate(1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const sweep = 12 * time.Second
	for try := range 5 {
		in := welcome(fmt.Sprintf("rec-sweep-grace-%d", try))
		in.Timeouts = workflows.Timeouts{Sweep: sweep, Deadline: time.Minute}
		instant := time.Now().Truncate(sweep).Add(2 * sweep)
		time.Sleep(time.Until(instant.Add(-700 * time.Millisecond))) // the start's moment is the point, not a wait for a condition
		run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
		require.NoError(t, err)
		var res workflows.PipelineResult
		require.NoError(t, run.Get(ctx, &res))
		jobID := workflows.JobWorkflowID(in.ID, workflows.StepRender)
		if !versionMarkers(historyOf(ctx, t, st, jobID, ""))["job-sweep-grace"] {
			t.Logf("try %d: the create missed the grace before %s; again", try, instant.Format("15:04:05.000"))
			continue
		}
		step := res.Steps[0]
		assert.Equal(t, workflows.FinishedByPoll, step.FinishedBy, "the webhook was dropped")
		assert.WithinDuration(t, instant.Add(workflows.SweepGrace(sweep)), step.FinishedAt, 900*time.Millisecond,
			"found by the grace read, not at the next instant")
		record(ctx, t, st, "job-sweep-grace", jobID)
		return
	}
	t.Fatal("no create landed in the grace in five tries")
}
