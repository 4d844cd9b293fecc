package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// newPipelineEnv is a test environment for a first run of the test pipeline: no Job of
// it has run before.
func newPipelineEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	return newRerunEnv(t, nil)
}

// newRerunEnv is a test environment for a pipeline whose earlier runs left prior: the
// PriorJobs mock answers from it by callback_id, and "never ran" for the others.
func newRerunEnv(t *testing.T, prior map[string]activities.PriorJob) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: testPipelineID})
	env.OnActivity(a.PriorJobs, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PriorJobsInput) (activities.PriorJobsResult, error) {
			var res activities.PriorJobsResult
			for _, id := range in.CallbackIDs {
				j, ok := prior[id]
				if !ok {
					j = activities.PriorJob{CallbackID: id}
				}
				res.Jobs = append(res.Jobs, j)
			}
			return res, nil
		}).Maybe()
	return env
}

func pipelineInput() PipelineInput {
	return PipelineInput{ID: testPipelineID, Title: "Welcome", Video: map[string]any{"type": "avatar", "avatar_id": "a1"},
		Timeouts: Timeouts{Sweep: -1}} // the per-job schedule alone; sweep_test.go has the sweep
}

// signalJobAt sends an event to the pipeline's render Job after d.
func signalJobAt(t *testing.T, env *testsuite.TestWorkflowEnvironment, d time.Duration, ev heygen.Event) {
	env.RegisterDelayedCallback(func() {
		assert.NoError(t, env.SignalWorkflowByID(JobWorkflowID(testPipelineID, StepRender), SignalEvent, ev))
	}, d)
}

func queryPipeline(t *testing.T, env *testsuite.TestWorkflowEnvironment) PipelineStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st PipelineStatus
	require.NoError(t, v.Get(&st))
	return st
}

func TestPipelineRenders(t *testing.T) {
	env := newPipelineEnv(t)
	mockActivities(env, time.Second)
	var during PipelineStatus
	env.RegisterDelayedCallback(func() { during = queryPipeline(t, env) }, time.Minute)
	signalJobAt(t, env, 2*time.Minute, success(testJobID, testVideoURL))

	env.ExecuteWorkflow(Pipeline, pipelineInput())

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res PipelineResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, testPipelineID, res.ID)
	assert.Equal(t, "Welcome", res.Title)
	require.NotNil(t, res.Render)
	assert.Equal(t, testVideoURL, res.Render.VideoURL)
	assert.Equal(t, FinishedByWebhook, res.Render.FinishedBy)
	require.Len(t, res.Steps, 1)
	assert.Equal(t, StateDone, res.Steps[0].State)
	assert.Equal(t, testJobID, res.Steps[0].HeyGenJobID)

	assert.Equal(t, StepRender, during.Stage)
	require.Len(t, during.Steps, 1)
	assert.Equal(t, StateWaiting, during.Steps[0].State)
	assert.Equal(t, "welcome-42/render", during.Steps[0].CallbackID)

	after := queryPipeline(t, env)
	assert.Equal(t, StageDone, after.Stage)
	assert.Equal(t, StateDone, after.Steps[0].State)
}

func TestPipelineRenderFails(t *testing.T) {
	env := newPipelineEnv(t)
	mockActivities(env, 0)
	signalJobAt(t, env, 2*time.Minute, failure(testJobID, "avatar exploded"))

	env.ExecuteWorkflow(Pipeline, pipelineInput())

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	appErr := appError(t, err)
	assert.Equal(t, ErrTypeHeyGenJobFailed, appErr.Type())
	assert.Equal(t, "render: heygen job v_1 failed: avatar exploded", appErr.Message())
	assert.True(t, appErr.NonRetryable())

	st := queryPipeline(t, env)
	assert.Equal(t, StageFailed, st.Stage)
	require.Len(t, st.Steps, 1)
	assert.Equal(t, StateFailed, st.Steps[0].State)
	assert.Equal(t, "avatar exploded", st.Steps[0].FailureMessage)
	assert.Equal(t, testJobID, st.Steps[0].HeyGenJobID, "the row comes from the Job's final status")
}

func TestPipelineRenderDeadline(t *testing.T) {
	env := newPipelineEnv(t)
	mockActivities(env, 0)
	in := pipelineInput()
	in.Timeouts = Timeouts{PushWindow: time.Minute, Deadline: 10 * time.Minute}

	env.ExecuteWorkflow(Pipeline, in)

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeStillRendering, appErr.Type())
	var st PipelineStatus
	require.NoError(t, appErr.Details(&st))
	require.Len(t, st.Steps, 1)
	assert.Equal(t, StateFailed, st.Steps[0].State)
	assert.Equal(t, testJobID, st.Steps[0].HeyGenJobID)
	assert.Equal(t, 10*time.Minute, st.Steps[0].FinishedAt.Sub(st.Steps[0].StartedAt))
}

func TestPipelineCancelled(t *testing.T) {
	env := newPipelineEnv(t)
	mockActivities(env, 0)
	env.RegisterDelayedCallback(env.CancelWorkflow, 3*time.Minute)

	env.ExecuteWorkflow(Pipeline, pipelineInput())

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), "got %v", err)
	st := queryPipeline(t, env)
	assert.Equal(t, StageCancelled, st.Stage)
	assert.Equal(t, StateCancelled, st.Steps[0].State)
}

func TestPipelineRejectsBadID(t *testing.T) {
	env := newEnv(t)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "bad id"})
	in := pipelineInput()
	in.ID = "bad id"

	env.ExecuteWorkflow(Pipeline, in)

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeInvalidInput, appErr.Type())
	var details InvalidInput
	require.NoError(t, appErr.Details(&details))
	assert.Equal(t, InvalidInput{Field: "id", Value: "bad id"}, details)
}
