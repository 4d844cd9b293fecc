package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// ProgressConfig sizes the event-to-progress benchmark.
type ProgressConfig struct {
	Jobs int     // jobs per round and mode; issue 6: at least 300
	Rate float64 // jobs started per second, steadily
	// RenderTime plus an exponential tail of mean RenderTail is each render's length, so
	// that renders end at random moments between the baseline's polls.
	RenderTime, RenderTail time.Duration
	// BaselinePoll is the baseline's fixed poll interval; issue 6: 5 s.
	BaselinePoll time.Duration
	Runs         int
	Env          EnvConfig
}

// progressRound is one round of one mode.
type progressRound struct {
	lat   []time.Duration
	byHow map[string]int
}

// RunProgress measures the time from a job's webhook to its Job workflow's completion
// being visible to a client (run.Get returning), against the same jobs with webhooks
// off and a fixed poll interval, measured from the end of the render, which is when the
// sandbox posts the (swallowed) webhook. Rounds alternate: webhooks, then polling.
func RunProgress(ctx context.Context, cfg ProgressConfig) (Result, error) {
	res := Result{Name: "progress", Title: "2. Event to progress: webhook vs fixed-interval polling", Runs: cfg.Runs, Machine: Machine()}
	baseline := workflows.Timeouts{PushWindow: time.Millisecond, PollInitial: cfg.BaselinePoll, PollMax: cfg.BaselinePoll}
	var pushes, polls []progressRound
	for r := range cfg.Runs {
		p, b, err := runProgressOnce(ctx, cfg, r, baseline)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", r, err)
		}
		pushes, polls = append(pushes, p), append(polls, b)
	}

	pct := func(rs []progressRound, p float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = Percentile(r.lat, p)
		}
		return out
	}
	p50, p99 := pct(pushes, 50), pct(pushes, 99)
	b50, b99 := pct(polls, 50), pct(polls, 99)
	speed50 := Summarize(Ratios(b50, p50))
	speed99 := Summarize(Ratios(b99, p99))
	r50, r99 := Summarize(p50), Summarize(p99)
	res.Setup = fmt.Sprintf("%d Job workflows per round and mode, started at %.0f/s; each render takes %s plus an exponential tail of mean %s (sandbox RenderTail), so renders end at random moments. Webhooks: default Timeouts, the sandbox's webhook goes through the tap to the receiver; latency = run.Get returning minus the moment the sandbox posted the webhook. Baseline: the same Job workflows with the tap swallowing every webhook and Timeouts{PushWindow: 1ms, PollInitial = PollMax = %s}, a fixed-interval poller like HeyGen's CLI and n8n flows; latency = run.Get returning minus the moment the render ended (when the sandbox posted the swallowed webhook). Ratio = baseline / reelflow.",
		cfg.Jobs, cfg.Rate, cfg.RenderTime, cfg.RenderTail, cfg.BaselinePoll)
	res.Rows = []Row{
		{Metric: "p50, ms", Reelflow: r50, Baseline: sum(Summarize(b50)), Ratio: &speed50, Goal: "<= 150 ms, ratio >= 15", Met: goal(r50.Median <= 150 && speed50.Median >= 15)},
		{Metric: "p99, ms", Reelflow: r99, Baseline: sum(Summarize(b99)), Ratio: &speed99, Goal: "<= 500 ms", Met: goal(r99.Median <= 500)},
	}
	var how, bhow = map[string]int{}, map[string]int{}
	for i := range pushes {
		for k, v := range pushes[i].byHow {
			how[k] += v
		}
		for k, v := range polls[i].byHow {
			bhow[k] += v
		}
	}
	res.fact("jobs", float64(cfg.Jobs*cfg.Runs))
	res.fact("webhook_rounds_by_webhook", float64(how[workflows.FinishedByWebhook]))
	res.fact("baseline_rounds_by_poll", float64(bhow[workflows.FinishedByPoll]))
	res.Notes = append(res.Notes, fmt.Sprintf("Jobs finished, webhook rounds: %v; baseline rounds: %v.", how, bhow))
	return res, nil
}

// runProgressOnce runs a webhook round, then a polling round, on a fresh stack: the
// sandbox rewrites its whole state file after every change, so a stack that has kept
// thousands of finished jobs costs more CPU than a new one.
func runProgressOnce(ctx context.Context, cfg ProgressConfig, r int, baseline workflows.Timeouts) (push, poll progressRound, err error) {
	ecfg := cfg.Env
	ecfg.RenderTime = cfg.RenderTime
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		return push, poll, err
	}
	defer func() { _ = env.Close(context.Background()) }()
	env.Sandbox.SetFaults(sandbox.Faults{RenderTail: cfg.RenderTail})
	posted := 0
	cfg.Env.logf("progress run %d: webhook round", r)
	if push, err = runProgressRound(ctx, env, fmt.Sprintf("push%d", r), TapForward, workflows.Timeouts{}, cfg, &posted); err != nil {
		return push, poll, fmt.Errorf("webhook round: %w", err)
	}
	cfg.Env.logf("progress run %d: webhook p50 %.0f ms p99 %.0f ms; polling round", r, Percentile(push.lat, 50), Percentile(push.lat, 99))
	if poll, err = runProgressRound(ctx, env, fmt.Sprintf("poll%d", r), TapSwallow, baseline, cfg, &posted); err != nil {
		return push, poll, fmt.Errorf("polling round: %w", err)
	}
	cfg.Env.logf("progress run %d: polling p50 %.0f ms p99 %.0f ms", r, Percentile(poll.lat, 50), Percentile(poll.lat, 99))
	return push, poll, nil
}

// runProgressRound starts cfg.Jobs Jobs at cfg.Rate with the tap in mode and waits for
// them all. posted counts the webhooks the sandbox has posted so far, so that the next
// round begins only after this round's last webhook went through the tap in this mode.
func runProgressRound(ctx context.Context, env *Env, prefix string, mode TapMode, t workflows.Timeouts, cfg ProgressConfig, posted *int) (progressRound, error) {
	env.Tap.SetMode(mode)
	// Each job's wait begins as soon as it is started, so that its Get returns when the
	// job closes and not when the harness gets round to asking.
	outs := make([]outcome, cfg.Jobs)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
	defer tick.Stop()
	for i := range outs {
		run, err := startJob(ctx, env, prefix, i, t)
		if err != nil {
			wg.Wait()
			return progressRound{}, err
		}
		wg.Go(func() { outs[i] = awaitJob(ctx, run) })
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	wg.Wait()
	byHow, err := tally(outs)
	if err != nil {
		return progressRound{}, err
	}
	*posted += cfg.Jobs
	if _, err := waitTap(ctx, env.Tap, func(c TapCounts) bool { return c.Received >= *posted }); err != nil {
		return progressRound{}, fmt.Errorf("waiting for the round's webhooks: %w", err)
	}
	r := progressRound{byHow: byHow}
	for _, o := range outs {
		at, ok := env.Tap.PostedAt(o.id)
		if !ok {
			return r, fmt.Errorf("%s finished but its webhook was never posted", o.id)
		}
		r.lat = append(r.lat, o.done.Sub(at))
	}
	return r, nil
}
