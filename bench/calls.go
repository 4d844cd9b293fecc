package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// The simulated clock of the API-calls benchmark, before scaling.
const (
	simRender       = 10 * time.Minute
	simBaselinePoll = 5 * time.Second
)

// CallsConfig sizes the API-calls benchmark.
type CallsConfig struct {
	Jobs int // jobs per round and mode; issue 6: 1,000
	// Scale multiplies every simulated time: 0.01 turns the 10-minute render into 6 s.
	Scale float64
	// Timeouts are reelflow's, before scaling; zero fields are the Job's defaults
	// (push window 10 m, polls from 30 s doubling to 5 m).
	Timeouts workflows.Timeouts
	Starters int // concurrent StartWorkflow callers (and baseline creators)
	// BaselineAtOnce bounds the baseline's jobs in flight (each polled by its own
	// goroutine), so that the machine can hold its scaled interval: a thousand pollers at
	// 50 ms are 20,000 GETs a second. Calls per job do not depend on it.
	BaselineAtOnce int
	Runs           int
	Env            EnvConfig
}

// callsRound is what the sandbox counted during one round of one mode.
type callsRound struct {
	calls, single, bulk int
	byHow               map[string]int
	interval            time.Duration // the baseline's mean time between two polls of a job
}

func (r callsRound) perJob(jobs int) float64 { return float64(r.calls) / float64(jobs) }

// scaled multiplies d by s.
func scaled(d time.Duration, s float64) time.Duration { return time.Duration(float64(d) * s) }

// RunCalls counts the HeyGen status calls (single and bulk) that the sandbox answers
// for cfg.Jobs jobs of a 10-minute render, on a clock scaled by cfg.Scale: reelflow with
// webhooks, reelflow with every webhook lost, and the baseline, a client that polls
// each job every 5 s. The baseline is plain goroutines calling GET /v3/videos/{id}, the
// way a script or an n8n flow does: at the scaled interval, Job workflows could not
// keep up on two cores, and the baseline needs no Temporal.
func RunCalls(ctx context.Context, cfg CallsConfig) (Result, error) {
	res := Result{Name: "calls", Title: "3. HeyGen status calls per job", Runs: cfg.Runs, Machine: Machine()}
	t := cfg.Timeouts.WithDefaults()
	t = workflows.Timeouts{
		PushWindow:  scaled(t.PushWindow, cfg.Scale),
		PollInitial: scaled(t.PollInitial, cfg.Scale),
		PollMax:     scaled(t.PollMax, cfg.Scale),
		Sweep:       scaled(t.Sweep, cfg.Scale),
		Deadline:    t.Deadline,
	}
	render := scaled(simRender, cfg.Scale)
	basePoll := scaled(simBaselinePoll, cfg.Scale)
	var ons, losts, bases []callsRound
	for r := range cfg.Runs {
		on, lost, base, err := runCallsOnce(ctx, cfg, r, t, render, basePoll)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", r, err)
		}
		ons, losts, bases = append(ons, on), append(losts, lost), append(bases, base)
	}

	per := func(rs []callsRound) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = r.perJob(cfg.Jobs)
		}
		return out
	}
	on, lost, base := Summarize(per(ons)), Summarize(per(losts)), Summarize(per(bases))
	onRatio := Summarize(Ratios(per(ons), per(bases)))
	lostRatio := Summarize(Ratios(per(losts), per(bases)))
	res.Setup = fmt.Sprintf("%d jobs per round and mode. Clock scaled by %g: the 10-minute render takes %s; reelflow's push window %s, polls from %s doubling to %s (its defaults 10m, 30s, 5m, scaled); the baseline polls every %s (5 s scaled) from the create on. Status calls are the sandbox's own count of GET /v3/videos/{id} and GET /v3/videos/statuses (Stats.Polls). Lost: the sandbox drops every webhook (SetDropRate(1)). Ratio = reelflow / baseline.",
		cfg.Jobs, cfg.Scale, render, t.PushWindow, t.PollInitial, t.PollMax, basePoll)
	res.Rows = []Row{
		{Metric: "status calls per job, webhooks on", Reelflow: on, Baseline: &base, Ratio: &onRatio, Goal: "<= 1", Met: goal(on.Median <= 1)},
		{Metric: "status calls per job, 100% webhooks lost", Reelflow: lost, Baseline: &base, Ratio: &lostRatio, Goal: "ratio <= 1/50 (0.02)", Met: goal(lostRatio.Median <= 1.0/50)},
	}
	for i := range ons {
		res.fact("jobs", float64(cfg.Jobs))
		res.fact("on_calls", float64(ons[i].calls))
		res.fact("on_single", float64(ons[i].single))
		res.fact("lost_calls", float64(losts[i].calls))
		res.fact("baseline_calls", float64(bases[i].calls))
		res.fact("on_completed", float64(ons[i].byHow[workflows.FinishedByWebhook]+ons[i].byHow[workflows.FinishedByPoll]))
		res.fact("lost_completed", float64(losts[i].byHow[workflows.FinishedByWebhook]+losts[i].byHow[workflows.FinishedByPoll]))
	}
	var ivs []float64
	for _, b := range bases {
		ivs = append(ivs, ms(b.interval))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("The baseline polled %d jobs at a time; its measured mean interval between polls of a job was %s ms (nominal %s ms): where it is above nominal, the machine could not keep up and the baseline's count is too low, which favours the baseline.", cfg.BaselineAtOnce, Summarize(ivs), num(ms(basePoll))))
	split := func(name string, rs []callsRound) string {
		s, b := 0, 0
		how := map[string]int{}
		for _, r := range rs {
			s += r.single
			b += r.bulk
			for k, v := range r.byHow {
				how[k] += v
			}
		}
		return fmt.Sprintf("%s: %d single and %d bulk status calls in all runs; jobs finished: %v.", name, s, b, how)
	}
	res.Notes = append(res.Notes, split("webhooks on", ons), split("webhooks lost", losts), split("baseline", bases),
		fmt.Sprintf("Nominal baseline: a %s render polled every %s costs about %.0f calls per job; the measured figure is what the sandbox counted.", render, basePoll, float64(render)/float64(basePoll)+1))
	return res, nil
}

