package devstack

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// jobRecordDir is where the replay test (worker's TestReplayRecordedHistories) reads
// histories: the one home of every recorded history.
const jobRecordDir = recordDir

// TestRecordJobHistories records Job histories into worker/testdata, for
// worker's TestReplayRecordedHistories. Like TestRecordHistories it runs only with
// REELFLOW_RECORD_HISTORIES=1.
func TestRecordJobHistories(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skip("set " + recordEnv + "=1 to record Job histories into " + jobRecordDir)
	}
	st := startStack(t, Config{RenderTime: 2 * time.Second, Account: activities.Account{Concurrency: 2}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A limited Job that polls to the end: a create that asks for a slot, the slot, the
	// create, push window, polls, release.
	st.Sandbox.SetDropRate(1)
	in := welcome("rec-identity")
	in.Timeouts = workflows.Timeouts{PushWindow: 500 * time.Millisecond, PollInitial: 200 * time.Millisecond, PollMax: 400 * time.Millisecond, Deadline: time.Minute}
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	recordJob(ctx, t, st, "job-limited-polling", workflows.JobWorkflowID(in.ID, workflows.StepRender))
}

// recordJob writes the full history of workflowID's latest run to jobRecordDir/name.json.
func recordJob(ctx context.Context, t *testing.T, st *Stack, name, workflowID string) {
	t.Helper()
	writeHistory(ctx, t, st, jobRecordDir, name, workflowID)
}

// historyOf returns every event of one run (the latest when runID is "").
func historyOf(ctx context.Context, t *testing.T, st *Stack, workflowID, runID string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	it := st.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	return events
}

// resetPoint picks the event ID a Reset goes back to, from a run's history, as the UI
// does: a WorkflowTaskCompleted event. ok is false while the history has no such point.
type resetPoint func(events []*historypb.HistoryEvent) (id int64, ok bool)

// firstWorkflowTask is the UI's "reset to the first workflow task".
func firstWorkflowTask(events []*historypb.HistoryEvent) (int64, bool) {
	for _, ev := range events {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return ev.GetEventId(), true
		}
	}
	return 0, false
}

// taskAfter is the first workflow task completed after the first event that match
// accepts, and after at least n such events.
func taskAfter(n int, match func(*historypb.HistoryEvent, []*historypb.HistoryEvent) bool) resetPoint {
	return func(events []*historypb.HistoryEvent) (int64, bool) {
		seen := 0
		for _, ev := range events {
			if match(ev, events) {
				seen++
				continue
			}
			if seen >= n && ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
				return ev.GetEventId(), true
			}
		}
		return 0, false
	}
}

// activityCompleted matches the completion of an activity of the given type.
func activityCompleted(activityType string) func(*historypb.HistoryEvent, []*historypb.HistoryEvent) bool {
	return func(ev *historypb.HistoryEvent, events []*historypb.HistoryEvent) bool {
		if ev.GetEventType() != enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED {
			return false
		}
		sched := ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
		return events[sched-1].GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == activityType
	}
}

// signalled matches a heygen.event signal.
func signalled(ev *historypb.HistoryEvent, _ []*historypb.HistoryEvent) bool {
	return ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED &&
		ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == workflows.SignalEvent
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		require.NoError(t, ctx.Err(), "waiting for %s", what)
		time.Sleep(50 * time.Millisecond)
	}
}

// reset waits until point is in the history of workflowID's current run, resets the run
// to it and returns the new run's ID, with the base run's original run ID and its own.
func reset(ctx context.Context, t *testing.T, st *Stack, workflowID string, point resetPoint) (newRun, baseOriginal string) {
	t.Helper()
	var id int64
	var base string
	waitFor(ctx, t, "the reset point of "+workflowID, func() bool {
		desc, err := st.Client.DescribeWorkflowExecution(ctx, workflowID, "")
		require.NoError(t, err)
		base = desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		var ok bool
		id, ok = point(historyOf(ctx, t, st, workflowID, base))
		return ok
	})
	started := historyOf(ctx, t, st, workflowID, base)[0].GetWorkflowExecutionStartedEventAttributes()
	resp, err := st.Client.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 st.Temporal.Namespace(),
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: base},
		Reason:                    "reset e2e test",
		WorkflowTaskFinishEventId: id,
		RequestId:                 fmt.Sprintf("%s-%d-%d", workflowID, id, time.Now().UnixNano()),
	})
	require.NoError(t, err)
	return resp.GetRunId(), started.GetOriginalExecutionRunId()
}

// startPipeline starts in and returns its run.
func startPipeline(ctx context.Context, t *testing.T, st *Stack, in workflows.PipelineInput) client.WorkflowRun {
	t.Helper()
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY}, workflows.Pipeline, in)
	require.NoError(t, err)
	return run
}

// assertOneCreateEach checks the sandbox's ground truth: exactly one create for each
// callback_id.
func assertOneCreateEach(t *testing.T, st *Stack, callbackIDs ...string) {
	t.Helper()
	stats := st.Sandbox.Stats()
	for _, cb := range callbackIDs {
		assert.Equal(t, 1, stats.CreatesByCallbackID[cb], "creates for %s", cb)
	}
}

