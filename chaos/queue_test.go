//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/workflows"
)

// TestWorkerKilledWhileTheQueueIsLong: 30 pipelines queue for an account of 3 slots,
// served by two `reelflow worker` processes. While the queue is long, one worker is
// killed with SIGKILL (and so, in the middle of whatever it ran: a grant, a create, the
// scheduler's own workflow task), and a new one takes its place. Every pipeline
// completes, the account never sees a 429 (no slot doubled), each render is created
// once, and the queue ends empty with no slot held (no slot lost).
//
// The account is held (a reserve of 1 credit, none in the sandbox) until every Job has
// queued, then topped up: the rows ask one by one as their pipelines start, and with
// slots turning over every second or so they need not ever all wait at once.
func TestWorkerKilledWhileTheQueueIsLong(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the reelflow binary")
	}
	const limit, rows = 3, 30
	bin := buildReelflow(t)
	st := startStack(t, devstack.Config{RenderTime: time.Second})
	st.StopWorker() // only the subprocesses work
	st.Sandbox.SetConcurrencyLimit(limit)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const account = "chaos-queue"
	env := []string{"REELFLOW_HEYGEN_ACCOUNT=" + account, fmt.Sprintf("REELFLOW_HEYGEN_CONCURRENCY=%d", limit),
		"REELFLOW_HEYGEN_MIN_BALANCE=1"}
	require.NoError(t, st.Sandbox.SetCredits(0))
	first := startWorkerProcess(t, bin, st, "worker-1", env...)
	startWorkerProcess(t, bin, st, "worker-2", env...)

	var ins []workflows.PipelineInput
	for i := range rows {
		in := chaosInput(fmt.Sprintf("queue-%02d", i), workflows.Timeouts{PushWindow: 2 * time.Second,
			PollInitial: 500 * time.Millisecond, PollMax: 2 * time.Second, Deadline: 3 * time.Minute})
		in.Translate = nil
		in.Schedule.Campaign = "queue"
		ins = append(ins, in)
	}
	runs := startPipelines(ctx, t, st.Client, ins)
	queue := func() (workflows.SchedulerStatus, bool) {
		var s workflows.SchedulerStatus
		v, err := st.Client.QueryWorkflow(ctx, workflows.SchedulerWorkflowIDFor(account), "", workflows.QueryQueue)
		if err != nil || v.Get(&s) != nil {
			return s, false
		}
		return s, true
	}
	eventually(t, 2*time.Minute, "every Job queued on the held account", func() bool {
		s, ok := queue()
		return ok && s.Paused && len(s.Held) == 0 && s.Waiting == rows
	})
	require.NoError(t, st.Sandbox.SetCredits(1_000_000))
	eventually(t, time.Minute, "the account running with a long queue", func() bool {
		s, ok := queue()
		return ok && !s.Paused && len(s.Held) == limit && s.Waiting >= rows/2
	})
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_, _ = first.Process.Wait()
	startWorkerProcess(t, bin, st, "worker-3", env...)

	var results []workflows.PipelineResult
	for _, run := range runs {
		var res workflows.PipelineResult
		require.NoError(t, run.Get(ctx, &res), run.GetID())
		results = append(results, res)
	}
	stats := st.Sandbox.Stats()
	assert.Zero(t, stats.ConcurrencyLimited, "no create refused for the account's limit: no slot doubled")
	requireOnce(t, st.Sandbox, results)
	eventually(t, time.Minute, "an empty queue with no slot held", func() bool {
		s, ok := queue()
		return ok && len(s.Held) == 0 && s.Waiting == 0
	})
}
