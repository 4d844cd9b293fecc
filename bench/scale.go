package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/reelflow/reelflow/workflows"
)

// Visibility queries of the scale and recovery benchmarks.
const (
	queryJobsWaiting = "WorkflowType = 'Job' AND ExecutionStatus = 'Running' AND " +
		workflows.SearchAttrStage + " = '" + string(workflows.StateWaiting) + "'"
	queryJobsClosed      = "WorkflowType = 'Job' AND ExecutionStatus != 'Running'"
	queryPipelinesClosed = "WorkflowType = 'Pipeline' AND ExecutionStatus != 'Running'"
)

// ScaleConfig sizes the scale benchmark.
type ScaleConfig struct {
	Jobs     int // Jobs waiting at once; issue 6: 5,000
	Runs     int
	Starters int // concurrent StartWorkflow callers
	Senders  int // concurrent webhook deliveries in the storm; the sandbox's own is 32
	// RenderTime is short, so that every render has ended (its webhook held by the tap)
	// by the time the last Job waits.
	RenderTime time.Duration
	// PhaseTimeout bounds each phase: all waiting, all finished.
	PhaseTimeout time.Duration
	Env          EnvConfig
}

// scaleRun is what one run of the scale benchmark saw.
type scaleRun struct {
	idle, peak     Memory
	resetPeak      bool
	startCalls     time.Duration // the StartWorkflow calls
	allWaiting     time.Duration // from the first start to the last Job waiting
	longestStall   time.Duration // the longest time the waiting count stood still before all waited
	allFinished    time.Duration // from the first webhook of the storm to the last Job's close
	stormDelivered time.Duration // from the first webhook to the last one acked
	completed      int
	tap            TapCounts
}

// RunScale starts cfg.Jobs Job workflows and lets them all wait for their webhooks;
// the tap holds every webhook until the last one waits, then delivers them all, 32 at a
// time, as the sandbox does. Each run has a fresh dev stack. Memory is the whole
// process's: server, worker, sandbox, receiver and harness share it.
func RunScale(ctx context.Context, cfg ScaleConfig) (Result, error) {
	res := Result{Name: "scale", Title: "4. Scale: Jobs waiting at once", Runs: cfg.Runs, Machine: Machine()}
	var runs []scaleRun
	for r := range cfg.Runs {
		sr, err := runScaleOnce(ctx, cfg)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", r, err)
		}
		runs = append(runs, sr)
	}
	pick := func(f func(scaleRun) float64) Summary {
		out := make([]float64, len(runs))
		for i, r := range runs {
			out[i] = f(r)
		}
		return Summarize(out)
	}
	peak := pick(func(r scaleRun) float64 { return r.peak.HWM })
	finished := pick(func(r scaleRun) float64 { return r.allFinished.Seconds() })
	res.Setup = fmt.Sprintf("%d Job workflows (default Timeouts but a 1 h push window and no sweep, which would find the held webhooks' jobs done) started by %d concurrent callers on a fresh dev stack per run; renders take %s, and the tap holds their webhooks until every Job waits (visibility: %s), then delivers them all with %d senders. Memory is VmHWM of the one process that holds the Temporal server, the worker, the sandbox, the receiver and the harness, reset (clear_refs) after the stack started. Close times come from DescribeWorkflowExecution; \"all waiting\" is when visibility first counted them all, which trails the histories.",
		cfg.Jobs, cfg.Starters, cfg.RenderTime, queryJobsWaiting, cfg.Senders)
	res.Rows = []Row{
		{Metric: "peak RSS (VmHWM) of the whole process, MB", Reelflow: peak, Goal: "<= 400 MB", Met: goal(peak.Median <= 400)},
		{Metric: "RSS before the jobs, MB", Reelflow: pick(func(r scaleRun) float64 { return r.idle.RSS })},
		{Metric: "StartWorkflow calls, s", Reelflow: pick(func(r scaleRun) float64 { return r.startCalls.Seconds() })},
		{Metric: "first start to all waiting, s", Reelflow: pick(func(r scaleRun) float64 { return r.allWaiting.Seconds() })},
		{Metric: "longest stall while starting, s", Reelflow: pick(func(r scaleRun) float64 { return r.longestStall.Seconds() })},
		{Metric: "first webhook to all Jobs closed, s", Reelflow: finished, Goal: "<= 60 s", Met: goal(finished.Median <= 60)},
		{Metric: "first webhook to all webhooks acked, s", Reelflow: pick(func(r scaleRun) float64 { return r.stormDelivered.Seconds() })},
		{Metric: "Jobs completed per s in the storm", Reelflow: pick(func(r scaleRun) float64 { return float64(r.completed) / r.allFinished.Seconds() })},
	}
	for i, r := range runs {
		res.fact("jobs", float64(cfg.Jobs))
		res.fact("completed", float64(r.completed))
		note := fmt.Sprintf("run %d: %d of %d Jobs completed; tap %+v", i, r.completed, cfg.Jobs, r.tap)
		if !r.resetPeak {
			note += "; VmHWM could not be reset, so it includes earlier runs"
		}
		res.Notes = append(res.Notes, note)
	}
	return res, nil
}