// TestResetJob resets a Job from the Temporal UI's point of view, to four points of its
// life (issue 11, Tests): each time HeyGen gets one create for the callback_id, and the
// pipeline completes. It also checks what the identity rests on, against the pinned
// server: a reset run's started event names the base run as its original run.
func TestResetJob(t *testing.T) {
	st := startStack(t, Config{RenderTime: 3 * time.Second})
	tests := []struct {
		name   string
		poll   bool       // drop every webhook, so that polls finish the job
		point  resetPoint // where the Job is reset to
		closed bool       // reset after the pipeline completed
	}{
		{name: "first workflow task", point: firstWorkflowTask},
		{name: "just after the create", point: taskAfter(1, activityCompleted("CreateJob"))},
		{name: "while polling", poll: true, point: taskAfter(2, activityCompleted("PollJob"))},
		{name: "after the webhook", point: taskAfter(1, signalled), closed: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			drop := 0.0
			if tt.poll {
				drop = 1
			}
			st.Sandbox.SetDropRate(drop)
			defer st.Sandbox.SetDropRate(0)
			in := welcome(fmt.Sprintf("reset-job-%d", i))
			in.Timeouts = workflows.Timeouts{PushWindow: time.Minute, Deadline: 2 * time.Minute}
			if tt.poll {
				in.Timeouts.PushWindow, in.Timeouts.PollInitial, in.Timeouts.PollMax = 300*time.Millisecond, 200*time.Millisecond, 500*time.Millisecond
			}
			cb := workflows.JobWorkflowID(in.ID, workflows.StepRender)
			run := startPipeline(ctx, t, st, in)
			waitCreated(ctx, t, st, cb)
			if tt.closed {
				require.NoError(t, run.Get(ctx, nil))
			}
			first := historyOf(ctx, t, st, cb, "")
			firstRun := first[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()
			newRun, original := reset(ctx, t, st, cb, tt.point)
			assert.Equal(t, firstRun, original, "a reset run's original run is the base run's")
			var res workflows.JobResult
			require.NoError(t, st.Client.GetWorkflow(ctx, cb, newRun).Get(ctx, &res), "the reset Job completes")
			assert.Equal(t, workflows.StateDone, res.State)
			if !tt.closed {
				require.NoError(t, run.Get(ctx, nil), "the pipeline completes")
			}
			assertOneCreateEach(t, st, cb)
		})
	}

	t.Run("a reset of a reset", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		in := welcome("reset-job-twice")
		in.Timeouts = workflows.Timeouts{PushWindow: time.Minute, Deadline: 2 * time.Minute}
		cb := workflows.JobWorkflowID(in.ID, workflows.StepRender)
		run := startPipeline(ctx, t, st, in)
		firstRun := ""
		waitFor(ctx, t, "the job", func() bool {
			desc, err := st.Client.DescribeWorkflowExecution(ctx, cb, "")
			if err == nil {
				firstRun = desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
			}
			return err == nil
		})
		_, o1 := reset(ctx, t, st, cb, taskAfter(1, activityCompleted("CreateJob")))
		newRun, o2 := reset(ctx, t, st, cb, firstWorkflowTask)
		assert.Equal(t, firstRun, o1)
		assert.Equal(t, firstRun, o2, "a reset of a reset still names the first run")
		require.NoError(t, st.Client.GetWorkflow(ctx, cb, newRun).Get(ctx, nil))
		require.NoError(t, run.Get(ctx, nil))
		assertOneCreateEach(t, st, cb)
	})
}

// TestResetPipelineMidFanOut resets a Pipeline while its translations render, to the
// workflow task that started them: the Pipeline's new run starts its Jobs again, and
// they must find their first renders (the Pipeline's run identity), not make new ones.
func TestResetPipelineMidFanOut(t *testing.T) {
	st := startStack(t, Config{RenderTime: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	in := welcome("reset-fanout")
	in.Timeouts = workflows.Timeouts{PushWindow: time.Minute, Deadline: 3 * time.Minute}
	langs := []string{"French", "German"}
	in.Translate = &workflows.Translate{Languages: langs}
	run := startPipeline(ctx, t, st, in)
	cbs := []string{workflows.JobWorkflowID(in.ID, workflows.StepRender)}
	for _, l := range langs {
		cbs = append(cbs, workflows.JobWorkflowID(in.ID, workflows.TranslateStep(l)))
	}
	waitFor(ctx, t, "both translations created", func() bool {
		stats := st.Sandbox.Stats()
		return stats.CreatesByCallbackID[cbs[1]] == 1 && stats.CreatesByCallbackID[cbs[2]] == 1
	})
	// The workflow task right after the render's Job completed: the one that started
	// the translations.
	renderDone := func(ev *historypb.HistoryEvent, _ []*historypb.HistoryEvent) bool {
		return ev.GetEventType() == enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED
	}
	newRun, _ := reset(ctx, t, st, in.ID, taskAfter(1, renderDone))
	var res workflows.PipelineResult
	require.NoError(t, st.Client.GetWorkflow(ctx, in.ID, newRun).Get(ctx, &res), "the reset pipeline completes")
	assert.Equal(t, workflows.StageDone, res.Stage)
	for _, row := range res.Steps {
		assert.Equal(t, workflows.StateDone, row.State, "%s: %s", row.Step, row.FailureMessage)
	}
	assert.Error(t, run.Get(ctx, nil), "the base run was terminated by the reset")
	assertOneCreateEach(t, st, cbs...)
}
