package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/activities"
)

// completedJob is a PriorJob that completed with spec hash and the given result.
func completedJob(t *testing.T, callbackID, hash string, res JobResult) activities.PriorJob {
	t.Helper()
	b, err := json.Marshal(res)
	require.NoError(t, err)
	return activities.PriorJob{CallbackID: callbackID, Status: activities.JobCompleted, RunID: "run-1", SpecHash: hash, Result: b}
}

// hashOf returns the spec hash of step in in.
func hashOf(t *testing.T, in PipelineInput, step string) string {
	t.Helper()
	for _, s := range StepSpecs(in) {
		if s.Step == step {
			return s.Hash
		}
	}
	require.Failf(t, "no such step", step)
	return ""
}

func (f *fakeSteps) createdCallbackIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, c := range f.creates {
		ids = append(ids, c.CallbackID)
	}
	slices.Sort(ids)
	return ids
}

// priorRun is what a first run of multiInput left: the render and Spanish completed,
// Klingon failed, French was cancelled by fail_fast.
func priorRun(t *testing.T, in PipelineInput) map[string]activities.PriorJob {
	render := JobWorkflowID(testPipelineID, StepRender)
	es := JobWorkflowID(testPipelineID, TranslateStep("Spanish (Spain)"))
	kl := JobWorkflowID(testPipelineID, TranslateStep("Klingon"))
	fr := JobWorkflowID(testPipelineID, TranslateStep("French"))
	return map[string]activities.PriorJob{
		render: completedJob(t, render, hashOf(t, in, StepRender), JobResult{Step: StepRender, State: StateDone,
			HeyGenJobID: "v_old", VideoURL: renderURL, FinishedBy: FinishedByWebhook}),
		es: completedJob(t, es, hashOf(t, in, TranslateStep("Spanish (Spain)")), JobResult{State: StateDone,
			HeyGenJobID: "t_es_old", VideoURL: "https://cdn.example/t_es_old/out.mp4", FinishedBy: FinishedByPoll}),
		kl: {CallbackID: kl, Status: activities.JobFailed, RunID: "run-1"},
		fr: {CallbackID: fr, Status: activities.JobCanceled, RunID: "run-1"},
	}
}

func TestPipelineRerunReusesCompletedSteps(t *testing.T) {
	in := multiInput()
	env := newRerunEnv(t, priorRun(t, in))
	f := &fakeSteps{}
	f.register(env)

	env.ExecuteWorkflow(Pipeline, in)

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res PipelineResult
	require.NoError(t, env.GetWorkflowResult(&res))
	// Only the failed and the cancelled step run again: one create each.
	assert.Equal(t, []string{"welcome-42/translate/french", "welcome-42/translate/klingon"}, f.createdCallbackIDs())
	render := stepRow(t, res.Steps, StepRender)
	assert.True(t, render.Reused)
	assert.Equal(t, StateDone, render.State)
	assert.Equal(t, "v_old", render.HeyGenJobID)
	assert.Equal(t, KindVideo, render.Kind)
	es := stepRow(t, res.Steps, TranslateStep("Spanish (Spain)"))
	assert.True(t, es.Reused)
	assert.Equal(t, "t_es_old", es.HeyGenJobID)
	assert.Equal(t, "Spanish (Spain)", es.Language)
	fr := stepRow(t, res.Steps, TranslateStep("French"))
	assert.False(t, fr.Reused)
	assert.Equal(t, StateDone, fr.State)
	// The redone translations translate the reused render's video.
	for _, c := range f.creates {
		assert.Equal(t, renderURL, c.Body["video"].(map[string]any)["url"])
	}
	// A reused step's outputs go through Deliver again, which skips what is there.
	assert.Contains(t, f.deliverKeys(), "welcome-42/render/video.mp4")
}

func TestPipelineRerunRefusesAChangedStep(t *testing.T) {
	in := multiInput()
	prior := priorRun(t, in)
	in.Video = map[string]any{"type": "avatar", "avatar_id": "a2"} // the render changed
	env := newRerunEnv(t, prior)
	f := &fakeSteps{}
	f.register(env)

	env.ExecuteWorkflow(Pipeline, in)

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeStepChanged, appErr.Type())
	// The render's change makes the completed translation's source change too.
	// The pipeline's error carries its status; its cause, the refusal, names the steps.
	cause := appError(t, appErr.Unwrap())
	assert.Equal(t, ErrTypeStepChanged, cause.Type())
	var changed StepChangedError
	require.NoError(t, cause.Details(&changed))
	assert.Equal(t, []string{StepRender, "translate/spanish-spain"}, changed.Steps)
	assert.Empty(t, f.createdCallbackIDs(), "nothing runs")
}

