//go:build cluster

package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// benchScale is benchmark (b): n Jobs wait for their webhook at once (the sandbox
// drops every delivery, and the push window is an hour), then the harness delivers
// each Job's success event through the balancer, signed as HeyGen signs it. It reports
// each worker's and the server's peak RSS (VmHWM, reset before the run) and the time
// from the last event acked to the last Job closed.
func (c *cluster) benchScale(t *testing.T, n, conc int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c.setFaults(sandbox.Faults{DropRate: 1})
	pids := map[string]int{"worker1": c.pid("worker1"), "worker2": c.pid("worker2"), "temporal": c.pid("temporal")}
	idle := map[string]float64{} // the baseline: each process's RSS before the Jobs
	for name, pid := range pids {
		v, err := procMB(pid, "VmRSS:")
		require.NoError(t, err)
		idle[name] = v
	}
	for name, pid := range pids {
		require.NoError(t, os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0), "reset VmHWM of %s", name)
	}
	began := time.Now()
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = workflows.JobWorkflowID(fmt.Sprintf("scale-%05d", i), workflows.StepRender)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = c.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: workflows.TaskQueue}, workflows.Job,
				workflows.JobInput{PipelineID: fmt.Sprintf("scale-%05d", i), Step: workflows.StepRender, Kind: workflows.KindVideo,
					Body: pipelineInput("x").Video, Timeouts: workflows.Timeouts{PushWindow: time.Hour}})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	started := time.Since(began)
	q := fmt.Sprintf("WorkflowType = 'Job' AND ExecutionStatus = 'Running' AND %s = '%s'", workflows.SearchAttrStage, workflows.StateWaiting)
	require.NoError(t, until(ctx, time.Second, func() bool { k, err := c.count(ctx, q); return err == nil && k == int64(n) }), "all waiting")
	waiting := time.Since(began)
	var st sandbox.Stats
	require.NoError(t, until(ctx, time.Second, func() bool {
		var err error
		st, err = c.stats()
		return err == nil && rendered(st, ids)
	}), "every render ends at the sandbox")
	last := c.deliverAll(ctx, t, st, ids, 32)
	open := "WorkflowType = 'Job' AND ExecutionStatus = 'Running'"
	require.NoError(t, until(ctx, 200*time.Millisecond, func() bool { k, err := c.count(ctx, open); return err == nil && k == 0 }), "all closed")
	closedAfter := time.Since(last)
	mem := map[string]float64{}
	for name, pid := range pids {
		v, err := peakMB(pid)
		require.NoError(t, err)
		mem[name] = v
	}
	t.Logf("scale: %d Jobs started in %s, all waiting after %s; last event to last Job closed %s; peak RSS MB: worker1 %.0f, worker2 %.0f, server %.0f; idle RSS MB before the Jobs: worker1 %.0f, worker2 %.0f, server %.0f",
		n, started.Round(time.Millisecond), waiting.Round(time.Millisecond), closedAfter.Round(time.Millisecond), mem["worker1"], mem["worker2"], mem["temporal"],
		idle["worker1"], idle["worker2"], idle["temporal"])
	c.setFaults(sandbox.Faults{})
}

func rendered(st sandbox.Stats, ids []string) bool {
	for _, id := range ids {
		if st.JobsByCallbackID[id].Status != "completed" {
			return false
		}
	}
	return true
}

// deliverAll posts every Job's success event to the balancer, senders at a time, each
// until it is answered 200, and returns when the last one was.
func (c *cluster) deliverAll(ctx context.Context, t *testing.T, st sandbox.Stats, ids []string, senders int) time.Time {
	secret, err := os.ReadFile(filepath.Join(c.dir, "webhook-secret"))
	require.NoError(t, err)
	hook := c.hookSender(strings.TrimSpace(string(secret)), senders)
	work := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last time.Time
	for range senders {
		wg.Go(func() {
			for id := range work {
				body := successBody(st.JobsByCallbackID[id].VideoID, id)
				for until(ctx, 100*time.Millisecond, func() bool { return hook(ctx, body) == nil }) != nil {
					return
				}
				mu.Lock()
				last = time.Now()
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	require.NoError(t, ctx.Err())
	return last
}

// peakMB reads a process's peak resident set (VmHWM) in MB.
func peakMB(pid int) (float64, error) { return procMB(pid, "VmHWM:") }
