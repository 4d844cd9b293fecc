package devstack

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reelflow/reelflow/workflows"
)

// jobRecordDir is where the workflows package's own replay test reads Job histories.
const jobRecordDir = "../workflows/testdata"

// TestRecordJobHistories records Job histories into workflows/testdata, for
// TestJobReplaysRecordedHistories. Like TestRecordHistories it runs only with
// REELFLOW_RECORD_HISTORIES=1; REELFLOW_RECORD_SUFFIX names the code version recorded
// (for example "v0" for the code before "job-identity").
func TestRecordJobHistories(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skip("set " + recordEnv + "=1 to record Job histories into " + jobRecordDir)
	}
	suffix := os.Getenv("REELFLOW_RECORD_SUFFIX")
	require.NotEmpty(t, suffix, "set REELFLOW_RECORD_SUFFIX to the code version recorded")
	st := startStack(t, Config{RenderTime: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A limited Job that polls to the end: permit, create, push window, polls, release.
	st.Sandbox.SetDropRate(1)
	in := welcome("rec-identity")
	in.ConcurrencyLimit = 2
	in.Timeouts = workflows.Timeouts{PushWindow: 500 * time.Millisecond, PollInitial: 200 * time.Millisecond, PollMax: 400 * time.Millisecond, Deadline: time.Minute}
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	recordJob(ctx, t, st, "job-limited-polling-"+suffix, workflows.JobWorkflowID(in.ID, workflows.StepRender))
}

// recordJob writes the full history of workflowID's latest run to jobRecordDir/name.json.
func recordJob(ctx context.Context, t *testing.T, st *Stack, name, workflowID string) {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := st.Client.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	require.NotEmpty(t, events)
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&historypb.History{Events: events})
	require.NoError(t, err)
	path := filepath.Join(jobRecordDir, name+".json")
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	t.Logf("recorded %s: %d events of %s", path, len(events), workflowID)
}
