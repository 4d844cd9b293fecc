package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/workflows"
)

// syncBuffer is a bytes.Buffer that a running command and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCLI(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out syncBuffer
	err := run(ctx, args, &out, &out)
	return out.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 1
	}
	return 0
}

// isolateKeys gives the test its own user config directory, where `reelflow dev` leaves
// its payload keys by Temporal address: a key left by an earlier dev on a port the test's
// server now has would make the CLI encrypt for a stack that runs in plaintext.
func isolateKeys(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
}

// startStack starts an in-process dev stack for a test, with cfg's settings over these:
// its Temporal, sandbox and receiver on free ports, no UI, state in a temporary
// directory. It is stopped when the test ends. addr is the --address flag of its
// Temporal.
func startStack(t *testing.T, ctx context.Context, cfg devstack.Config) (st *devstack.Stack, addr string) {
	t.Helper()
	isolateKeys(t)
	if cfg.Dir == "" && !cfg.Ephemeral {
		cfg.Dir = t.TempDir()
	}
	cfg.TemporalPort, cfg.UIPort = -1, -1
	cfg.SandboxAddr, cfg.ReceiverAddr = "127.0.0.1:0", "127.0.0.1:0"
	st, err := devstack.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Stop(context.Background())) })
	return st, "--address=" + st.Temporal.Address()
}

// TestStartWaitStatus runs the README's path against an in-process dev stack: start
// the welcome example, wait for it, then read its step table.
func TestStartWaitStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, addr := startStack(t, ctx, devstack.Config{RenderTime: 300 * time.Millisecond})
	// The example as it is, but delivering into a temporary directory, not ./out here.
	delivered := t.TempDir()
	example := exampleSpec(t, t.TempDir(), "welcome", delivered)

	out, err := runCLI(t, ctx, "start", example, "--wait", addr)
	require.NoError(t, err, out)
	require.Contains(t, out, "started pipeline welcome-42")
	require.Contains(t, out, "pipeline welcome-42 completed")
	require.Contains(t, out, "webhook")
	// OUTPUT is the delivered object, not HeyGen's expiring link.
	require.Contains(t, out, "file://"+delivered+"/welcome-42/render/video.mp4")
	require.NotContains(t, out, "/files/")
	require.FileExists(t, filepath.Join(delivered, "welcome-42", "render", "video.mp4"))

	out, err = runCLI(t, ctx, "status", "welcome-42", addr)
	require.NoError(t, err, out)
	require.Contains(t, out, "pipeline welcome-42")
	require.Contains(t, out, "completed")
	require.Regexp(t, `render\s+done`, out)

	// The webhook commands against the sandbox and the receiver.
	out, err = runCLI(t, ctx, "webhook", "list", "--heygen-api-key", "sandbox", "--heygen-base-url", st.SandboxURL())
	require.NoError(t, err, out)
	require.Contains(t, out, st.ReceiverURL()+"/webhooks/heygen")
	out, err = runCLI(t, ctx, "webhook", "send", "--to", st.ReceiverURL()+"/webhooks/heygen", "--secret", st.WebhookSecret(),
		"--callback-id", "welcome-42/render", "--video-id", "v_late", "--url", "https://example.com/v.mp4")
	require.NoError(t, err, out)
	require.Contains(t, out, "200")
	require.Contains(t, out, `"late"`, "the job has finished: a new event for it is late")
	out, err = runCLI(t, ctx, "webhook", "send", "--to", st.ReceiverURL()+"/webhooks/heygen", "--secret", "whsec_wrong",
		"--callback-id", "welcome-42/render", "--video-id", "v_late")
	require.Equal(t, 1, exitCode(err), out)
	require.Contains(t, out, "401")

	// Started again, it is not started twice; --wait follows the finished run.
	out, err = runCLI(t, ctx, "start", example, "--wait", addr)
	require.NoError(t, err, out)
	require.Contains(t, out, "already started")
	require.Equal(t, 1, st.Sandbox.Stats().CreatesByCallbackID["welcome-42/render"])

	// A failing render exits 1 with HeyGen's message.
	spec := filepath.Join(t.TempDir(), "fail.yaml")
	require.NoError(t, os.WriteFile(spec, []byte("id: fails-1\nvideo:\n  type: avatar\n  avatar_id: sandbox-fail\n  voice_id: v\n  script: hi\n"), 0o644))
	out, err = runCLI(t, ctx, "start", spec, "--wait", addr)
	require.Equal(t, 1, exitCode(err), out)
	require.Contains(t, err.Error(), `avatar "sandbox-fail" is unavailable`)

	out, err = runCLI(t, ctx, "status", "no-such-pipeline", addr)
	require.Error(t, err, out)
	require.Contains(t, err.Error(), "no pipeline")
}

