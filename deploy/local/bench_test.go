//go:build cluster

package local

// Benchmarks of issue 12 on the cluster that cluster.sh runs, each with its baseline in
// the same run, on the same cluster:
//
//	REELFLOW_CLUSTER_BENCH=1 go test -tags cluster -run TestClusterBench -v -timeout 60m ./deploy/local/
//
// They print markdown rows for BENCHMARKS.md's cluster section.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/bench"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

const (
	sinkQueue    = "reelflow-cluster-bench"
	sinkWorkflow = "BenchSignalSink"
	noopWorkflow = "BenchNoop"
)

// noop is the start-rate baseline: a workflow that ends in its first task.
func noop(workflow.Context) error { return nil }

func TestClusterBench(t *testing.T) {
	if os.Getenv("REELFLOW_CLUSTER_BENCH") != "1" {
		t.Skip("set REELFLOW_CLUSTER_BENCH=1")
	}
	c := startCluster(t, "2s")
	// REELFLOW_CLUSTER_BENCH_POLLERS sets the baseline worker's workflow task pollers
	// (the SDK's default is 2), to tell a queue bound by the pollers from one bound by the
	// server.
	var wopts sdkworker.Options
	if v, err := strconv.Atoi(os.Getenv("REELFLOW_CLUSTER_BENCH_POLLERS")); err == nil {
		wopts.MaxConcurrentWorkflowTaskPollers = v
		t.Logf("baseline worker: %d workflow task pollers", v)
	}
	w := sdkworker.New(c.Client, sinkQueue, wopts)
	w.RegisterWorkflowWithOptions(bench.SignalSink, workflow.RegisterOptions{Name: sinkWorkflow})
	w.RegisterWorkflowWithOptions(noop, workflow.RegisterOptions{Name: noopWorkflow})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("REELFLOW_CLUSTER_BENCH_RUNS")); err == nil {
		runs = v
	}
	// What an earlier, interrupted run left on a reused cluster must not run beside the
	// measurements.
	c.terminateRunning(t, "WorkflowType = 'Pipeline'")
	c.terminateRunning(t, "WorkflowType = 'Job'")
	t.Run("ack", func(t *testing.T) { c.benchAck(t, 100, 32, 10*time.Second, runs) })
	t.Run("start", func(t *testing.T) { c.benchStart(t, 1000, 32, runs) })
	t.Run("scale", func(t *testing.T) { c.benchScale(t, 5000, 32) })
}

// successBody is an avatar_video.success for the Job (or sink) callbackID.
func successBody(videoID, callbackID string) []byte {
	b, _ := json.Marshal(map[string]any{"event_type": "avatar_video.success", "event_data": map[string]any{
		"video_id": videoID, "url": "https://example.com/" + videoID + ".mp4", "callback_id": callbackID}})
	return b
}

// hookSender returns a function that POSTs a body to the balancer, signed with secret
// as HeyGen signs, and wants 200.
func (c *cluster) hookSender(secret string, senders int) func(context.Context, []byte) error {
	url := "http://127.0.0.1:" + c.ports["webhook"] + "/webhooks/heygen"
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * senders}}
	return func(ctx context.Context, body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(heygen.SignatureHeader, heygen.Sign(secret, body))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("answer %d", resp.StatusCode)
		}
		return nil
	}
}

