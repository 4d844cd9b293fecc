package pipelines_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/pipelines"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/spec"
	"github.com/reelflow/reelflow/workflows"
)

// input is a spec with a render and two translations, the second of which the sandbox
// fails (sandbox.MagicLanguageFail), so that the pipeline completes with a failed step.
func input(t *testing.T, id, script string) workflows.PipelineInput {
	t.Helper()
	in, err := spec.Parse(id+".yaml", fmt.Appendf(nil, `id: %s
video: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54, script: %q}
translate: {languages: [French, %s]}
timeouts: {push_window: 1m, deadline: 10m}
`, id, script, sandbox.MagicLanguageFail))
	require.NoError(t, err)
	return in
}

// TestStartLookResume runs the start-or-resume decision against an in-process dev
// stack: a new pipeline is started, a running one followed and never started twice, one
// that completed with a failed step resumed with its completed steps reused, and a
// changed completed step refused before anything starts.
func TestStartLookResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Config{
		Ephemeral: true, TemporalPort: -1, UIPort: -1,
		SandboxAddr: "127.0.0.1:0", ReceiverAddr: "127.0.0.1:0", RenderTime: time.Second,
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Stop(context.Background())) }()
	c := st.Client
	in := input(t, "pl-1", "Hello there.")

	latest, err := pipelines.Look(ctx, c, in)
	require.NoError(t, err)
	assert.Equal(t, pipelines.NextStart, latest.Next)
	run, started, err := pipelines.Start(ctx, c, in)
	require.NoError(t, err)
	require.True(t, started)

	latest, err = pipelines.Look(ctx, c, in)
	require.NoError(t, err)
	assert.Equal(t, pipelines.NextFollow, latest.Next, "a running pipeline is followed")
	again, started, err := pipelines.Start(ctx, c, in)
	require.NoError(t, err)
	assert.False(t, started, "never started twice")
	assert.Equal(t, run.GetID(), again.GetID())

	var res workflows.PipelineResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, []string{"translate/klingon failed"}, pipelines.Unfinished(res.Steps))
	status, err := pipelines.Status(ctx, c, in.ID, "")
	require.NoError(t, err)
	assert.Len(t, pipelines.Live(ctx, c, status).Steps, 3)

	latest, err = pipelines.Look(ctx, c, in)
	require.NoError(t, err)
	assert.Equal(t, pipelines.NextResume, latest.Next)
	assert.Equal(t, []string{"translate/klingon failed"}, latest.Unfinished)
	assert.Equal(t, "completed with 1 unfinished step: translate/klingon failed", latest.Ended())
	reuse := map[string]bool{}
	for _, p := range latest.Plans {
		reuse[p.Step] = p.Reuse
	}
	assert.Equal(t, map[string]bool{workflows.StepRender: true, "translate/french": true, "translate/klingon": false}, reuse)

	_, err = pipelines.Look(ctx, c, input(t, "pl-1", "Something else."))
	var changed *workflows.StepChangedError
	require.ErrorAs(t, err, &changed, "a changed completed render is refused")
	assert.Equal(t, []string{workflows.StepRender, "translate/french"}, changed.Steps, "the translation's source changed with it")

	rerun, started, err := pipelines.Resume(ctx, c, in, latest)
	require.NoError(t, err)
	require.True(t, started)
	require.NoError(t, rerun.Get(ctx, &res))
	assert.NotEqual(t, run.GetRunID(), rerun.GetRunID())
	for _, s := range res.Steps {
		assert.Equal(t, s.Step != "translate/klingon", s.Reused, s.Step)
	}

	// A pipeline whose only unfinished step is an undelivered output is resumed too: the
	// same steps that make the exit code 3 make start run it again.
	undelivered := input(t, "pl-2", "Hi.")
	undelivered.Translate = nil
	undelivered.Deliver = &workflows.Deliver{To: "nosuchscheme://bucket"}
	run, started, err = pipelines.Start(ctx, c, undelivered)
	require.NoError(t, err)
	require.True(t, started)
	require.NoError(t, run.Get(ctx, &res))
	require.Equal(t, []string{"render not delivered"}, pipelines.Unfinished(res.Steps))
	latest, err = pipelines.Look(ctx, c, undelivered)
	require.NoError(t, err)
	assert.Equal(t, pipelines.NextResume, latest.Next, "an undelivered output is resumed, not followed")
	assert.Equal(t, "completed with 1 unfinished step: render not delivered", latest.Ended())

	require.ErrorIs(t, pipelines.Cancel(ctx, c, "pl-none"), pipelines.ErrNotRunning)
}

func TestTemporalError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unavailable", serviceerror.NewUnavailable("x"), "start: Temporal did not answer; is the server up (reelflow dev, or $TEMPORAL_ADDRESS)? Try again once it is"},
		{"deadline", context.DeadlineExceeded, "start: Temporal did not answer; is the server up (reelflow dev, or $TEMPORAL_ADDRESS)? Try again once it is"},
		{"denied", serviceerror.NewPermissionDenied("x", ""), "start: Temporal refused the call; check $TEMPORAL_API_KEY and the namespace's permissions"},
		{"no namespace", serviceerror.NewNamespaceNotFound("ns"), "start: the namespace does not exist; check $TEMPORAL_NAMESPACE"},
		{"exhausted", &serviceerror.ResourceExhausted{Message: "x"}, "start: Temporal is overloaded (rate limited); try again in a minute"},
		{"interrupted", fmt.Errorf("wrapped: %w", context.Canceled), "start: interrupted"},
		{"other", errors.New("boom"), "start: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.EqualError(t, pipelines.TemporalError("start", tt.err), tt.want)
		})
	}
}

func TestFailureReason(t *testing.T) {
	app := temporal.NewApplicationError("render: heygen job v1 failed", workflows.ErrTypeHeyGenJobFailed,
		temporal.NewApplicationError("inner", "Inner"))
	assert.Equal(t, "render: heygen job v1 failed", pipelines.FailureReason(fmt.Errorf("workflow execution error: %w", app)), "the outermost application error")
	assert.Equal(t, "cancelled", pipelines.FailureReason(temporal.NewCanceledError()))
	assert.Equal(t, "boom", pipelines.FailureReason(errors.New("boom")))
}

func TestEnded(t *testing.T) {
	assert.Equal(t, "was cancelled", pipelines.Latest{Status: enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED}.Ended())
	assert.Equal(t, "completed with 2 unfinished steps: translate/klingon failed, render not delivered",
		pipelines.Latest{Status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, Unfinished: []string{"translate/klingon failed", "render not delivered"}}.Ended())
}
