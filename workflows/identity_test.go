package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"

	"github.com/reelflow/reelflow/activities"
)

// TestIdempotencyKeyMatchesHeyGenPattern checks every key against HeyGen's published
// pattern, ^[A-Za-z0-9_\-:.]{1,255}$, from the shortest to the longest IDs reelflow makes.
func TestIdempotencyKeyMatchesHeyGenPattern(t *testing.T) {
	const run = "5c9b1f0e-3d2a-4b7c-9e1f-0a2b3c4d5e6f"
	long := strings.Repeat("p", 128)
	tests := []struct {
		name string
		id   JobIdentity
		want string // "" when only the pattern is checked
	}{
		{name: "render", id: JobIdentity{CallbackID: "welcome-42/render", Run: run}, want: "welcome-42:render." + run},
		{name: "translation", id: JobIdentity{CallbackID: JobWorkflowID("welcome-42", TranslateStep("Spanish (Spain)")), Run: run}},
		{name: "longest ids", id: JobIdentity{CallbackID: long + "/translate/" + strings.Repeat("l", 64), Run: run}},
		{name: "over 255", id: JobIdentity{CallbackID: long + "/" + long, Run: run}},
		{name: "not in the pattern", id: JobIdentity{CallbackID: "a b@c", Run: run}},
		{name: "no run", id: JobIdentity{CallbackID: "x/render"}, want: "x:render."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.id.IdempotencyKey()
			assert.Regexp(t, `^[A-Za-z0-9_\-:.]{1,255}$`, key)
			if tt.want != "" {
				assert.Equal(t, tt.want, key)
			}
			other := JobIdentity{CallbackID: tt.id.CallbackID, Run: tt.id.Run + "x"}
			assert.NotEqual(t, key, other.IdempotencyKey(), "a new run gets a new key")
		})
	}
}

// TestJobCreateUsesIdentity checks the create's key and the permit holder: from the
// carried run identity when one is given, else from the run's original run ID.
func TestJobCreateUsesIdentity(t *testing.T) {
	for _, carried := range []string{"", "pipeline-run-1"} {
		t.Run("carried="+carried, func(t *testing.T) {
			env := newEnv(t)
			var got activities.CreateJobInput
			env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
					got = in
					return activities.CreateJobResult{HeyGenJobID: testJobID}, nil
				})
			signalAt(env, 0, success(testJobID, testVideoURL))
			env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(processing().res, nil)
			in := jobInput(Timeouts{})
			in.RunIdentity = carried
			env.ExecuteWorkflow(Job, in)
			jobResult(t, env)
			run := carried
			if run == "" {
				run = "default-test-run-id" // the test environment's RunID; it sets no OriginalRunID
			}
			assert.Equal(t, "welcome-42:render."+run, got.IdempotencyKey)
			assert.Regexp(t, `^[A-Za-z0-9_\-:.]{1,255}$`, got.IdempotencyKey)
		})
	}
}
