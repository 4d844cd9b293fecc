package devstack

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// slotBound is the bound docs/operations.md states for freeing the slot of a Job that no
// longer runs, while another Job waits for it: the scheduler's holder check every 15 s
// plus one Describe call, with room for a loaded test machine.
const slotBound = 30 * time.Second

// waitUntil polls cond every 20 ms until it holds, failing the test at ctx's deadline.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline, ok := ctx.Deadline()
	require.True(t, ok, "waiting for %s needs a deadline", what)
	require.Eventually(t, cond, time.Until(deadline), 20*time.Millisecond, "waiting for %s", what)
}

// jobState is a Job's state through its status query, or "" when it does not answer.
func jobState(ctx context.Context, st *Stack, id string) workflows.JobState {
	v, err := st.Client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return ""
	}
	var js workflows.JobStatus
	if v.Get(&js) != nil {
		return ""
	}
	return js.State
}

// TestSlotOfATerminatedHolder: with an account concurrency of 1, the first pipeline's
// render holds the only slot and never finishes; the second pipeline's render waits. An
// operator terminates the first render's Job: the second gets the slot within
// slotBound, and the sandbox made exactly one render for each.
func TestSlotOfATerminatedHolder(t *testing.T) {
	st := startStack(t, Config{Account: activities.Account{Concurrency: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := func(in workflows.PipelineInput) client.WorkflowRun {
		run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY}, workflows.Pipeline, in)
		require.NoError(t, err)
		return run
	}
	creates := func(id string) int {
		return st.Sandbox.Stats().CreatesByCallbackID[workflows.JobWorkflowID(id, workflows.StepRender)]
	}

	stuck := welcome("slot-holder")
	stuck.Video["avatar_id"] = "sandbox-stuck" // renders for ever
	start(stuck)
	waitUntil(ctx, t, "the holder's create", func() bool { return creates(stuck.ID) == 1 })

	next := welcome("slot-next")
	nextRun := start(next)
	nextJob := workflows.JobWorkflowID(next.ID, workflows.StepRender)
	waitUntil(ctx, t, "the next Job to queue", func() bool { return jobState(ctx, st, nextJob) == workflows.StateQueued })
	require.Zero(t, creates(next.ID), "the only slot is held: the next Job has created nothing")

	require.NoError(t, st.Client.TerminateWorkflow(ctx, workflows.JobWorkflowID(stuck.ID, workflows.StepRender), "", "operator test"))
	terminated := time.Now()
	bctx, bcancel := context.WithTimeout(ctx, slotBound)
	defer bcancel()
	waitUntil(bctx, t, "the next Job's create, within the bound", func() bool { return creates(next.ID) == 1 })
	t.Logf("slot passed on %s after the terminate", time.Since(terminated).Round(100*time.Millisecond))

	require.NoError(t, nextRun.Get(ctx, nil))
	require.Equal(t, 1, creates(stuck.ID))
	require.Equal(t, 1, creates(next.ID))
	recordTo(ctx, t, st, "scheduler-holder-check", workflows.SchedulerWorkflowIDFor(workflows.SandboxAccount))
	recordTo(ctx, t, st, "job-slot-wait", nextJob)
}

// TestSlotOfAResetHolder: with an account concurrency of 1 (and a sandbox that answers
// 429 past one job), the first pipeline's render holds the only slot while the second's
// waits. The holder's Job is reset from the Temporal UI, to its first workflow task (the
// reset run asks again and is granted the same slot) or to just after its create (the
// reset run holds it). Neither loses nor doubles the slot: the reset Job completes with
// its one create, the waiting Job is granted only once the holder gave the slot back
// itself (not by the holder check or the lease), and the account sees no 429.
func TestSlotOfAResetHolder(t *testing.T) {
	// Renders long enough that the holder still renders when it is reset (checked below).
	st := startStack(t, Config{RenderTime: 4 * time.Second, Account: activities.Account{Concurrency: 1}})
	st.Sandbox.SetConcurrencyLimit(1)
	for i, tt := range []struct {
		name  string
		point resetPoint
	}{
		{"to the first workflow task", firstWorkflowTask},
		// A scheduled Job's first CreateJob answers SlotRequired; the second creates.
		{"to just after the create", taskAfter(2, activityCompleted("CreateJob"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			holder, next := welcome(fmt.Sprintf("reset-holder-%d", i)), welcome(fmt.Sprintf("reset-next-%d", i))
			holderJob, nextJob := workflows.JobWorkflowID(holder.ID, workflows.StepRender), workflows.JobWorkflowID(next.ID, workflows.StepRender)
			holderRun := startPipeline(ctx, t, st, holder)
			waitCreated(ctx, t, st, holderJob)
			nextRun := startPipeline(ctx, t, st, next)
			waitUntil(ctx, t, "the next Job to queue", func() bool { return jobState(ctx, st, nextJob) == workflows.StateQueued })

			newRun, base := reset(ctx, t, st, holderJob, tt.point)
			d, err := st.Client.DescribeWorkflowExecution(ctx, holderJob, base)
			require.NoError(t, err)
			require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, d.GetWorkflowExecutionInfo().GetStatus(),
				"the holder still held its slot when it was reset (the reset ended it)")
			var res workflows.JobResult
			require.NoError(t, st.Client.GetWorkflow(ctx, holderJob, newRun).Get(ctx, &res), "the reset Job completes")
			require.Equal(t, workflows.StateDone, res.State)
			require.NoError(t, holderRun.Get(ctx, nil))
			require.NoError(t, nextRun.Get(ctx, nil))

			assertOneCreateEach(t, st, holderJob, nextJob)
			require.Zero(t, st.Sandbox.Stats().ConcurrencyLimited, "no 429: the slot was never doubled")
			log := readSchedulerLog(ctx, t, st)
			at := slices.IndexFunc(log.grants, func(g grantRecord) bool { return g.to == nextJob })
			require.GreaterOrEqual(t, at, 0, "the next Job was granted")
			require.Empty(t, log.grants[at].held, "granted once the reset holder gave its slot back: %+v", log.grants)
			waitUntil(ctx, t, "no slot held, nobody waiting", func() bool {
				s, ok := schedulerStatus(ctx, st)
				return ok && len(s.Held) == 0 && s.Waiting == 0
			})
		})
	}
}

// TestRerunReusesTheRender: a pipeline whose translation fails with fail_fast fails;
// started again without the failing language it reuses its render: one create in all.
func TestRerunReusesTheRender(t *testing.T) {
	st := startStack(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := welcome("rerun-render")
	in.FailFast = true
	in.Translate = &workflows.Translate{Languages: []string{"Spanish (Spain)", "Klingon"}}
	_, err := runPipeline(t, st, in)
	require.Error(t, err)

	in.Translate.Languages = []string{"Spanish (Spain)"}
	res, err := runPipeline(t, st, in)
	require.NoError(t, err)
	require.NotNil(t, res.Render)
	require.True(t, res.Render.Reused)
	creates := st.Sandbox.Stats().CreatesByCallbackID
	require.Equal(t, 1, creates[workflows.JobWorkflowID(in.ID, workflows.StepRender)], "the render is reused")
	recordTo(ctx, t, st, "pipeline-rerun", in.ID)
}

// recordTo writes workflowID's latest run's history to ../worker/testdata/name.json
// for the replay test there, when REELFLOW_RECORD_HISTORIES=1.
func recordTo(ctx context.Context, t *testing.T, st *Stack, name, workflowID string) {
	t.Helper()
	if os.Getenv(recordEnv) != "1" {
		return
	}
	writeHistory(ctx, t, st, jobRecordDir, name, workflowID)
}