// runCallsOnce runs the three modes on a fresh stack.
func runCallsOnce(ctx context.Context, cfg CallsConfig, r int, t workflows.Timeouts, render, basePoll time.Duration) (on, lost, base callsRound, err error) {
	ecfg := cfg.Env
	ecfg.RenderTime = render
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		return on, lost, base, err
	}
	defer func() { _ = env.Close(context.Background()) }()
	cfg.Env.logf("calls run %d: webhooks on", r)
	if on, err = callsJobsRound(ctx, env, fmt.Sprintf("on%d", r), t, cfg, 0); err != nil {
		return on, lost, base, fmt.Errorf("webhooks on: %w", err)
	}
	cfg.Env.logf("calls run %d: %d calls; webhooks lost", r, on.calls)
	if lost, err = callsJobsRound(ctx, env, fmt.Sprintf("lost%d", r), t, cfg, 1); err != nil {
		return on, lost, base, fmt.Errorf("webhooks lost: %w", err)
	}
	cfg.Env.logf("calls run %d: %d calls; baseline", r, lost.calls)
	if base, err = callsBaselineRound(ctx, env, fmt.Sprintf("base%d", r), cfg, basePoll); err != nil {
		return on, lost, base, fmt.Errorf("baseline: %w", err)
	}
	cfg.Env.logf("calls run %d: %d calls", r, base.calls)
	return on, lost, base, nil
}

// statusCalls reads the sandbox's status-call counters.
func statusCalls(s sandbox.Stats) (all, single, bulk int) {
	return s.Polls, s.StatusCalls + s.TranslationStatusCalls, s.BulkStatusCalls + s.TranslationBulkStatusCalls
}

// callsJobsRound runs cfg.Jobs Job workflows with the sandbox dropping the given share
// of webhooks, and counts the status calls they made.
func callsJobsRound(ctx context.Context, env *Env, prefix string, t workflows.Timeouts, cfg CallsConfig, drop float64) (callsRound, error) {
	env.Sandbox.SetDropRate(drop)
	defer env.Sandbox.SetDropRate(0)
	a0, s0, b0 := statusCalls(env.Sandbox.Stats())
	runs := make([]client.WorkflowRun, cfg.Jobs)
	err := startMany(ctx, cfg.Jobs, cfg.Starters, func(ctx context.Context, i int) error {
		run, err := startJob(ctx, env, prefix, i, t)
		runs[i] = run
		return err
	})
	if err != nil {
		return callsRound{}, err
	}
	byHow, err := tally(awaitJobs(ctx, runs, 200))
	if err != nil {
		return callsRound{}, err
	}
	a1, s1, b1 := statusCalls(env.Sandbox.Stats())
	return callsRound{calls: a1 - a0, single: s1 - s0, bulk: b1 - b0, byHow: byHow}, nil
}

// callsBaselineRound creates cfg.Jobs videos and polls each one every interval until it
// is done, as a client without webhooks does, and counts the status calls.
func callsBaselineRound(ctx context.Context, env *Env, prefix string, cfg CallsConfig, interval time.Duration) (callsRound, error) {
	env.Sandbox.SetDropRate(1) // nobody listens; spare the receiver the late events
	defer env.Sandbox.SetDropRate(0)
	a0, s0, b0 := statusCalls(env.Sandbox.Stats())
	sem := make(chan struct{}, cfg.Starters)
	atOnce := make(chan struct{}, max(cfg.BaselineAtOnce, 1))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     int
		polling  time.Duration // summed over jobs: first poll's wait to the last poll
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for i := range cfg.Jobs {
		atOnce <- struct{}{}
		wg.Go(func() {
			defer func() { <-atOnce }()
			sem <- struct{}{}
			v, err := env.HeyGen.CreateVideo(ctx, heygen.CreateVideoRequest{Body: videoBody(), IdempotencyKey: fmt.Sprintf("%s-%d", prefix, i)})
			<-sem
			if err != nil {
				fail(fmt.Errorf("create: %w", err))
				return
			}
			began := time.Now()
			defer func() {
				mu.Lock()
				polling += time.Since(began)
				mu.Unlock()
			}()
			for {
				if err := sleepCtx(ctx, interval); err != nil {
					fail(err)
					return
				}
				got, err := env.HeyGen.GetVideo(ctx, v.VideoID)
				if err != nil {
					fail(fmt.Errorf("get %s: %w", v.VideoID, err))
					return
				}
				if got.Status == heygen.StatusCompleted || got.Status == heygen.StatusFailed {
					mu.Lock()
					done++
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return callsRound{}, firstErr
	}
	a1, s1, b1 := statusCalls(env.Sandbox.Stats())
	r := callsRound{calls: a1 - a0, single: s1 - s0, bulk: b1 - b0, byHow: map[string]int{"poll": done}}
	if r.calls > 0 {
		r.interval = polling / time.Duration(r.calls)
	}
	return r, nil
}
