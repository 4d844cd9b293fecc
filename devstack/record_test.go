package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// recordEnv turns the recorder on.
const recordEnv = "REELFLOW_RECORD_HISTORIES"

// recordDir is where the replay tests read histories from.
const recordDir = "../worker/testdata"

// TestRecordHistories runs the scenarios the replay tests cover on the real in-process
// server and writes each workflow's full history to worker/testdata/<name>.json, in the
// JSON form worker.WorkflowReplayer reads. It runs only with REELFLOW_RECORD_HISTORIES=1:
//
//	REELFLOW_RECORD_HISTORIES=1 go test -run TestRecordHistories ./devstack/
//
// See docs/replay.md for when to record, and why old files are kept.
func TestRecordHistories(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skip("set " + recordEnv + "=1 to record the replay histories into " + recordDir)
	}
	st := startStack(t, Config{RenderTime: 500 * time.Millisecond})
	limited := startStack(t, Config{RenderTime: 500 * time.Millisecond, Account: activities.Account{Concurrency: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fast := workflows.Timeouts{PushWindow: time.Second, PollInitial: 200 * time.Millisecond, PollMax: time.Second, Deadline: time.Minute}
	start := func(in workflows.PipelineInput) client.WorkflowRun {
		run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY}, workflows.Pipeline, in)
		require.NoError(t, err)
		return run
	}

	t.Run("job-webhook", func(t *testing.T) {
		in := welcome("rec-webhook")
		in.Timeouts.PushWindow = time.Hour
		require.NoError(t, start(in).Get(ctx, nil))
		record(ctx, t, st, "job-webhook", workflows.JobWorkflowID(in.ID, workflows.StepRender))
	})

	t.Run("job-poll", func(t *testing.T) {
		st.Sandbox.SetDropRate(1)
		defer st.Sandbox.SetDropRate(0)
		in := welcome("rec-poll")
		in.Timeouts = fast
		require.NoError(t, start(in).Get(ctx, nil))
		record(ctx, t, st, "job-poll", workflows.JobWorkflowID(in.ID, workflows.StepRender))
	})

	t.Run("job-failed", func(t *testing.T) {
		in := welcome("rec-failed")
		in.Video["avatar_id"] = "sandbox-fail"
		require.Error(t, start(in).Get(ctx, nil))
		record(ctx, t, st, "job-failed", workflows.JobWorkflowID(in.ID, workflows.StepRender))
	})

	t.Run("job-limited", func(t *testing.T) {
		in := welcome("rec-limited")
		run, err := limited.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
		require.NoError(t, err)
		require.NoError(t, run.Get(ctx, nil))
		record(ctx, t, limited, "job-limited", workflows.JobWorkflowID(in.ID, workflows.StepRender))
		// The scheduler runs on until it has been idle for a while: its history so far.
		record(ctx, t, limited, "scheduler", workflows.SchedulerWorkflowIDFor(workflows.SandboxAccount))
	})

	t.Run("pipeline-retry", func(t *testing.T) {
		// retry {renders: 2}: the first attempt fails (not known to be permanent), the
		// backoff, and a second attempt as a new child run that completes.
		st.Sandbox.SetFaults(sandbox.Faults{FailFirst: 1})
		defer st.Sandbox.SetFaults(sandbox.Faults{})
		in := welcome("rec-retry")
		in.Retry = &workflows.Retry{Renders: 2}
		require.NoError(t, start(in).Get(ctx, nil))
		record(ctx, t, st, "pipeline-retry", in.ID)
	})

	t.Run("pipeline-fanout", func(t *testing.T) {
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		defer hook.Close()
		t.Setenv("REELFLOW_RECORD_NOTIFY_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		in := welcome("rec-fanout")
		in.Timeouts = fast
		in.Translate = &workflows.Translate{Languages: []string{"Spanish (Spain)", "Klingon"}, Captions: true}
		in.Deliver = &workflows.Deliver{To: "file://" + t.TempDir()}
		in.Notify = &workflows.Notify{URL: hook.URL, SecretEnv: "REELFLOW_RECORD_NOTIFY_SECRET"}
		require.NoError(t, start(in).Get(ctx, nil))
		record(ctx, t, st, "pipeline-fanout", in.ID)
	})

	t.Run("pipeline-cancelled", func(t *testing.T) {
		st.Sandbox.SetDropRate(1)
		defer st.Sandbox.SetDropRate(0)
		in := welcome("rec-cancel")
		in.Timeouts = workflows.Timeouts{PushWindow: time.Second, PollInitial: 200 * time.Millisecond, PollMax: time.Second, Deadline: time.Minute}
		in.Translate = &workflows.Translate{Languages: []string{"French"}}
		run := start(in)
		// The render ends; the translation, created once it has, renders for ever.
		waitCreated(ctx, t, st, workflows.JobWorkflowID(in.ID, workflows.StepRender))
		st.Sandbox.SetFaults(sandbox.Faults{DropRate: 1, StuckRate: 1})
		waitCreated(ctx, t, st, workflows.JobWorkflowID(in.ID, workflows.TranslateStep("French")))
		st.Sandbox.SetFaults(sandbox.Faults{DropRate: 1})
		require.NoError(t, st.Client.CancelWorkflow(ctx, in.ID, ""))
		require.Error(t, run.Get(ctx, nil))
		record(ctx, t, st, "pipeline-cancelled", in.ID)
	})
}

// waitCreated waits until the sandbox made a job for callback ID cb, at most until ctx's
// deadline.
func waitCreated(ctx context.Context, t *testing.T, st *Stack, cb string) {
	t.Helper()
	deadline, ok := ctx.Deadline()
	require.True(t, ok, "waitCreated needs a ctx with a deadline")
	require.Eventually(t, func() bool { return st.Sandbox.Stats().CreatesByCallbackID[cb] > 0 },
		time.Until(deadline), 20*time.Millisecond, "a job created for %s", cb)
}

// record writes the full history of workflowID's latest run to recordDir/name.json.
func record(ctx context.Context, t *testing.T, st *Stack, name, workflowID string) {
	t.Helper()
	writeHistory(ctx, t, st, recordDir, name, workflowID)
}

// writeHistory writes the full history of workflowID's latest run to dir/name.json.
func writeHistory(ctx context.Context, t *testing.T, st *Stack, dir, name, workflowID string) {
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
	path := filepath.Join(dir, name+".json")
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	t.Logf("recorded %s: %d events of %s", path, len(events), workflowID)
}

// versionMarkers returns the change IDs of the version markers (workflow.GetVersion)
// that events record.
func versionMarkers(events []*historypb.HistoryEvent) map[string]bool {
	ids := map[string]bool{}
	for _, ev := range events {
		m := ev.GetMarkerRecordedEventAttributes()
		if m == nil || m.GetMarkerName() != "Version" {
			continue
		}
		for _, p := range m.GetDetails() {
			for _, d := range p.GetPayloads() {
				var id string
				if json.Unmarshal(d.GetData(), &id) == nil {
					ids[id] = true
				}
			}
		}
	}
	return ids
}