// benchAck alternates rounds of raw SignalWorkflow and of signed webhooks POSTed to the
// balancer, which spreads them over the two receivers; both spread over wf sinks.
func (c *cluster) benchAck(t *testing.T, wf, senders int, d time.Duration, runs int) {
	ctx := context.Background()
	ids := make([]string, wf)
	for i := range ids {
		ids[i] = workflows.JobWorkflowID(fmt.Sprintf("ack-%04d", i), "sink")
		_, err := c.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: sinkQueue}, sinkWorkflow)
		require.NoError(t, err)
	}
	defer func() {
		for _, id := range ids {
			_ = c.Client.TerminateWorkflow(ctx, id, "", "bench over")
		}
	}()
	secret, err := os.ReadFile(filepath.Join(c.dir, "webhook-secret"))
	require.NoError(t, err)
	send := c.hookSender(strings.TrimSpace(string(secret)), senders)
	var seq atomic.Int64
	raw := func(ctx context.Context) error {
		n := seq.Add(1)
		id := ids[int(n)%len(ids)]
		var ev heygen.Event
		if err := json.Unmarshal(successBody(fmt.Sprintf("bench-%d", n), id), &ev); err != nil {
			return err
		}
		return c.Client.SignalWorkflow(ctx, id, "", workflows.SignalEvent, ev)
	}
	hook := func(ctx context.Context) error {
		n := seq.Add(1)
		return send(ctx, successBody(fmt.Sprintf("bench-%d", n), ids[int(n)%len(ids)]))
	}
	load(ctx, raw, senders, d/2)
	load(ctx, hook, senders, d/2) // warm-up of both paths
	var ratios, rawRates, hookRates []float64
	var rawP99, hookP99 []float64
	parts := []string{"temporal", "receiver1", "receiver2", "balancer"}
	for range runs {
		c0 := c.sampleCPU(parts...)
		r := load(ctx, raw, senders, d)
		c1 := c.sampleCPU(parts...)
		h := load(ctx, hook, senders, d)
		c2 := c.sampleCPU(parts...)
		// Where each path spends the CPU: on 2 cores every part competes with the server.
		t.Logf("ack CPU ms per request: raw: %s; webhook: %s", perRequest(c0, c1, r.ok), perRequest(c1, c2, h.ok))
		rawRates, hookRates = append(rawRates, r.rate()), append(hookRates, h.rate())
		rawP99, hookP99 = append(rawP99, bench.Percentile(r.lat, 99)), append(hookP99, bench.Percentile(h.lat, 99))
		ratios = append(ratios, h.rate()/r.rate())
		t.Logf("ack: raw %.0f/s (p99 %.0f ms, %d failed), webhook %.0f/s (p99 %.0f ms, %d failed), ratio %.3f",
			r.rate(), bench.Percentile(r.lat, 99), r.failed, h.rate(), bench.Percentile(h.lat, 99), h.failed, h.rate()/r.rate())
	}
	t.Logf("| ack, req/s (%d senders, %d sinks, %d rounds of %s) | webhook %s | raw %s | ratio %s |", senders, wf, runs, d,
		bench.Summarize(hookRates), bench.Summarize(rawRates), bench.Summarize(ratios))
	t.Logf("| ack, p99 ms | webhook %s | raw %s |", bench.Summarize(hookP99), bench.Summarize(rawP99))
}

type round struct {
	ok, failed int
	elapsed    time.Duration
	lat        []time.Duration
}

func (r round) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// load runs send from senders goroutines for d and times every call.
func load(ctx context.Context, send func(context.Context) error, senders int, d time.Duration) round {
	var (
		mu sync.Mutex
		r  round
		wg sync.WaitGroup
	)
	start := time.Now()
	for range senders {
		wg.Go(func() {
			var lat []time.Duration
			failed := 0
			for time.Since(start) < d {
				at := time.Now()
				if err := send(ctx); err != nil {
					failed++
					continue
				}
				lat = append(lat, time.Since(at))
			}
			mu.Lock()
			defer mu.Unlock()
			r.lat, r.ok, r.failed = append(r.lat, lat...), r.ok+len(lat), r.failed+failed
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

// startRound is one start-rate round: how fast n workflows were started, and how long
// each waited for its first workflow task (a stall shows as a long wait).
type startRound struct {
	rate      float64
	waits     []time.Duration
	unstarted int // first tasks not started within the harness's 5 min
	// drain is how fast first tasks started, from the first start to the last first
	// task; pause is the longest time in that span in which no first task started. A
	// steady queue shows as a low drain rate with short pauses, a stall as a long pause.
	drain float64
	pause time.Duration
	// busy is how many of the machine's cores were busy, on average, from the first
	// start to the last first task: near 2 on this machine means the round was bound by
	// CPU, not by a stall.
	busy float64
}

// progress sets r.drain and r.pause from the start of the round and the times at which
// the first tasks started.
func (r *startRound) progress(began time.Time, firsts []time.Time) {
	sorted := slices.Clone(firsts)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	prev := began
	for _, f := range sorted {
		if f.IsZero() {
			continue
		}
		if gap := f.Sub(prev); gap > r.pause {
			r.pause = gap
		}
		prev = f
	}
	if span := prev.Sub(began).Seconds(); span > 0 {
		r.drain = float64(len(sorted)-r.unstarted) / span
	}
}

// benchStart starts n Pipelines, then n no-op workflows (the baseline), runs times, and
// reads from each history the wait from start to first workflow task started.
func (c *cluster) benchStart(t *testing.T, n, conc, runs int) {
	ctx := context.Background()
	var pipe, base []startRound
	for r := range runs {
		tag := time.Now().Format("150405")
		// The baseline first, on a cluster with nothing else to do; the pipelines then
		// start their Jobs, which run on until the round ends.
		b := c.startRound(t, fmt.Sprintf("noop%s-%d", tag, r), n, conc, func(id string) (client.WorkflowRun, error) {
			return c.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: sinkQueue}, noopWorkflow)
		})
		p := c.startRound(t, fmt.Sprintf("start%s-%d", tag, r), n, conc, func(id string) (client.WorkflowRun, error) {
			return c.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, pipelineInput(id))
		})
		pipe, base = append(pipe, p), append(base, b)
		for _, x := range []struct {
			what string
			r    startRound
		}{{"no-op", b}, {"pipelines", p}} {
			t.Logf("start %s: %.0f starts/s; first tasks drained at %.1f/s, longest pause %s, %.2f cores busy; first task p50 %.0f ms p99 %.0f ms max %.0f ms, %d waited > 10 s, %d not started in 5 min",
				x.what, x.r.rate, x.r.drain, x.r.pause.Round(time.Millisecond), x.r.busy, bench.Percentile(x.r.waits, 50), bench.Percentile(x.r.waits, 99),
				bench.Percentile(x.r.waits, 100), over(x.r.waits, 10*time.Second), x.r.unstarted)
		}
		c.terminateRunning(t, "WorkflowType = 'Pipeline'")
		c.terminateRunning(t, "WorkflowType = 'Job'")
	}
	f := func(rs []startRound, g func(startRound) float64) bench.Summary {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, g(r))
		}
		return bench.Summarize(xs)
	}
	rate := func(r startRound) float64 { return r.rate }
	drain := func(r startRound) float64 { return r.drain }
	pause := func(r startRound) float64 { return float64(r.pause.Milliseconds()) }
	p50 := func(r startRound) float64 { return bench.Percentile(r.waits, 50) }
	p99 := func(r startRound) float64 { return bench.Percentile(r.waits, 99) }
	mx := func(r startRound) float64 { return bench.Percentile(r.waits, 100) }
	t.Logf("| start %d, starts/s | pipelines %s | no-op %s |", n, f(pipe, rate), f(base, rate))
	t.Logf("| start %d, first tasks drained/s | pipelines %s | no-op %s |", n, f(pipe, drain), f(base, drain))
	t.Logf("| start %d, longest pause ms | pipelines %s | no-op %s |", n, f(pipe, pause), f(base, pause))
	t.Logf("| start %d, cores busy | pipelines %s | no-op %s |", n, f(pipe, func(r startRound) float64 { return r.busy }), f(base, func(r startRound) float64 { return r.busy }))
	t.Logf("| start %d, first task p50 ms | pipelines %s | no-op %s |", n, f(pipe, p50), f(base, p50))
	t.Logf("| start %d, first task p99 ms | pipelines %s | no-op %s |", n, f(pipe, p99), f(base, p99))
	t.Logf("| start %d, first task max ms | pipelines %s | no-op %s |", n, f(pipe, mx), f(base, mx))
}

