package bench

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/workflows"
)

// RecoveryConfig sizes the recovery benchmark.
type RecoveryConfig struct {
	Pipelines    int // pipelines in flight; issue 6: 500
	Runs         int
	Starters     int
	Senders      int
	RenderTime   time.Duration
	PhaseTimeout time.Duration
	Env          EnvConfig
}

// recoveryRun is what one run of the recovery benchmark saw.
type recoveryRun struct {
	stop        time.Duration // Stack.StopWorker
	firstJob    time.Duration // from StartWorker to the first Job closed
	allJobs     time.Duration // to the last Job closed
	allDone     time.Duration // to the last Pipeline closed
	completed   int           // Pipelines completed
	stormAcked  time.Duration // the webhooks delivered while no worker ran
	tap         TapCounts
	jobsWaiting time.Duration
	closedEarly int // Jobs closed before the new worker started: should be none
}

// RunRecovery starts cfg.Pipelines pipelines, waits until every render Job waits for
// its webhook, stops the worker (Stack.StopWorker, as a crash or a deploy would), lets
// the sandbox's webhooks all arrive while no worker runs (the receiver signals; Temporal
// keeps the signals), then starts a new worker and times the way back.
func RunRecovery(ctx context.Context, cfg RecoveryConfig) (Result, error) {
	res := Result{Name: "recovery", Title: "5. Recovery: a new worker takes over pipelines in flight", Runs: cfg.Runs, Machine: Machine()}
	var runs []recoveryRun
	for r := range cfg.Runs {
		rr, err := runRecoveryOnce(ctx, cfg)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", r, err)
		}
		runs = append(runs, rr)
	}
	pick := func(f func(recoveryRun) time.Duration) Summary {
		out := make([]float64, len(runs))
		for i, r := range runs {
			out[i] = f(r).Seconds()
		}
		return Summarize(out)
	}
	first := pick(func(r recoveryRun) time.Duration { return r.firstJob })
	res.Setup = fmt.Sprintf("%d Pipeline workflows (render only, 1 h push window) on a fresh dev stack per run; renders take %s and the tap holds their webhooks. Once every render Job waits, Stack.StopWorker; then the tap delivers all webhooks with %d senders (the receiver signals while no worker runs); then Stack.StartWorker starts a new worker, with an empty cache. Times count from the StartWorker call to each workflow's close time (DescribeWorkflowExecution).",
		cfg.Pipelines, cfg.RenderTime, cfg.Senders)
	res.Rows = []Row{
		{Metric: "StartWorker to first Job completed, s", Reelflow: first, Goal: "<= 5 s", Met: goal(first.Median <= 5)},
		{Metric: "StartWorker to all Jobs completed, s", Reelflow: pick(func(r recoveryRun) time.Duration { return r.allJobs })},
		{Metric: "StartWorker to all Pipelines completed, s", Reelflow: pick(func(r recoveryRun) time.Duration { return r.allDone })},
		{Metric: "StopWorker, s", Reelflow: pick(func(r recoveryRun) time.Duration { return r.stop })},
		{Metric: "webhooks delivered while no worker ran, s", Reelflow: pick(func(r recoveryRun) time.Duration { return r.stormAcked })},
		{Metric: "first start to all Jobs waiting, s", Reelflow: pick(func(r recoveryRun) time.Duration { return r.jobsWaiting })},
	}
	for i, r := range runs {
		res.fact("pipelines", float64(cfg.Pipelines))
		res.fact("completed", float64(r.completed))
		res.fact("closed_early", float64(r.closedEarly))
		res.Notes = append(res.Notes, fmt.Sprintf("run %d: %d of %d Pipelines completed; %d Jobs closed before the new worker started; tap %+v", i, r.completed, cfg.Pipelines, r.closedEarly, r.tap))
	}
	return res, nil
}

func runRecoveryOnce(ctx context.Context, cfg RecoveryConfig) (recoveryRun, error) {
	var rr recoveryRun
	ecfg := cfg.Env
	ecfg.RenderTime = cfg.RenderTime
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		return rr, err
	}
	defer func() { _ = env.Close(context.Background()) }()
	env.Tap.SetMode(TapHold)

	phase, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	t0 := time.Now()
	err = startMany(phase, cfg.Pipelines, cfg.Starters, func(ctx context.Context, i int) error {
		id := recoveryID(i)
		_, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.Pipeline,
			// No sweep: the tap holds the webhooks, and a sweep would find the jobs done.
			workflows.PipelineInput{ID: id, Title: "recovery", Video: videoBody(), Timeouts: workflows.Timeouts{PushWindow: time.Hour, Sweep: -1}})
		return err
	})
	if err != nil {
		return rr, err
	}
	waiting, err := env.waitCount(phase, queryJobsWaiting, cfg.Pipelines, 100*time.Millisecond)
	if err != nil {
		return rr, fmt.Errorf("all waiting: %w", err)
	}
	rr.jobsWaiting = waiting.Sub(t0)
	if _, err := waitTap(phase, env.Tap, func(c TapCounts) bool { return c.Held >= cfg.Pipelines }); err != nil {
		return rr, fmt.Errorf("renders: %w", err)
	}

	cfg.Env.logf("recovery: all %d waiting after %s; stopping the worker", cfg.Pipelines, rr.jobsWaiting)
	ts := time.Now()
	env.StopWorker()
	rr.stop = time.Since(ts)
	phase2, cancel2 := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel2()
	storm := env.Tap.Release(phase2, cfg.Senders)
	if _, err := waitTap(phase2, env.Tap, func(c TapCounts) bool { return c.Delivered >= cfg.Pipelines }); err != nil {
		return rr, fmt.Errorf("webhooks while no worker ran: %w", err)
	}
	rr.stormAcked = time.Since(storm)

	cfg.Env.logf("recovery: %d webhooks signalled while no worker ran; starting a new worker", cfg.Pipelines)
	start := time.Now()
	if err := env.StartWorker(); err != nil {
		return rr, err
	}
	if _, err := env.waitCount(phase2, queryPipelinesClosed, cfg.Pipelines, 100*time.Millisecond); err != nil {
		return rr, fmt.Errorf("all pipelines closed: %w", err)
	}
	pipeIDs := make([]string, cfg.Pipelines)
	jobIDs := make([]string, cfg.Pipelines)
	for i := range pipeIDs {
		pipeIDs[i] = recoveryID(i)
		jobIDs[i] = workflows.JobWorkflowID(pipeIDs[i], workflows.StepRender)
	}
	jobs, err := env.describe(ctx, jobIDs, 16)
	if err != nil {
		return rr, err
	}
	pipes, err := env.describe(ctx, pipeIDs, 16)
	if err != nil {
		return rr, err
	}
	for _, j := range jobs {
		if j.Closed && j.Close.Before(start) {
			rr.closedEarly++
		}
	}
	rr.firstJob = firstClose(jobs).Sub(start)
	rr.allJobs = lastClose(jobs).Sub(start)
	rr.allDone = lastClose(pipes).Sub(start)
	rr.completed = countStatus(pipes, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	rr.tap = env.Tap.Counts()
	cfg.Env.logf("recovery: first Job %s, all Pipelines %s after StartWorker", rr.firstJob, rr.allDone)
	return rr, nil
}

// recoveryID is the ID of the i-th pipeline of a recovery run.
func recoveryID(i int) string { return fmt.Sprintf("rec-%05d", i) }