// TestBatchTwice starts the 20-row campaign twice: the second run starts nothing, and
// there are exactly 20 pipelines, all completed.
func TestBatchTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, addr := startStack(t, ctx, devstack.Config{RenderTime: 200 * time.Millisecond})

	campaign := exampleSpec(t, t.TempDir(), "campaign", t.TempDir())
	rows := filepath.Join("..", "..", "examples", "contacts.csv")

	text, err := runCLI(t, ctx, "start", campaign, "--rows", rows, "--key", "email", "--wait", addr)
	require.NoError(t, err, text)
	require.Contains(t, text, "20 pipelines: 20 started now, 0 already started before")
	require.Contains(t, text, "all 20 pipelines completed")
	require.Contains(t, text, "20/20 done, 0 running", "--wait follows the campaign")

	// The campaign's summary, through its workflow's status query.
	text, err = runCLI(t, ctx, "status", "campaign-q3", addr)
	require.NoError(t, err, text)
	require.Contains(t, text, "campaign campaign-q3: 20 pipelines, 20 done, 0 running, 0 failed")

	text, err = runCLI(t, ctx, "start", campaign, "--rows", rows, "--key", "email", addr)
	require.NoError(t, err, text)
	require.Contains(t, text, "20 pipelines: 0 started now, 20 already started before")

	require.Eventually(t, func() bool {
		n, err := st.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Completed'", workflows.WorkflowTypePipeline),
		})
		return err == nil && n.GetCount() == 20
	}, 30*time.Second, 100*time.Millisecond)
	total, err := st.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowTypePipeline)})
	require.NoError(t, err)
	require.EqualValues(t, 20, total.GetCount())
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("id: ok\nvideo:\n  type: avatar\ntimeouts:\n  deadline: soon\n"), 0o644))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		msg  string
	}{
		{"invalid spec exits 2 before connecting", []string{"start", bad}, nil, 2, "bad.yaml:5: timeouts.deadline"},
		{"missing file", []string{"start", "nope.yaml"}, nil, 2, "read spec"},
		{"missing rows file", []string{"start", bad, "--rows", "nope.csv"}, nil, 2, "nope.csv"},
		{"no args", []string{"status"}, nil, 2, "accepts 1 arg"},
		{"no spec", []string{"start"}, nil, 2, "accepts 1 arg"},
		{"unknown flag", []string{"start", bad, "--bogus"}, nil, 2, "unknown flag: --bogus"},
		{"unknown command", []string{"strat", bad}, nil, 2, `unknown command "strat"`},
		{"list: unknown state", []string{"list", "--state", "sleeping"}, nil, 2, `--state "sleeping"`},
		{"list: prefix with a quote", []string{"list", "--prefix", "a' OR 'b"}, nil, 2, "--prefix"},
		{"webhook list without a key or a dev stack", []string{"webhook", "list", "--dir", t.TempDir()},
			map[string]string{"HEYGEN_API_KEY": ""}, 2, "HEYGEN_API_KEY is not set, and no reelflow dev"},
		{"webhook send without a secret or a dev stack", []string{"webhook", "send", "--dir", t.TempDir()},
			map[string]string{"HEYGEN_WEBHOOK_SECRETS": ""}, 2, "no secret"},
		{"bad env value", []string{"dev"}, map[string]string{"REELFLOW_SANDBOX_DROP_RATE": "lots"}, 2, "REELFLOW_SANDBOX_DROP_RATE"},
		{"drop rate out of range", []string{"dev", "--drop-rate", "2"}, nil, 2, "--drop-rate"},
		{"sandbox credits below -1", []string{"sandbox", "--credits", "-5"}, nil, 2, "--credits -5"},
		{"sandbox concurrency negative", []string{"dev", "--sandbox-concurrency-limit", "-1"}, nil, 2, "--sandbox-concurrency-limit -1"},
		{"sandbox credits not a number", []string{"dev"}, map[string]string{"REELFLOW_SANDBOX_CREDITS": "lots"}, 2, "REELFLOW_SANDBOX_CREDITS"},
		{"sandbox billing unknown", []string{"sandbox", "--addr", "127.0.0.1:0", "--billing", "barter"}, nil, 1, `billing "barter"`},
		{"public receiver URL without a HeyGen key", []string{"dev", "--public-receiver-url", "https://t.example/webhooks/heygen"},
			map[string]string{"HEYGEN_API_KEY": ""}, 2, "needs HEYGEN_API_KEY"},
		{"public receiver URL not absolute", []string{"dev", "--heygen-api-key", "k", "--public-receiver-url", "t.example/webhooks"},
			nil, 2, "want an absolute http(s) URL"},
		// Cleared, so that a developer's own variables cannot start a real receiver or worker.
		{"receiver without secrets", []string{"receiver", "--address", "127.0.0.1:1"}, map[string]string{"HEYGEN_WEBHOOK_SECRETS": ""}, 2, "HEYGEN_WEBHOOK_SECRETS"},
		{"worker without key", []string{"worker"}, map[string]string{"HEYGEN_API_KEY": ""}, 2, "HEYGEN_API_KEY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, err := runCLI(t, ctx, tc.args...)
			require.Equal(t, tc.code, exitCode(err), "%v\n%s", err, out)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestDev runs `reelflow dev` as a newcomer does: from its own directory, with no flags
// but free ports, and the README's next commands beside it with none at all. It checks
// the banner, the state under .reelflow, the welcome example delivered to ./out (relative
// to dev's working directory), the webhook commands finding dev's sandbox and secret,
// and a log without colour codes, since it does not go to a terminal.
func TestDev(t *testing.T) {
	isolateKeys(t)
	if !devstackIncluded {
		t.Skip("built with -tags nodev")
	}
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "welcome.yaml"))
	require.NoError(t, err)
	work := t.TempDir()
	t.Chdir(work)
	t.Setenv("HEYGEN_API_KEY", "")
	t.Setenv("HEYGEN_WEBHOOK_SECRETS", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	devCtx, stopDev := context.WithCancel(ctx)
	defer stopDev()
	temporalPort, receiverAddr := freePort(t), "127.0.0.1:"+freePort(t)
	var devOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(devCtx, []string{"dev", "--temporal-port", temporalPort, "--ui-port", freePort(t),
			"--sandbox-addr", "127.0.0.1:" + freePort(t), "--addr", receiverAddr, "--render-time", "300ms"}, &devOut, &devOut)
	}()
	for up := time.After(time.Minute); !strings.Contains(devOut.String(), "reelflow dev is up"); {
		select {
		case err := <-done:
			t.Fatalf("dev ended before it was up: %v\n%s", err, devOut.String())
		case <-up:
			t.Fatalf("dev not up within a minute:\n%s", devOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, want := range []string{"Temporal UI  http://127.0.0.1:", "HeyGen       http://127.0.0.1:", "Receiver     http://127.0.0.1:", "/webhooks/heygen", "temporal.db"} {
		require.Contains(t, devOut.String(), want)
	}
	for _, f := range []string{"temporal.db", "webhook.json", "dev.json"} {
		require.FileExists(t, filepath.Join(work, ".reelflow", f))
	}

	out, err := runCLI(t, ctx, "start", example, "--wait", "--address", "127.0.0.1:"+temporalPort)
	require.NoError(t, err, out)
	require.Contains(t, out, "file://./out/welcome-42/render/video.mp4", "OUTPUT names the delivered file")
	require.FileExists(t, filepath.Join(work, "out", "welcome-42", "render", "video.mp4"), "./out is relative to dev's directory")
	require.FileExists(t, filepath.Join(work, "out", "welcome-42", "render", "video.mp4.attrs"), "the README explains these")

	out, err = runCLI(t, ctx, "webhook", "list")
	require.NoError(t, err, out)
	require.Contains(t, out, "using the HeyGen sandbox of reelflow dev")
	require.Contains(t, out, "http://"+receiverAddr+"/webhooks/heygen")
	out, err = runCLI(t, ctx, "webhook", "send", "--callback-id", "welcome-42/render", "--video-id", "v_late", "--url", "https://example.com/v.mp4")
	require.NoError(t, err, out)
	require.Contains(t, out, "signing with the secret of reelflow dev")
	require.Contains(t, out, `200 {"status":"late"`, "dev's receiver verified the delivery; the job has finished")

	stopDev()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop after the interrupt")
	}
	require.Contains(t, devOut.String(), "INFO", "dev logs")
	require.NotContains(t, devOut.String(), "\x1b[", "no colour codes in a log that is not a terminal")
}
