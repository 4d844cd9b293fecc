package devstack

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// TestRerenderOnFailure (issue 18): with retry {renders: 2}, a render whose first
// attempt fails (RENDER_FAILED, not known to be permanent) completes on its second, with
// two creates at HeyGen; a render whose failure is permanent (the sandbox's unavailable
// avatar) fails at once, after one create.
func TestRerenderOnFailure(t *testing.T) {
	st := startStack(t, Config{})
	st.Sandbox.SetFaults(sandbox.Faults{FailFirst: 1})

	in := welcome("heal-retry")
	in.Retry = &workflows.Retry{Renders: 2}
	res, err := runPipeline(t, st, in)
	require.NoError(t, err)
	cb := workflows.JobWorkflowID(in.ID, workflows.StepRender)
	assert.Equal(t, 2, st.Sandbox.Stats().CreatesByCallbackID[cb], "two creates, one per attempt")
	require.NotNil(t, res.Render)
	assert.Equal(t, workflows.StateDone, res.Render.State)
	assert.Equal(t, 2, res.Render.Attempt)
	assert.Equal(t, 3, res.Render.Attempts)
	require.Len(t, res.Render.FailedAttempts, 1)
	assert.Contains(t, res.Render.FailedAttempts[0], "attempt 1: render failed")

	st.Sandbox.SetFaults(sandbox.Faults{})
	perm := welcome("heal-permanent")
	perm.Video["avatar_id"] = sandbox.MagicAvatarFail
	perm.Retry = &workflows.Retry{Renders: 2}
	began := time.Now()
	_, err = runPipeline(t, st, perm)
	took := time.Since(began)
	require.Error(t, err)
	assert.Equal(t, 1, st.Sandbox.Stats().CreatesByCallbackID[workflows.JobWorkflowID(perm.ID, workflows.StepRender)],
		"a permanent failure is never rendered again")
	// At once: no backoff before a second attempt (the first waits 30 s).
	assert.Less(t, took, 20*time.Second, "the permanent failure failed the pipeline without waiting for an attempt")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, workflows.ErrTypeHeyGenJobFailed, appErr.Type())
	var ps workflows.PipelineStatus
	require.NoError(t, appErr.Details(&ps))
	row := ps.Steps[0]
	assert.Equal(t, workflows.StateFailed, row.State)
	assert.Equal(t, 1, row.Attempt, "attempt 1 of 3, the last")
	require.Len(t, row.FailedAttempts, 1)
	assert.Contains(t, row.FailedAttempts[0], "is unavailable")
}

// timerFired matches a timer's end: in a Pipeline, the backoff between two attempts.
func timerFired(ev *historypb.HistoryEvent, _ []*historypb.HistoryEvent) bool {
	return ev.GetEventType() == enumspb.EVENT_TYPE_TIMER_FIRED
}

// TestResetBetweenAttempts (issue 18): a Reset of the Pipeline, with the real server's
// ResetWorkflowExecution, to the point between two attempts of its render (the first
// failed and its backoff ended; the second not yet started), taken after the second
// attempt's render was made, pays for no attempt twice: two renders in all, one per
// attempt, each under its own Idempotency-Key (the Pipeline's run identity, which a
// Reset keeps, plus ".a2" for the second).
//
//   - "adopted": the server leaves the second attempt's Job running through the Reset,
//     so the reset run cannot start it again; it waits for it and takes its result.
//   - "created again": the second attempt's Job was terminated first, so the reset run
//     starts the attempt anew, and its create, under the same key, is answered from the
//     key's memory instead of rendering.
func TestResetBetweenAttempts(t *testing.T) {
	st := startStack(t, Config{RenderTime: 5 * time.Second})
	st.Sandbox.SetFaults(sandbox.Faults{FailFirst: 1})
	for _, terminate := range []bool{false, true} {
		name := map[bool]string{false: "adopted", true: "created again"}[terminate]
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each waits out a 30 s backoff between attempts
			resetBetweenAttempts(t, st, "heal-reset-"+map[bool]string{false: "adopt", true: "again"}[terminate], terminate)
		})
	}
}

// resetBetweenAttempts runs TestResetBetweenAttempts for pipeline id.
func resetBetweenAttempts(t *testing.T, st *Stack, id string, terminate bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := welcome(id)
	in.Retry = &workflows.Retry{Renders: 2}
	// A 2 s sweep: a Job started again after the render ended has missed its webhook.
	in.Timeouts = workflows.Timeouts{PushWindow: time.Minute, Sweep: 2 * time.Second, Deadline: 2 * time.Minute}
	cb := workflows.JobWorkflowID(in.ID, workflows.StepRender)
	run := startPipeline(ctx, t, st, in)

	waitFor(ctx, t, "the second attempt's render", func() bool { return st.Sandbox.Stats().CreatesByCallbackID[cb] == 2 })
	before := st.Sandbox.Renders()[cb]
	replays := st.Sandbox.Stats().IdempotentReplays
	if terminate {
		require.NoError(t, st.Client.TerminateWorkflow(ctx, cb, "", "reset e2e test: the attempt's Job is gone"))
		require.Error(t, run.Get(ctx, nil), "a terminated step is not re-rendered: the pipeline fails")
	}
	newRun, _ := reset(ctx, t, st, in.ID, taskAfter(1, timerFired))

	var res workflows.PipelineResult
	require.NoError(t, st.Client.GetWorkflow(ctx, in.ID, newRun).Get(ctx, &res), "the reset pipeline completes")
	assert.Error(t, run.Get(ctx, nil), "the base run ended (terminated by the reset, or failed)")
	after := st.Sandbox.Renders()[cb]
	require.Len(t, after, 2, "two renders, one per attempt: none paid for twice")
	keys := func(js []sandbox.JobTruth) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.IdempotencyKey)
		}
		return out
	}
	assert.Equal(t, keys(before), keys(after))
	assert.Regexp(t, `^`+regexp.QuoteMeta(strings.ReplaceAll(cb, "/", ":"))+`\.[0-9a-f-]+$`, after[0].IdempotencyKey)
	assert.Equal(t, after[0].IdempotencyKey+".a2", after[1].IdempotencyKey, "each attempt its own key")
	assert.Equal(t, "failed", after[0].Status)

	require.NotNil(t, res.Render)
	assert.Equal(t, workflows.StateDone, res.Render.State)
	assert.Equal(t, after[1].VideoID, res.Render.HeyGenJobID, "the reset run completed with the second attempt's render")
	assert.Equal(t, 2, res.Render.Attempt)
	require.Len(t, res.Render.FailedAttempts, 1)
	if terminate {
		assert.Greater(t, st.Sandbox.Stats().IdempotentReplays, replays,
			"the reset run created the second attempt again, and was answered from its key")
		assert.False(t, res.Render.Reused)
	} else {
		assert.True(t, res.Render.Reused, "the reset run took the running attempt's result")
	}
}
