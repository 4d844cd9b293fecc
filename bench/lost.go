package bench

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/workflows"
)

// LostConfig sizes the lost-webhook benchmark (issue 18).
type LostConfig struct {
	Pipelines int // pipelines per round, each a render and one translation; issue 18: 200
	// RenderTime is the sandbox's render time; issue 18: 3 s.
	RenderTime time.Duration
	// Phases are where in the minute each run starts its pipelines, one run per phase:
	// the sweep polls at the minute's boundaries, so how late a lost webhook is found
	// depends on where in the minute its job ends. Empty: one run, started at once.
	Phases   []time.Duration
	Starters int // concurrent StartWorkflow callers
	// Timeouts are the pipelines'; zero (issue 18's setting) is reelflow's defaults. The
	// smoke test shortens the sweep.
	Timeouts workflows.Timeouts
	// RoundTimeout bounds one round (all its pipelines); 10 minutes when zero.
	RoundTimeout time.Duration
	Env          EnvConfig
}

// lostRound is what one round of one mode measured.
type lostRound struct {
	lags []time.Duration // per Job: its HeyGen job's end (the sandbox's) to the Job's close
	// after is, per Job of a lost round, the part of its lag after the first sweep
	// instant that followed its job's end: the time the stack took to poll and close it,
	// where the rest (up to one sweep interval) is the design's wait for that instant.
	after  []time.Duration
	calls  int // status calls of every kind the sandbox answered
	single int
	bulk   int
	jobs   int
	byHow  map[string]int // Jobs by how they finished
	failed int            // pipelines that did not complete
	ids    []string       // the Jobs' workflow IDs
	ends   map[string]time.Time
}

// RunLost measures what a lost webhook costs with reelflow's default timeouts: for
// cfg.Pipelines pipelines of a render and a translation each, with every webhook dropped
// by the sandbox, the time from each HeyGen job's end (the sandbox's own record of when
// its render finished) to its Job workflow's close, and the status calls of every kind
// per Job; then the same with every webhook delivered, for comparison.
func RunLost(ctx context.Context, cfg LostConfig) (Result, error) {
	res := Result{Name: "lost", Title: "Issue 18: a lost webhook costs a minute", Machine: Machine()}
	phases := cfg.Phases
	if len(phases) == 0 {
		phases = []time.Duration{-1}
	}
	res.Runs = len(phases)
	var losts, ons []lostRound
	for r, phase := range phases {
		lost, on, err := runLostOnce(ctx, cfg, r, phase)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", r, err)
		}
		losts, ons = append(losts, lost), append(ons, on)
	}
	lostReport(&res, cfg, phases, losts, ons)
	return res, nil
}

// overRounds summarises one figure of each round: the median over the runs, with their
// spread.
func overRounds(rs []lostRound, figure func(lostRound) float64) Summary {
	var xs []float64
	for _, r := range rs {
		xs = append(xs, figure(r))
	}
	return Summarize(xs)
}