func over(ds []time.Duration, limit time.Duration) int {
	k := 0
	for _, d := range ds {
		if d > limit {
			k++
		}
	}
	return k
}

func (c *cluster) startRound(t *testing.T, prefix string, n, conc int, start func(id string) (client.WorkflowRun, error)) startRound {
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	began, busy0 := time.Now(), machineBusy()
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = start(ids[i])
		})
	}
	wg.Wait()
	r := startRound{rate: float64(n) / time.Since(began).Seconds()}
	for _, err := range errs {
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r.waits = make([]time.Duration, n)
	firsts := make([]time.Time, n)
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r.waits[i], firsts[i], errs[i] = firstTaskWait(ctx, c.Client, id)
		})
	}
	wg.Wait()
	r.busy = float64(machineBusy()-busy0) / float64(time.Since(began))
	for i, err := range errs {
		// A first task not started by the deadline counts with its wait so far, a lower
		// bound, rather than ending the benchmark.
		if err != nil && (errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil) {
			r.waits[i], r.unstarted = time.Since(began), r.unstarted+1
			continue
		}
		require.NoError(t, err)
	}
	sort.Slice(r.waits, func(i, j int) bool { return r.waits[i] < r.waits[j] })
	r.progress(began, firsts)
	return r
}

// firstTaskWait reads, from a workflow's history, the time from its start to its first
// workflow task started, and when that task started, waiting (long poll) until it has.
func firstTaskWait(ctx context.Context, c client.Client, id string) (time.Duration, time.Time, error) {
	var started time.Time
	for {
		it := c.GetWorkflowHistory(ctx, id, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return 0, time.Time{}, fmt.Errorf("history of %s: %w", id, err)
			}
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				started = ev.GetEventTime().AsTime()
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				at := ev.GetEventTime().AsTime()
				return at.Sub(started), at, nil
			}
		}
		if ctx.Err() != nil {
			return 0, time.Time{}, ctx.Err()
		}
	}
}

// terminateRunning ends the workflows a round left running (with their child Jobs, by
// the parent close policy), so that rounds do not add up.
func (c *cluster) terminateRunning(t *testing.T, query string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q := query + " AND ExecutionStatus = 'Running'"
	err := until(ctx, 100*time.Millisecond, func() bool {
		resp, err := c.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", Query: q, PageSize: 1000})
		if err != nil {
			return false
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for _, e := range resp.GetExecutions() {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				_ = c.Client.TerminateWorkflow(ctx, e.GetExecution().GetWorkflowId(), "", "bench round over")
			})
		}
		wg.Wait()
		return len(resp.GetExecutions()) == 0
	})
	require.NoError(t, err, "terminate %q", q)
}
