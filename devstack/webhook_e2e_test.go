package devstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// TestWebhookSigningSchemes finishes a render by webhook with the sandbox signing each
// way, through the stack's one receiver, which accepts both.
func TestWebhookSigningSchemes(t *testing.T) {
	for _, scheme := range []heygen.SigningScheme{heygen.SchemeHex, heygen.SchemeStandard} {
		t.Run(string(scheme), func(t *testing.T) {
			st := startStack(t, Config{Ephemeral: true, SigningScheme: scheme})
			in := welcome("scheme-" + string(scheme))
			// A push window far beyond the render time: only the webhook can finish it.
			in.Timeouts.PushWindow = time.Hour
			in.Timeouts.Sweep = -1 // nor a sweep, which reads the job first when its render crosses a minute
			res, err := runPipeline(t, st, in)
			require.NoError(t, err)
			require.Equal(t, workflows.FinishedByWebhook, res.Render.FinishedBy)
			require.Equal(t, workflows.StateDone, res.Render.State)
			require.GreaterOrEqual(t, st.Sandbox.Stats().DeliveriesAcked, 1)
		})
	}
}

// TestWebhookWithoutCallbackID sends, as a v3 video's webhook would, an event with no
// callback_id: the receiver finds the Job through its HeyGenJobID search attribute and
// the render finishes by that webhook. Until visibility has the attribute the answer is
// 200 no_callback_id, so the delivery is sent again, as HeyGen's retry would be.
func TestWebhookWithoutCallbackID(t *testing.T) {
	st := startStack(t, Config{Ephemeral: true, SigningScheme: heygen.SchemeStandard})
	st.Sandbox.SetDropRate(1) // the sandbox's own webhook, with a callback_id, never arrives
	in := welcome("no-callback-1")
	in.Timeouts.PushWindow = time.Hour
	in.Timeouts.Sweep = -1 // nor a sweep, which reads the job first when its render crosses a minute
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue},
		workflows.Pipeline, in)
	require.NoError(t, err)

	var videoID string
	require.Eventually(t, func() bool {
		truth := st.Sandbox.Stats().JobsByCallbackID["no-callback-1/render"]
		videoID = truth.VideoID
		return truth.Status == "completed"
	}, time.Minute, 50*time.Millisecond, "the sandbox finishes the render")

	body, err := json.Marshal(map[string]any{"event_type": heygen.EventAvatarVideoSuccess, "event_data": map[string]any{
		"video_id": videoID, "url": st.SandboxURL() + "/files/" + videoID + ".mp4"}})
	require.NoError(t, err)
	var outcomes []string
	require.Eventually(t, func() bool {
		code, status := sendSigned(t, st.ReceiverURL()+receiver.WebhookPath, st.WebhookSecret(), body)
		require.Equal(t, http.StatusOK, code)
		outcomes = append(outcomes, status)
		return status == receiver.OutcomeSignalled
	}, time.Minute, 100*time.Millisecond)
	for _, o := range outcomes[:len(outcomes)-1] {
		assert.Equal(t, receiver.OutcomeNoCallbackID, o, "before visibility has the Job")
	}

	var res workflows.PipelineResult
	require.NoError(t, run.Get(ctx, &res))
	assert.Equal(t, workflows.FinishedByWebhook, res.Render.FinishedBy)
	assert.Equal(t, videoID, res.Render.HeyGenJobID)
	assert.Zero(t, st.Sandbox.Stats().DeliveriesAcked, "no sandbox delivery got through")
}

// sendSigned posts body signed the Standard Webhooks way and returns the answer's code
// and status field.
func sendSigned(t *testing.T, url, secret string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, sandbox.Sign(req.Header, heygen.SchemeStandard, secret, rand.Text(), time.Now(), body))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out.Status
}
