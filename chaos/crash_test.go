package chaos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/worker"
	"github.com/reelflow/reelflow/workflows"
)

// eventually is require.Eventually polling every 50 ms, with the condition last, where
// a multi-line closure reads best, and what the test waits for in its message.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, within, 50*time.Millisecond, "timed out after %s waiting for %s", within, what)
}

func createsOf(sb *sandbox.Sandbox, cb string) int { return sb.Stats().CreatesByCallbackID[cb] }

func getPipeline(ctx context.Context, c client.Client, id string) (workflows.PipelineResult, error) {
	var res workflows.PipelineResult
	err := c.GetWorkflow(ctx, id, "").Get(ctx, &res)
	return res, err
}

// requireOnce checks that every HeyGen job of the pipelines was created exactly once,
// and that every output was downloaded once: a delivery repeated after the crash would
// download again, or find its object already there (Skipped).
func requireOnce(t *testing.T, sb *sandbox.Sandbox, results []workflows.PipelineResult) {
	t.Helper()
	st := sb.Stats()
	delivered := 0
	for _, res := range results {
		for _, row := range res.Steps {
			if row.CallbackID == "" {
				continue
			}
			assert.Equal(t, 1, st.JobsByCallbackID[row.CallbackID].Creates, "creates of %s", row.CallbackID)
			for _, d := range row.Delivered {
				delivered++
				assert.False(t, d.Skipped, "%s delivered twice", d.Key)
			}
		}
	}
	if delivered > 0 {
		assert.Equal(t, delivered, st.FileDownloads, "each output downloaded once")
	}
}

func crashInput(id, bucket string) workflows.PipelineInput {
	in := chaosInput(id, workflows.Timeouts{PushWindow: 2 * time.Second, PollInitial: 500 * time.Millisecond,
		PollMax: 2 * time.Second, Deadline: 3 * time.Minute})
	if bucket != "" {
		in.Deliver = &workflows.Deliver{To: "file://" + bucket}
	}
	return in
}

// TestWorkerStoppedMidPipeline stops the worker while a pipeline's translations render
// and its render's outputs are delivered, and lets a new worker finish it: no HeyGen job
// is created twice, and no output is delivered twice.
func TestWorkerStoppedMidPipeline(t *testing.T) {
	st := startStack(t, devstack.Config{RenderTime: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := crashInput("crash-stop", t.TempDir())
	_, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
	require.NoError(t, err)

	// Every translation, not only the last listed: they are created in parallel, and one
	// still uncreated when the worker stops would have no webhook to wait for.
	eventually(t, time.Minute, "the translations to be created", func() bool {
		for _, lang := range languages() {
			if createsOf(st.Sandbox, workflows.JobWorkflowID(in.ID, workflows.TranslateStep(lang))) != 1 {
				return false
			}
		}
		return true
	})
	st.StopWorker()
	// The translations end with no worker: their webhooks are acked and wait in Temporal.
	eventually(t, time.Minute, "the translations' webhooks to be acked", func() bool {
		truth := st.Sandbox.Stats().JobsByCallbackID
		for _, lang := range languages() {
			if truth[workflows.JobWorkflowID(in.ID, workflows.TranslateStep(lang))].WebhooksAcked == 0 {
				return false
			}
		}
		return true
	})
	require.NoError(t, st.StartWorker())

	res, err := getPipeline(ctx, st.Client, in.ID)
	require.NoError(t, err)
	for _, row := range res.Steps {
		assert.Equal(t, workflows.StateDone, row.State, row.Step)
		assert.NotEmpty(t, row.Delivered, row.Step)
	}
	requireOnce(t, st.Sandbox, []workflows.PipelineResult{res})
}

// TestDevRestartResumesEveryPipeline stops the whole dev stack (Temporal, sandbox,
// receiver, worker) with pipelines in flight, starts it again on the same directory, and
// every pipeline finishes from the SQLite state, with no job created twice.
func TestDevRestartResumesEveryPipeline(t *testing.T) {
	dir := t.TempDir()
	cfg := devstack.Config{Dir: dir, RenderTime: 2 * time.Second, SandboxAddr: freeAddr(t), ReceiverAddr: freeAddr(t),
		Worker: worker.Options{StopTimeout: 2 * time.Second}}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	first := startStack(t, cfg)
	var ids []string
	for i := range 5 {
		in := crashInput(fmt.Sprintf("restart-%d", i), "")
		_, err := first.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
		require.NoError(t, err)
		ids = append(ids, in.ID)
	}
	eventually(t, time.Minute, "every render to be created", func() bool {
		for _, id := range ids {
			if createsOf(first.Sandbox, workflows.JobWorkflowID(id, workflows.StepRender)) == 0 {
				return false
			}
		}
		return true
	})
	require.NoError(t, first.Stop(ctx))

	second := startStack(t, cfg)
	var results []workflows.PipelineResult
	for _, id := range ids {
		res, err := getPipeline(ctx, second.Client, id)
		require.NoError(t, err, id)
		for _, row := range res.Steps {
			assert.Equal(t, workflows.StateDone, row.State, "%s %s", id, row.Step)
		}
		results = append(results, res)
	}
	requireOnce(t, second.Sandbox, results)
	requireNoneOpen(ctx, t, second)
}

// TestWorkerKilledWithSIGKILL runs `reelflow worker` as a process against the stack's
// Temporal server and sandbox, kills it with SIGKILL while a pipeline's render waits for
// its webhook, and starts another one, which finishes the pipeline with no job created
// twice. It builds the binary, so -short skips it; a binary that does not build fails it,
// since a skip would pass the test without ever killing a worker.
func TestWorkerKilledWithSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the reelflow binary")
	}
	bin := buildReelflow(t)
	st := startStack(t, devstack.Config{RenderTime: 3 * time.Second})
	st.StopWorker() // only the subprocesses work
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	startWorker := func(name string) *exec.Cmd { return startWorkerProcess(t, bin, st, name) }
	first := startWorker("worker-1")

	in := crashInput("crash-kill", "")
	in.Timeouts.PushWindow = time.Minute // the webhook, not a poll, finishes the render
	_, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY}, workflows.Pipeline, in)
	require.NoError(t, err)
	renderCB := workflows.JobWorkflowID(in.ID, workflows.StepRender)
	eventually(t, time.Minute, "the render job to wait for its webhook", func() bool {
		v, err := st.Client.QueryWorkflow(ctx, renderCB, "", workflows.QueryStatus)
		var js workflows.JobStatus
		return err == nil && v.Get(&js) == nil && js.State == workflows.StateWaiting
	})
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_, _ = first.Process.Wait()
	// The render ends with no worker: its webhook is acked and waits in Temporal.
	eventually(t, time.Minute, "the render's webhook to be acked", func() bool {
		return st.Sandbox.Stats().JobsByCallbackID[renderCB].WebhooksAcked > 0
	})
	startWorker("worker-2")

	res, err := getPipeline(ctx, st.Client, in.ID)
	require.NoError(t, err)
	for _, row := range res.Steps {
		assert.Equal(t, workflows.StateDone, row.State, row.Step)
	}
	assert.Equal(t, workflows.FinishedByWebhook, res.Steps[0].FinishedBy, "the webhook acked while no worker ran was not lost")
	requireOnce(t, st.Sandbox, []workflows.PipelineResult{res})
}

