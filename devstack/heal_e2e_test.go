package devstack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	_, err = runPipeline(t, st, perm)
	require.Error(t, err)
	assert.Equal(t, 1, st.Sandbox.Stats().CreatesByCallbackID[workflows.JobWorkflowID(perm.ID, workflows.StepRender)],
		"a permanent failure is never rendered again")
}
