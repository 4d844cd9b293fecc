package chaos

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// The verdict's reading of a job that HeyGen made but whose Job never got the create's
// answer, on outcomes built by hand: each case is one pipeline, p.

func doneRow(step, jobID string) workflows.JobStatus {
	return workflows.JobStatus{Step: step, State: workflows.StateDone, HeyGenJobID: jobID, VideoURL: "https://x/" + jobID}
}

func completed(id string) sandbox.JobTruth {
	return sandbox.JobTruth{VideoID: id, Status: "completed", Creates: 1, Jobs: 1}
}

// verdictOf checks one pipeline's outcome against truth, in a run with restarts.
func verdictOf(restarts int, truth map[string]sandbox.JobTruth, o outcome) chaosReport {
	r := chaosReport{Restarts: restarts, Stats: sandbox.Stats{JobsByCallbackID: truth}}
	r.check([]outcome{o})
	return r
}

func TestVerdictLostTranslationAnswer(t *testing.T) {
	es, fr := workflows.TranslateStep(languages()[0]), workflows.TranslateStep(languages()[1])
	truth := map[string]sandbox.JobTruth{
		workflows.JobWorkflowID("p", workflows.StepRender): completed("v1"),
		workflows.JobWorkflowID("p", es):                   completed("t1"),
		workflows.JobWorkflowID("p", fr):                   completed("t2"), // HeyGen made it
	}
	lost := workflows.JobStatus{Step: fr, State: workflows.StateFailed, FailureMessage: "activity StartToClose timeout"}
	o := outcome{id: "p", steps: []workflows.JobStatus{doneRow(workflows.StepRender, "v1"), doneRow(es, "t1"), lost}}

	r := verdictOf(1, truth, o)
	assert.Empty(t, r.Mismatches)
	assert.Equal(t, 1, r.LostAnswers)

	r = verdictOf(0, truth, o)
	assert.Len(t, r.Mismatches, 1, "no worker stop, so no answer lost to one")
	assert.Contains(t, r.Mismatches[0], "in a run with no worker stop")

	knew := lost
	knew.Polls = 2
	o.steps[2] = knew
	r = verdictOf(1, truth, o)
	assert.Len(t, r.Mismatches, 1, "a Job that polled its job did get the answer")
	assert.Zero(t, r.LostAnswers)
}

func TestVerdictLostRenderAnswer(t *testing.T) {
	render := workflows.JobWorkflowID("p", workflows.StepRender)
	var failed *temporal.ApplicationError
	require.ErrorAs(t, temporal.NewNonRetryableApplicationError("render: x", workflows.ErrTypeCreateUnconfirmed, nil), &failed)
	notStarted := func(step string) workflows.JobStatus {
		return workflows.JobStatus{Step: step, State: workflows.StateCancelled, FailureMessage: "not started"}
	}
	o := outcome{id: "p", err: failed, failed: failed, steps: []workflows.JobStatus{
		{Step: workflows.StepRender, CallbackID: render, State: workflows.StateFailed, FailureMessage: "create video: HTTP 429"},
		notStarted(workflows.TranslateStep(languages()[0])), notStarted(workflows.TranslateStep(languages()[1])),
	}}

	r := verdictOf(1, map[string]sandbox.JobTruth{render: completed("v1")}, o)
	assert.Empty(t, r.Mismatches)
	assert.Equal(t, 1, r.LostAnswers)
	assert.Zero(t, r.NeverCreated)

	r = verdictOf(1, map[string]sandbox.JobTruth{}, o)
	assert.Empty(t, r.Mismatches)
	assert.Equal(t, 1, r.NeverCreated, "HeyGen made nothing: refused until the deadline")
	assert.Zero(t, r.LostAnswers)
}