// lostReport fills res's setup, rows and notes from the rounds of every run.
func lostReport(res *Result, cfg LostConfig, phases []time.Duration, losts, ons []lostRound) {
	pct := func(rs []lostRound, p float64) Summary {
		return overRounds(rs, func(r lostRound) float64 { return Percentile(r.lags, p) / 1000 })
	}
	pctAfter := func(rs []lostRound, p float64) Summary {
		return overRounds(rs, func(r lostRound) float64 { return Percentile(r.after, p) / 1000 })
	}
	perJob := func(rs []lostRound) Summary {
		return overRounds(rs, func(r lostRound) float64 { return float64(r.calls) / float64(max(r.jobs, 1)) })
	}
	onSingle := overRounds(ons, func(r lostRound) float64 { return float64(r.single) / float64(max(r.jobs, 1)) })
	onBulk := overRounds(ons, func(r lostRound) float64 { return 100 * float64(r.bulk) / float64(max(r.jobs, 1)) })
	lostP99, lostCalls, onCalls := pct(losts, 99), perJob(losts), perJob(ons)
	// Every run's lags together: with the runs started at phases spread evenly over the
	// minute, where in the minute a job ends is as random as in production, so this is
	// the p99 a lost webhook costs. One run's p99 is that of one phase, and the worst
	// phase (renders that end together just after a sweep's bulk call) waits the whole
	// interval plus the burst's closing by construction.
	var all []time.Duration
	for _, r := range losts {
		all = append(all, r.lags...)
	}
	pooledP99 := Summarize([]float64{Percentile(all, 99) / 1000})
	res.Setup = fmt.Sprintf("%d pipelines per round, each a render and one translation (French), started by %d callers at once; "+
		"sandbox renders %s; reelflow's default timeouts (push window 10 m, sweep every minute on the minute, polls from 30 s "+
		"doubling to 5 m, batch window 1 s). Lost: the sandbox drops every webhook (its DropRate fault, 1). "+
		"Delivered: none dropped. Lag = the Job workflow's close time (DescribeWorkflowExecution) minus its HeyGen "+
		"job's end as the sandbox recorded it (Sandbox.Ends). Lag past the sweep instant = the Job's close minus the sweep read that found it (the first multiple of the sweep interval after its job's end, or the grace read 5 s after the Job's first instant when it was created less than 5 s before it): the stack's share of the lag, the rest being the design's wait for that instant (at most one interval). Status calls = the sandbox's count of every status read, "+
		"single and bulk, videos and translations (Stats.Polls), divided by the Jobs. One run per start phase in the "+
		"minute (%v); each figure is the median of the runs' figures, with their spread.",
		cfg.Pipelines, cfg.Starters, cfg.RenderTime, phaseText(cfg.Phases))
	res.Rows = []Row{
		{Metric: "webhooks lost: lag p50, s", Reelflow: pct(losts, 50)},
		{Metric: "webhooks lost: lag p99 of every run's Jobs together, s", Reelflow: pooledP99, Goal: "<= 60", Met: goal(pooledP99.Median <= 60)},
		{Metric: "webhooks lost: lag p99 of each run, s", Reelflow: lostP99},
		{Metric: "webhooks lost: lag past the sweep instant p50, s", Reelflow: pctAfter(losts, 50)},
		{Metric: "webhooks lost: lag past the sweep instant p99, s", Reelflow: pctAfter(losts, 99)},
		{Metric: "webhooks lost: status calls per Job", Reelflow: lostCalls, Goal: "<= 2", Met: goal(lostCalls.Max <= 2)},
		{Metric: "webhooks delivered: lag p50, s", Reelflow: pct(ons, 50)},
		{Metric: "webhooks delivered: lag p99, s", Reelflow: pct(ons, 99)},
		{Metric: "webhooks delivered: status calls per Job", Reelflow: onCalls, Goal: "no more than before the sweep (1)", Met: goal(onCalls.Max <= 1)},
		{Metric: "webhooks delivered: single GETs per Job", Reelflow: onSingle, Goal: "1 (the detail fetch)", Met: goal(onSingle.Max <= 1)},
		{Metric: "webhooks delivered: bulk calls per 100 Jobs (the sweep's share)", Reelflow: onBulk},
	}
	for i := range losts {
		for name, r := range map[string]lostRound{"lost": losts[i], "on": ons[i]} {
			res.fact(name+"_jobs", float64(r.jobs))
			res.fact(name+"_calls", float64(r.calls))
			res.fact(name+"_failed", float64(r.failed))
			res.fact(name+"_lags", float64(len(r.lags)))
		}
		res.Notes = append(res.Notes, fmt.Sprintf("Run %d (phase %s): lost: p50 %.1f s, p99 %.1f s, max %.1f s, %d single + %d bulk status calls, Jobs finished %v; delivered: p99 %.2f s, %d single + %d bulk, Jobs finished %v.",
			i, phaseText(phases[i:i+1]), Percentile(losts[i].lags, 50)/1000, Percentile(losts[i].lags, 99)/1000, Percentile(losts[i].lags, 100)/1000,
			losts[i].single, losts[i].bulk, losts[i].byHow, Percentile(ons[i].lags, 99)/1000, ons[i].single, ons[i].bulk, ons[i].byHow))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("The lag goal is judged on the p99 of all %d lost-webhook Jobs of the %d runs together, started at phases spread over the minute; "+
		"each run's own p99 is listed, and its spread shows what the phase does. The call goals are judged on the worst run.", len(all), len(losts)))
}

// phaseText lists the start phases for the report.
func phaseText(ps []time.Duration) string {
	if len(ps) == 0 || (len(ps) == 1 && ps[0] < 0) {
		return "any"
	}
	return fmt.Sprint(ps)
}