// TestConcurrencyLimitAcrossWorkers: the sandbox allows 3 jobs in flight (429 past that,
// like a HeyGen plan), two workers of the account, each configured with
// --heygen-concurrency 3, run 12 pipelines, and no create is refused for the limit: the
// account's one scheduler made the extra jobs wait, across both workers.
func TestConcurrencyLimitAcrossWorkers(t *testing.T) {
	acct := activities.Account{Name: workflows.SandboxAccount, Concurrency: 3}
	st := startStack(t, devstack.Config{RenderTime: time.Second, Account: acct})
	st.Sandbox.SetFaults(sandbox.Faults{ConcurrencyLimit: 3, RetryAfter: time.Second})
	second := worker.New(st.Client, activities.New(st.HeyGen, activities.WithAccount(acct)), worker.Options{StopTimeout: 2 * time.Second})
	require.NoError(t, second.Start())
	t.Cleanup(second.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ins []workflows.PipelineInput
	for i := range 12 {
		in := chaosInput(fmt.Sprintf("limited-%02d", i), workflows.Timeouts{PushWindow: 2 * time.Second,
			PollInitial: 500 * time.Millisecond, PollMax: 2 * time.Second, Deadline: 2 * time.Minute})
		in.Translate = nil
		ins = append(ins, in)
	}
	runs := startPipelines(ctx, t, st.Client, ins)
	for _, run := range runs {
		require.NoError(t, run.Get(ctx, nil), run.GetID())
	}
	s := st.Sandbox.Stats()
	assert.Zero(t, s.ConcurrencyLimited, "no create refused for the concurrency limit")
	assert.Equal(t, 12, s.Creates)
	for cb, tr := range s.JobsByCallbackID {
		assert.Equal(t, 1, tr.Creates, cb)
	}
}

// buildReelflow builds the binary without the dev stack, for tests that run and kill
// `reelflow worker` processes. A binary that does not build fails the test.
func buildReelflow(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reelflow")
	build := exec.Command("go", "build", "-tags", "nodev", "-o", bin, "../cmd/reelflow")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build cmd/reelflow:\n%s", out)
	return bin
}

// startWorkerProcess runs `reelflow worker` against the stack's Temporal server and
// sandbox, with extra environment variables (KEY=value); the test's cleanup kills it and
// shows its output if the test failed.
func startWorkerProcess(t *testing.T, bin string, st *devstack.Stack, name string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "worker")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"TEMPORAL_ADDRESS=" + st.Temporal.Address(), "TEMPORAL_NAMESPACE=" + st.Temporal.Namespace(),
		"HEYGEN_API_KEY=sandbox", "HEYGEN_BASE_URL=" + st.SandboxURL(), "REELFLOW_METRICS_ADDR=" + freeAddr(t)}, env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start(), name)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("--- %s:\n%s", name, out.String())
		}
	})
	return cmd
}

// syncBuffer is a bytes.Buffer safe for a process's two output streams.
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