func runScaleOnce(ctx context.Context, cfg ScaleConfig) (scaleRun, error) {
	var sr scaleRun
	ecfg := cfg.Env
	ecfg.RenderTime = cfg.RenderTime
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		return sr, err
	}
	defer func() { _ = env.Close(context.Background()) }()
	env.Tap.SetMode(TapHold)

	sr.resetPeak = ResetPeakMemory()
	if sr.idle, err = ReadMemory(); err != nil {
		return sr, err
	}
	t0 := time.Now()
	err = startMany(ctx, cfg.Jobs, cfg.Starters, func(ctx context.Context, i int) error {
		_, err := startJob(ctx, env, "scale", i, workflows.Timeouts{PushWindow: time.Hour, Sweep: -1})
		return err
	})
	if err != nil {
		return sr, err
	}
	sr.startCalls = time.Since(t0)
	cfg.Env.logf("scale: %d StartWorkflow calls took %s", cfg.Jobs, sr.startCalls)

	phase, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	waitingAt, stall, err := waitCountTracked(phase, env, queryJobsWaiting, cfg.Jobs)
	if err != nil {
		return sr, fmt.Errorf("all waiting: %w", err)
	}
	sr.allWaiting, sr.longestStall = waitingAt.Sub(t0), stall
	if _, err := waitTap(phase, env.Tap, func(c TapCounts) bool { return c.Held >= cfg.Jobs }); err != nil {
		return sr, fmt.Errorf("renders: %w", err)
	}

	cfg.Env.logf("scale: all %d waiting after %s (longest stall %s); releasing the webhooks", cfg.Jobs, sr.allWaiting, sr.longestStall)
	phase2, cancel2 := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel2()
	storm := env.Tap.Release(phase2, cfg.Senders)
	if _, err := waitTap(phase2, env.Tap, func(c TapCounts) bool { return c.Delivered >= cfg.Jobs }); err != nil {
		return sr, fmt.Errorf("storm: %w", err)
	}
	sr.stormDelivered = time.Since(storm)
	if _, err := env.waitCount(phase2, queryJobsClosed, cfg.Jobs, 100*time.Millisecond); err != nil {
		return sr, fmt.Errorf("all closed: %w", err)
	}
	if sr.peak, err = ReadMemory(); err != nil {
		return sr, err
	}
	ids := make([]string, cfg.Jobs)
	for i := range ids {
		ids[i] = jobID("scale", i)
	}
	execs, err := env.describe(ctx, ids, 16)
	if err != nil {
		return sr, err
	}
	last := lastClose(execs)
	sr.allFinished = last.Sub(storm)
	sr.completed = countStatus(execs, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	sr.tap = env.Tap.Counts()
	cfg.Env.logf("scale: all closed %s after the first webhook; peak RSS %.0f MB", sr.allFinished, sr.peak.HWM)
	return sr, nil
}

// waitCountTracked is waitCount that also reports the longest time the count stood
// still below want: the stalls of first workflow tasks that MEASUREMENTS.md reports.
func waitCountTracked(ctx context.Context, env *Env, query string, want int) (time.Time, time.Duration, error) {
	var (
		last    int64 = -1
		since         = time.Now()
		longest time.Duration
	)
	for {
		n, err := env.count(ctx, query)
		now := time.Now()
		if err == nil {
			if n >= int64(want) {
				return now, longest, nil
			}
			if n != last {
				longest = max(longest, now.Sub(since))
				last, since = n, now
			}
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return time.Time{}, max(longest, time.Since(since)), fmt.Errorf("%d of %d match %q: %w", last, want, query, err)
		}
	}
}

// lastClose is the latest close time of the closed executions.
func lastClose(execs []execution) time.Time {
	var t time.Time
	for _, x := range execs {
		if x.Closed && x.Close.After(t) {
			t = x.Close
		}
	}
	return t
}

// firstClose is the earliest close time of the closed executions.
func firstClose(execs []execution) time.Time {
	closes := make([]time.Time, 0, len(execs))
	for _, x := range execs {
		if x.Closed {
			closes = append(closes, x.Close)
		}
	}
	if len(closes) == 0 {
		return time.Time{}
	}
	return slices.MinFunc(closes, func(a, b time.Time) int { return a.Compare(b) })
}

// countStatus counts executions in a status.
func countStatus(execs []execution, status enumspb.WorkflowExecutionStatus) int {
	n := 0
	for _, x := range execs {
		if x.Status == status {
			n++
		}
	}
	return n
}