// The verdict's reading of re-rendered steps (retry: {renders: N}): each case is one
// pipeline, p, with a budget of 2, whose render's jobs are listed in create order.
func TestVerdictRetriedAttempts(t *testing.T) {
	render := workflows.JobWorkflowID("p", workflows.StepRender)
	es, fr := workflows.TranslateStep(languages()[0]), workflows.TranslateStep(languages()[1])
	failedJob := func(id string) sandbox.JobTruth {
		return sandbox.JobTruth{VideoID: id, Status: "failed", Creates: 1, Jobs: 1, FailureCode: "RENDER_FAILED", FailureMessage: "render failed"}
	}
	rescued := func(attempt int) workflows.JobStatus {
		row := doneRow(workflows.StepRender, "v2")
		row.CallbackID, row.Attempt, row.Attempts = render, attempt, 3
		for i := 1; i < attempt; i++ {
			row.FailedAttempts = append(row.FailedAttempts, "attempt 1: RENDER_FAILED: render failed")
		}
		return row
	}
	check := func(renders []sandbox.JobTruth, row workflows.JobStatus, failed *temporal.ApplicationError) chaosReport {
		agg := renders[len(renders)-1]
		agg.Creates, agg.Jobs = len(renders), len(renders)
		truth := map[string]sandbox.JobTruth{render: agg, workflows.JobWorkflowID("p", es): completed("t1"), workflows.JobWorkflowID("p", fr): completed("t2")}
		r := chaosReport{Stats: sandbox.Stats{JobsByCallbackID: truth}, Budgets: map[string]int{"p": 2},
			Renders: map[string][]sandbox.JobTruth{render: renders,
				workflows.JobWorkflowID("p", es): {completed("t1")}, workflows.JobWorkflowID("p", fr): {completed("t2")}}}
		steps := []workflows.JobStatus{row, doneRow(es, "t1"), doneRow(fr, "t2")}
		if failed != nil { // the translations never start
			for _, step := range []string{es, fr} {
				delete(truth, workflows.JobWorkflowID("p", step))
				delete(r.Renders, workflows.JobWorkflowID("p", step))
			}
			steps[1] = workflows.JobStatus{Step: es, State: workflows.StateCancelled, FailureMessage: "not started"}
			steps[2] = workflows.JobStatus{Step: fr, State: workflows.StateCancelled, FailureMessage: "not started"}
		}
		o := outcome{id: "p", steps: steps, failed: failed}
		if failed != nil {
			o.err = failed
		}
		r.check([]outcome{o})
		return r
	}

	t.Run("failed once, then completed on the second attempt", func(t *testing.T) {
		r := check([]sandbox.JobTruth{failedJob("v1"), completed("v2")}, rescued(2), nil)
		assert.Empty(t, r.Mismatches)
		assert.Equal(t, 1, r.Retried)
		assert.Equal(t, 1, r.Rescued)
	})
	t.Run("two renders for one attempt", func(t *testing.T) {
		r := check([]sandbox.JobTruth{failedJob("v1"), completed("v2")}, rescued(1), nil)
		require.NotEmpty(t, r.Mismatches)
		assert.Contains(t, strings.Join(r.Mismatches, "\n"), "an attempt paid for twice")
	})
	t.Run("rendered again after a completed render", func(t *testing.T) {
		r := check([]sandbox.JobTruth{completed("v1"), completed("v2")}, rescued(2), nil)
		require.NotEmpty(t, r.Mismatches)
		assert.Contains(t, strings.Join(r.Mismatches, "\n"), "yet the step rendered again")
	})
	t.Run("rendered again after a permanent failure", func(t *testing.T) {
		perm := failedJob("v1")
		perm.FailureCode, perm.FailureMessage = sandbox.FailureCodeAvatarUnavailable, "avatar x is unavailable"
		r := check([]sandbox.JobTruth{perm, completed("v2")}, rescued(2), nil)
		require.NotEmpty(t, r.Mismatches)
		assert.Contains(t, strings.Join(r.Mismatches, "\n"), "yet the step rendered again")
	})

	var jobFailed *temporal.ApplicationError
	require.ErrorAs(t, temporal.NewNonRetryableApplicationError("render: x", workflows.ErrTypeHeyGenJobFailed, nil), &jobFailed)
	failedRow := func(attempt int, id string) workflows.JobStatus {
		row := workflows.JobStatus{Step: workflows.StepRender, CallbackID: render, State: workflows.StateFailed, HeyGenJobID: id,
			Attempt: attempt, Attempts: 3, FailureMessage: "RENDER_FAILED: render failed"}
		for i := 1; i <= attempt; i++ {
			row.FailedAttempts = append(row.FailedAttempts, "attempt: RENDER_FAILED")
		}
		return row
	}
	t.Run("every attempt failed: the budget is spent", func(t *testing.T) {
		r := check([]sandbox.JobTruth{failedJob("v1"), failedJob("v2"), failedJob("v3")}, failedRow(3, "v3"), jobFailed)
		assert.Empty(t, r.Mismatches)
	})
	t.Run("failed with budget left", func(t *testing.T) {
		r := check([]sandbox.JobTruth{failedJob("v1"), failedJob("v2")}, failedRow(2, "v2"), jobFailed)
		require.NotEmpty(t, r.Mismatches)
		assert.Contains(t, strings.Join(r.Mismatches, "\n"), "failed instead of rendering again")
	})
	t.Run("beyond the budget", func(t *testing.T) {
		r := check([]sandbox.JobTruth{failedJob("v1"), failedJob("v2"), failedJob("v3"), failedJob("v4")}, failedRow(4, "v4"), jobFailed)
		require.NotEmpty(t, r.Mismatches)
		assert.Contains(t, strings.Join(r.Mismatches, "\n"), "beyond the budget")
	})
}
