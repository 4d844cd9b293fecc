package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// TestCLIAgainstEncryptedDev runs `reelflow dev` (encrypting, with its key under --dir)
// and then the CLI from another directory, with no payload flag and no key copied by
// hand: start, start --wait, status, cancel and webhook replay work, while Temporal holds
// ciphertext. A CLI without dev's key then says which key ID it lacks and how to give it.
// The Temporal address and HeyGen's URL come from the environment, as on a machine
// whose defaults (127.0.0.1:7233, dev.json under ./.reelflow) another test may hold.
func TestCLIAgainstEncryptedDev(t *testing.T) {
	if !devstackIncluded {
		t.Skip("built with -tags nodev")
	}
	config := t.TempDir() // the user config dir, where dev leaves its key for the CLI
	t.Setenv("XDG_CONFIG_HOME", config)
	for _, v := range []string{payloadKeysEnv, "REELFLOW_PAYLOAD_KEY_FILE", "REELFLOW_CODEC_URL", "HEYGEN_API_KEY", "HEYGEN_WEBHOOK_SECRETS"} {
		t.Setenv(v, "")
	}
	devDir, elsewhere := t.TempDir(), t.TempDir()
	t.Chdir(elsewhere)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// dev traces to its console: the embedded Temporal server, which reads the same
	// variable and cannot export to a console, must not refuse to start.
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	// Ports of 0 are bound at once, where dev can take them (not the server's or the UI's).
	temporalAddr := "127.0.0.1:" + freePort(t)
	stopDev := startDev(t, ctx, []string{"dev", "--dir", devDir, "--temporal-port", strings.TrimPrefix(temporalAddr, "127.0.0.1:"), "--ui-port", freePort(t),
		"--sandbox-addr", "127.0.0.1:0", "--addr", "127.0.0.1:0", "--codec-addr", "127.0.0.1:0",
		"--render-time", "300ms", "--drop-rate", "1"}, "reelflow dev is up")
	defer stopDev()
	keys, err := payload.LoadKeyFile(filepath.Join(devDir, "payload.keys"))
	require.NoError(t, err, "dev made its key under --dir")
	dev, ok, err := readDevState(devDir)
	require.NoError(t, err)
	require.True(t, ok)
	sandboxURL := dev.SandboxURL
	t.Setenv("TEMPORAL_ADDRESS", temporalAddr)
	t.Setenv("HEYGEN_BASE_URL", sandboxURL)
	t.Setenv("HEYGEN_API_KEY", "sandbox")

	// Every webhook is dropped: "waits" waits (push window 1 h) until a replay, "polls"
	// finishes by its poll, "cancelled" is cancelled.
	spec := func(id, push string) string {
		path := filepath.Join(elsewhere, id+".yaml")
		require.NoError(t, os.WriteFile(path, fmt.Appendf(nil, `id: %s
video: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: v1, script: "Secret script for %s"}
timeouts: {push_window: %s, poll_initial: 200ms}
`, id, id, push), 0o600))
		return path
	}
	out, err := runCLI(t, ctx, "start", spec("enc-waits", "1h"))
	require.NoError(t, err, out)
	out, err = runCLI(t, ctx, "start", spec("enc-polls", "1s"), "--wait")
	require.NoError(t, err, out)
	assert.Contains(t, out, "completed", out)
	out, err = runCLI(t, ctx, "start", spec("enc-cancelled", "1h"))
	require.NoError(t, err, out)
	out, err = runCLI(t, ctx, "cancel", "enc-cancelled")
	require.NoError(t, err, out)
	assert.Contains(t, out, "cancellation of enc-cancelled requested")

	// The render finished at HeyGen, its webhook was dropped; replay signals it.
	require.Eventually(t, func() bool {
		return sandboxStats(t, sandboxURL).JobsByCallbackID["enc-waits/render"].Status == "completed"
	}, time.Minute, 50*time.Millisecond)
	out, err = runCLI(t, ctx, "status", "enc-waits")
	require.NoError(t, err, out)
	assert.Contains(t, out, "pipeline enc-waits")
	out, err = runCLI(t, ctx, "webhook", "replay", "--since", "5m")
	require.NoError(t, err, out)
	assert.Contains(t, out, "1 signalled", out)
	require.Eventually(t, func() bool {
		out, err := runCLI(t, ctx, "status", "enc-waits")
		return err == nil && strings.Contains(out, "completed")
	}, time.Minute, 200*time.Millisecond, "the replayed event finishes the render")
	require.Eventually(t, func() bool {
		out, err = runCLI(t, ctx, "status", "enc-cancelled")
		return strings.Contains(out, "was cancelled (stage cancelled)")
	}, time.Minute, 200*time.Millisecond, "status reads the cancelled pipeline")
	require.Error(t, err)
	assert.Equal(t, "pipeline enc-cancelled was cancelled", err.Error(), "the pipeline's own state, not a payload error")

	// What the CLI wrote is ciphertext under dev's key: the pipeline's input and the
	// replay's signal, read raw.
	raw, err := client.Dial(client.Options{HostPort: temporalAddr, Logger: quietSDKLogger{}})
	require.NoError(t, err)
	defer raw.Close()
	for id, want := range map[string]enumspb.EventType{
		"enc-waits": enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		workflows.JobWorkflowID("enc-waits", workflows.StepRender): enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
	} {
		var seen bool
		it := raw.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			if ev.GetEventType() != want {
				continue
			}
			seen = true
			b, err := json.Marshal(ev)
			require.NoError(t, err)
			assert.NotContains(t, string(b), "Secret script", id)
			assert.NotContains(t, string(b), "files.example", id)
			for _, p := range append(ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads(),
				ev.GetWorkflowExecutionSignaledEventAttributes().GetInput().GetPayloads()...) {
				assert.Equal(t, payload.Encoding, string(p.GetMetadata()["encoding"]), id)
				assert.Equal(t, keys[0].ID, string(p.GetMetadata()[payload.MetadataKeyID]), id)
			}
		}
		assert.True(t, seen, "%s has a %s event", id, want)
	}

	// The Job's memo (the rerun's spec digest) goes through the same data converter.
	desc, err := raw.DescribeWorkflowExecution(ctx, workflows.JobWorkflowID("enc-waits", workflows.StepRender), "")
	require.NoError(t, err)
	memo := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()
	require.NotEmpty(t, memo)
	for k, p := range memo {
		assert.Equal(t, payload.Encoding, string(p.GetMetadata()["encoding"]), "memo %s", k)
	}

	// A CLI without dev's key: another user's config dir, or another key list.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	out, err = runCLI(t, ctx, "status", "enc-waits")
	require.Error(t, err, out)
	msg := err.Error()
	t.Logf("a CLI without the key: %s", msg)
	assert.Contains(t, msg, fmt.Sprintf("key ID %q, which is not configured here (configured: none)", keys[0].ID))
	assert.Contains(t, msg, "$REELFLOW_PAYLOAD_KEYS=")
	assert.Contains(t, msg, "--payload-key-file")
	assert.Contains(t, msg, "--codec-url")
	assert.NotContains(t, msg, "running worker", "the worker is there; the key is not")
	other, err := payload.GenerateKey("other")
	require.NoError(t, err)
	t.Setenv(payloadKeysEnv, other.String())
	out, err = runCLI(t, ctx, "status", "enc-waits")
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), fmt.Sprintf("key ID %q, which is not configured here (configured: other)", keys[0].ID))
}

// sandboxStats reads the sandbox's ground-truth counters.
func sandboxStats(t *testing.T, url string) sandbox.Stats {
	t.Helper()
	var st sandbox.Stats
	resp, err := http.Get(url + "/_sandbox/stats")
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st
}

type quietSDKLogger struct{}

func (quietSDKLogger) Debug(string, ...any) {}
func (quietSDKLogger) Info(string, ...any)  {}
func (quietSDKLogger) Warn(string, ...any)  {}
func (quietSDKLogger) Error(string, ...any) {}