// runLostOnce runs both modes on a fresh stack, the lost one first.
func runLostOnce(ctx context.Context, cfg LostConfig, r int, phase time.Duration) (lost, on lostRound, err error) {
	ecfg := cfg.Env
	ecfg.RenderTime = cfg.RenderTime
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		return lost, on, err
	}
	defer func() { _ = env.Close(context.Background()) }()
	cfg.Env.logf("lost run %d: webhooks dropped", r)
	if lost, err = lostRound1(ctx, env, cfg, fmt.Sprintf("lost%d", r), 1, phase); err != nil {
		return lost, on, fmt.Errorf("webhooks lost: %w", err)
	}
	cfg.Env.logf("lost run %d: p99 %.1f s, %d calls; webhooks delivered", r, Percentile(lost.lags, 99)/1000, lost.calls)
	if on, err = lostRound1(ctx, env, cfg, fmt.Sprintf("on%d", r), 0, phase); err != nil {
		return lost, on, fmt.Errorf("webhooks delivered: %w", err)
	}
	cfg.Env.logf("lost run %d: delivered p99 %.2f s, %d calls", r, Percentile(on.lags, 99)/1000, on.calls)
	return lost, on, nil
}

// waitPhase sleeps until the next instant at phase past a minute's boundary; a negative
// phase does not wait.
func waitPhase(ctx context.Context, phase time.Duration) error {
	if phase < 0 {
		return nil
	}
	now := time.Now()
	at := now.Truncate(time.Minute).Add(phase)
	if at.Before(now) {
		at = at.Add(time.Minute)
	}
	return sleepCtx(ctx, time.Until(at))
}

// lostRound1 runs cfg.Pipelines pipelines with the sandbox dropping the given share of
// webhooks, waits for them all, and measures each Job's lag and the status calls.
func lostRound1(ctx context.Context, env *Env, cfg LostConfig, prefix string, drop float64, phase time.Duration) (lostRound, error) {
	env.Sandbox.SetDropRate(drop)
	defer env.Sandbox.SetDropRate(0)
	if err := waitPhase(ctx, phase); err != nil {
		return lostRound{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, cmp.Or(cfg.RoundTimeout, 10*time.Minute))
	defer cancel()
	a0, s0, b0 := statusCalls(env.Sandbox.Stats())
	runs := make([]client.WorkflowRun, cfg.Pipelines)
	ids := make([]string, cfg.Pipelines)
	err := startMany(rctx, cfg.Pipelines, cfg.Starters, func(ctx context.Context, i int) error {
		ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
		in := workflows.PipelineInput{ID: ids[i], Title: "lost-webhook benchmark", Video: videoBody(),
			Translate: &workflows.Translate{Languages: []string{"French"}}, Timeouts: cfg.Timeouts}
		run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
		runs[i] = run
		return err
	})
	if err != nil {
		return lostRound{}, fmt.Errorf("start: %w", err)
	}
	out := lostRound{byHow: map[string]int{}}
	var jobIDs []string
	for _, run := range runs {
		var res workflows.PipelineResult
		if err := run.Get(rctx, &res); err != nil {
			out.failed++
			if rctx.Err() != nil {
				return out, fmt.Errorf("pipeline %s: %w", run.GetID(), err)
			}
			continue
		}
		for _, s := range res.Steps {
			if s.CallbackID != "" {
				jobIDs = append(jobIDs, s.CallbackID)
				out.byHow[s.FinishedBy]++
			}
		}
	}
	a1, s1, b1 := statusCalls(env.Sandbox.Stats())
	out.calls, out.single, out.bulk, out.jobs = a1-a0, s1-s0, b1-b0, len(jobIDs)
	ends := env.Sandbox.Ends()
	out.ids, out.ends = jobIDs, ends
	xs, err := env.describe(ctx, jobIDs, 8)
	if err != nil {
		return out, err
	}
	for _, x := range xs {
		end, ok := ends[x.ID]
		if !ok || !x.Closed || x.Status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			return out, fmt.Errorf("job %s: closed %v, status %s, sandbox end known %v", x.ID, x.Closed, x.Status, ok)
		}
		out.lags = append(out.lags, x.Close.Sub(end))
		if sweep := cfg.Timeouts.WithDefaults().Sweep; sweep > 0 {
			out.after = append(out.after, x.Close.Sub(readInstant(end.Add(-cfg.RenderTime), end, sweep)))
		}
	}
	slices.Sort(out.lags)
	return out, nil
}

// readInstant is the sweep read that finds a job created at created and ended at end,
// its webhook lost: the first sweep instant after end, or the grace read after the
// Job's first instant when it was young there and the job ended by that read.
func readInstant(created, end time.Time, sweep time.Duration) time.Time {
	first, grace := created.Truncate(sweep).Add(sweep), workflows.SweepGrace(sweep)
	if first.Sub(created) < grace && !end.After(first.Add(grace)) {
		return first.Add(grace)
	}
	return end.Truncate(sweep).Add(sweep)
}
