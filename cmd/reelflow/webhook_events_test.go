package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"90m", now.Add(-90 * time.Minute), false},
		{" 2h ", now.Add(-2 * time.Hour), false},
		{"2026-11-30T08:00:00Z", time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"2026-11-30", time.Time{}, true},
	}
	for _, tc := range tests {
		got, err := parseSince(tc.in, now)
		assert.Equal(t, tc.wantErr, err != nil, "%q: %v", tc.in, err)
		assert.True(t, tc.want.Equal(got), "%q: got %v", tc.in, got)
	}
}

// TestWebhookEventsAndReplay heals a webhook outage from HeyGen's event history on the
// dev stack: every delivery is dropped, so the Job (with a push window of an hour) waits;
// `webhook events` lists the event that HeyGen sent, and `webhook replay` signals it
// through the receiver's routing, so the render finishes by webhook. A second replay
// changes nothing.
func TestWebhookEventsAndReplay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, addr := startStack(t, ctx, devstack.Config{Ephemeral: true, DropRate: 1, RenderTime: 300 * time.Millisecond})
	hg := []string{"--heygen-api-key", "sandbox", "--heygen-base-url", st.SandboxURL()}

	in := workflows.PipelineInput{ID: "replay-1", Video: map[string]any{
		"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "voice_id": "v1", "script": "Replayed."}}
	in.Timeouts.PushWindow = time.Hour
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return st.Sandbox.Stats().JobsByCallbackID["replay-1/render"].Status == "completed"
	}, time.Minute, 50*time.Millisecond, "the sandbox finishes the render")
	require.Zero(t, st.Sandbox.Stats().DeliveriesAcked, "every delivery was dropped")

	out, err := runCLI(t, ctx, append([]string{"webhook", "events", "--since", "5m"}, hg...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, heygen.EventAvatarVideoSuccess)
	assert.Contains(t, out, "replay-1/render")
	assert.Contains(t, out, "1 event\n")
	out, err = runCLI(t, ctx, append([]string{"webhook", "events", "--type", heygen.EventAvatarVideoFail}, hg...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "0 events")
	out, err = runCLI(t, ctx, append([]string{"webhook", "events", "--since", "soon"}, hg...)...)
	assert.Equal(t, 2, exitCode(err), out)

	out, err = runCLI(t, ctx, append([]string{"webhook", "replay", addr}, hg...)...)
	require.Equal(t, 2, exitCode(err), out)
	require.Contains(t, err.Error(), "--since is required")

	out, err = runCLI(t, ctx, append([]string{"webhook", "replay", "--since", "5m", addr}, hg...)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "replayed 1 event: 1 signalled")
	var res workflows.PipelineResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, workflows.FinishedByWebhook, res.Render.FinishedBy)

	// Again: the Job has closed; the repeat is dropped by request ID or answered late.
	out, err = runCLI(t, ctx, append([]string{"webhook", "replay", "--since", "5m", addr}, hg...)...)
	require.NoError(t, err, out)
	assert.Regexp(t, `replayed 1 event: 1 (signalled|late)`, out)
	assert.Equal(t, 1, st.Sandbox.Stats().CreatesByCallbackID["replay-1/render"], "one render")
}
