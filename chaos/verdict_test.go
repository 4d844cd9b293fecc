package chaos

import (
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
