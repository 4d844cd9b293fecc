package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// TestPipelineStuckRenderStartsNothingElse: a render that never ends fails the pipeline
// at its deadline, with an error naming the HeyGen job and how long it waited, and no
// translation or delivery is started for it.
func TestPipelineStuckRenderStartsNothingElse(t *testing.T) {
	env := newPipelineEnv(t)
	// The test environment runs activities on goroutines of their own.
	var (
		mu    sync.Mutex
		kinds []string
	)
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
			mu.Lock()
			defer mu.Unlock()
			kinds = append(kinds, in.Kind)
			return activities.CreateJobResult{HeyGenJobID: testJobID, Status: heygen.StatusPending}, nil
		})
	env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(activities.PollJobResult{Status: heygen.StatusProcessing}, nil)
	env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.DeliverInput) (activities.DeliverResult, error) {
			t.Error("a delivery started for a stuck render")
			return activities.DeliverResult{}, nil
		})
	env.OnActivity(a.Notify, mock.Anything, mock.Anything).Return(activities.NotifyResult{StatusCode: 200}, nil)

	env.ExecuteWorkflow(Pipeline, multiInput())

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeStillRendering, appErr.Type())
	mu.Lock()
	assert.Equal(t, []string{string(KindVideo)}, kinds, "no translation created")
	mu.Unlock()
	st := queryPipeline(t, env)
	for _, row := range st.Steps[1 : len(st.Steps)-1] {
		assert.Equal(t, StateCancelled, row.State, row.Step)
		assert.Equal(t, "not started", row.FailureMessage, row.Step)
	}
}

// TestPipelineStuckTranslationIsNotDelivered: a translation that never ends fails its
// row at the deadline, with the HeyGen job ID, and its delivery is never started; the
// other languages are delivered.
func TestPipelineStuckTranslationIsNotDelivered(t *testing.T) {
	env := newPipelineEnv(t)
	f := &fakeSteps{stuck: map[string]bool{"t_french": true}, fail: map[string]bool{}}
	f.register(env)
	in := multiInput()
	in.Translate.Languages = []string{"Spanish (Spain)", "French"}

	env.ExecuteWorkflow(Pipeline, in)

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a failed translation alone does not fail the pipeline")
	var res PipelineResult
	require.NoError(t, env.GetWorkflowResult(&res))
	fr := stepRow(t, res.Steps, "translate/french")
	assert.Equal(t, StateFailed, fr.State)
	assert.Equal(t, ErrTypeStillRendering, fr.FailureType)
	assert.Equal(t, "t_french", fr.HeyGenJobID)
	assert.Empty(t, fr.Delivered)
	for _, key := range f.deliverKeys() {
		assert.False(t, strings.Contains(key, "/translate/french/"), "delivery started for the stuck translation: %s", key)
	}
	assert.NotEmpty(t, stepRow(t, res.Steps, "translate/spanish-spain").Delivered)
}