func TestPipelineRerunFreshRendersAChangedStepAgain(t *testing.T) {
	in := multiInput()
	prior := priorRun(t, in)
	in.Video = map[string]any{"type": "avatar", "avatar_id": "a2"}
	in.Fresh = true
	env := newRerunEnv(t, prior)
	f := &fakeSteps{}
	f.register(env)
	signalJobAt(t, env, 30*time.Second, success(testJobID, renderURL))

	env.ExecuteWorkflow(Pipeline, in)

	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"welcome-42/render", "welcome-42/translate/french", "welcome-42/translate/klingon",
		"welcome-42/translate/spanish-spain"}, f.createdCallbackIDs(), "every changed step renders again, once")
}

func TestStepSpecs(t *testing.T) {
	base := multiInput()
	specs := StepSpecs(base)
	require.Len(t, specs, 4)
	assert.Equal(t, "welcome-42/render", specs[0].CallbackID)
	assert.Equal(t, "welcome-42/translate/spanish-spain", specs[1].CallbackID)
	assert.Equal(t, specs, StepSpecs(multiInput()), "the same spec hashes the same")

	waits := multiInput()
	waits.Timeouts = Timeouts{Deadline: 48 * time.Hour}
	waits.Schedule = Schedule{Priority: 1, Campaign: "c", Budget: 3}
	waits.Notify = nil
	assert.Equal(t, specs, StepSpecs(waits), "how a step is waited for and what follows it are no part of it")

	mode := multiInput()
	mode.Translate.Mode = "precision"
	got := StepSpecs(mode)
	assert.Equal(t, specs[0].Hash, got[0].Hash)
	assert.NotEqual(t, specs[1].Hash, got[1].Hash)

	src := multiInput()
	src.Video, src.Source = nil, &VideoSource{URL: "https://example.com/v.mp4"}
	got = StepSpecs(src)
	require.Len(t, got, 3, "no render")
	assert.NotEqual(t, specs[1].Hash, got[0].Hash)
}

func TestPlanRerun(t *testing.T) {
	specs := []StepSpec{{Step: "render", Hash: "h1"}, {Step: "translate/es", Hash: "h2"}, {Step: "translate/fr", Hash: "h3"}}
	tests := []struct {
		name    string
		prior   []activities.PriorJob
		fresh   bool
		reuse   []bool
		changed []string
	}{
		{name: "first run", prior: nil, reuse: []bool{false, false, false}},
		{name: "resume", prior: []activities.PriorJob{
			{Status: activities.JobCompleted, SpecHash: "h1"}, {Status: activities.JobFailed}, {Status: activities.JobTerminated},
		}, reuse: []bool{true, false, false}},
		{name: "a job older than the hash is reused", prior: []activities.PriorJob{{Status: activities.JobCompleted}},
			reuse: []bool{true, false, false}},
		{name: "changed", prior: []activities.PriorJob{
			{Status: activities.JobCompleted, SpecHash: "old"}, {Status: activities.JobCompleted, SpecHash: "h2"},
		}, reuse: []bool{false, true, false}, changed: []string{"render"}},
		{name: "changed but fresh", fresh: true, prior: []activities.PriorJob{{Status: activities.JobCompleted, SpecHash: "old"}},
			reuse: []bool{false, false, false}},
		{name: "a changed step that failed is simply redone", prior: []activities.PriorJob{{Status: activities.JobFailed, SpecHash: "old"}},
			reuse: []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plans, err := PlanRerun(specs, tt.prior, tt.fresh)
			var changed *StepChangedError
			if tt.changed != nil {
				require.True(t, errors.As(err, &changed), "got %v", err)
				assert.Equal(t, tt.changed, changed.Steps)
				return
			}
			require.NoError(t, err)
			var reuse []bool
			for _, p := range plans {
				reuse = append(reuse, p.Reuse)
			}
			assert.Equal(t, tt.reuse, reuse)
		})
	}
}

// TestPipelinePriorJobsRetriesAreBounded: the look for earlier runs is not retried when
// Temporal refuses it for good, and is retried a bounded number of times otherwise; the
// pipeline then fails with the activity's type instead of hanging before its first step.
func TestPipelinePriorJobsRetriesAreBounded(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		attempts int
	}{
		{"permission denied: no retry", activities.ErrTypeTemporalRefused, 1},
		{"unavailable: bounded retries", activities.ErrTypeTemporalUnavailable, priorJobsAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testPipelineID})
			attempts := 0
			// Retryable as returned: only the workflow's retry policy can stop the first.
			env.OnActivity(a.PriorJobs, mock.Anything, mock.Anything).Return(
				func(context.Context, activities.PriorJobsInput) (activities.PriorJobsResult, error) {
					attempts++
					return activities.PriorJobsResult{}, temporal.NewApplicationError("prior jobs", tt.typ)
				})

			env.ExecuteWorkflow(Pipeline, pipelineInput())

			require.True(t, env.IsWorkflowCompleted())
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, env.GetWorkflowError(), &appErr)
			assert.Equal(t, tt.typ, appErr.Type())
			assert.Equal(t, tt.attempts, attempts)
		})
	}
}
