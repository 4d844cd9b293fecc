package devstack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/workflows"
)

// startStack runs a whole dev stack on free ports with a fast sandbox.
func startStack(t *testing.T, cfg Config) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.TemporalPort = -1
	cfg.UIPort = -1
	cfg.SandboxAddr = "127.0.0.1:0"
	cfg.ReceiverAddr = "127.0.0.1:0"
	if cfg.RenderTime == 0 {
		cfg.RenderTime = 300 * time.Millisecond
	}
	st, err := Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, st.Stop(ctx))
	})
	return st
}

func welcome(id string) workflows.PipelineInput {
	return workflows.PipelineInput{
		ID:    id,
		Title: "Welcome",
		Video: map[string]any{
			"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
			"script": "Welcome to reelflow.",
		},
	}
}

func runPipeline(t *testing.T, st *Stack, in workflows.PipelineInput) (workflows.PipelineResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: in.ID, TaskQueue: workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
	}, workflows.Pipeline, in)
	require.NoError(t, err)
	var res workflows.PipelineResult
	err = run.Get(ctx, &res)
	return res, err
}

// TestEndToEnd runs pipelines through the real stack: an embedded Temporal server with
// SQLite, the sandbox over HTTP, signed webhooks through the receiver, and the worker.
func TestEndToEnd(t *testing.T) {
	st := startStack(t, Config{})

	t.Run("webhook finishes the job", func(t *testing.T) {
		in := welcome("e2e-webhook")
		// A push window far beyond the render time: only the webhook can finish it.
		in.Timeouts.PushWindow = time.Hour
		in.Timeouts.Sweep = -1 // nor a sweep, which reads the job first when its render crosses a minute
		res, err := runPipeline(t, st, in)
		require.NoError(t, err)
		require.NotNil(t, res.Render)
		require.Equal(t, workflows.FinishedByWebhook, res.Render.FinishedBy)
		require.Equal(t, workflows.StateDone, res.Render.State)
		// One status call fetches what the webhook lacks (duration, thumbnail).
		require.LessOrEqual(t, res.Render.Polls, 1)
		require.NotEmpty(t, res.Render.HeyGenJobID)
		require.Positive(t, res.Render.Duration)

		stats := st.Sandbox.Stats()
		require.Equal(t, 1, stats.CreatesByCallbackID["e2e-webhook/render"], "exactly one create per callback_id")
		require.LessOrEqual(t, stats.StatusCalls+stats.BulkStatusCalls, 1)
		require.GreaterOrEqual(t, stats.DeliveriesAcked, 1)

		// The video URL serves the sandbox's bytes.
		resp, err := http.Get(res.Render.VideoURL)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.True(t, bytes.Equal(st.Sandbox.FileBytes(res.Render.HeyGenJobID), body))
	})

	t.Run("polling finishes the job when every webhook is lost", func(t *testing.T) {
		st.Sandbox.SetDropRate(1)
		defer st.Sandbox.SetDropRate(0)
		before := st.Sandbox.Stats().DeliveriesDropped
		in := welcome("e2e-poll")
		in.Timeouts = workflows.Timeouts{PushWindow: time.Second, PollInitial: 200 * time.Millisecond, PollMax: time.Second, Deadline: time.Minute}
		res, err := runPipeline(t, st, in)
		require.NoError(t, err)
		require.Equal(t, workflows.FinishedByPoll, res.Render.FinishedBy)
		require.Equal(t, workflows.StateDone, res.Render.State)
		require.NotEmpty(t, res.Render.VideoURL)
		stats := st.Sandbox.Stats()
		require.Equal(t, 1, stats.CreatesByCallbackID["e2e-poll/render"])
		require.Greater(t, stats.DeliveriesDropped, before)
	})

	t.Run("a failed render fails the pipeline with HeyGen's message", func(t *testing.T) {
		in := welcome("e2e-fail")
		in.Video["avatar_id"] = "sandbox-fail"
		_, err := runPipeline(t, st, in)
		require.Error(t, err)
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(err, &appErr), "got %v", err)
		require.Contains(t, appErr.Message(), `avatar "sandbox-fail" is unavailable`)
		require.Equal(t, 1, st.Sandbox.Stats().CreatesByCallbackID["e2e-fail/render"])
	})
}
