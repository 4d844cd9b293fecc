package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// AccountConfig sizes the account benchmark (issue 17): one HeyGen account shared by
// campaigns and one-offs through its scheduler.
type AccountConfig struct {
	Runs       int
	Limit      int           // the account's concurrency; issue 17: 4
	RenderTime time.Duration // issue 17: 5 s
	// UrgentRows is the campaign (a render and one translation each) that an urgent
	// pipeline jumps, UrgentAt after the campaign's start; issue 17: 40 rows, 10 s.
	UrgentRows int
	UrgentAt   time.Duration
	// FairRows is the size of each of the two campaigns started FairGap apart, with
	// OneOffs one-off pipelines started beside them; issue 17: 30 rows, 1 s.
	FairRows int
	FairGap  time.Duration
	OneOffs  int
	// CreditRows pipelines are given credit for CreditRenders renders, then topped up;
	// issue 17: 20 and 10.
	CreditRows, CreditRenders int
	PhaseTimeout              time.Duration
	Env                       EnvConfig
}

// accountRun is what one run of the account benchmark saw.
type accountRun struct {
	urgentWait   time.Duration // urgent pipeline's start to its render's create
	urgent429s   int
	medianGap    float64 // |median completion A - B| / the larger
	jain         float64 // Jain's index of slots held per campaign over the backlog
	busy         float64 // fraction of slots held while Jobs waited
	makespan     float64 // makespan / ideal
	fair429s     int
	fairFailed   int
	creditFailed int // pipelines failed in the credit run
	pausedWait   int // Jobs waiting while paused
	creditDone   int // pipelines completed before the top-up
	creditAll    int // completed after the top-up
	creditDupes  int // callback_ids with more than one HeyGen job
	resumeAll    time.Duration
	trace        slotTrace // the fairness run's slot holds, leg by leg (accounttrace.go)
}

// accountName is the dev stack's account: every scheduler of the benchmark is its.
var schedulerID = workflows.SchedulerWorkflowIDFor(workflows.SandboxAccount)

// RunAccount measures the account scheduler: how long an urgent pipeline waits behind
// a campaign, how two campaigns share the account, how busy its slots are, and how a
// campaign that runs out of credit pauses and resumes.
func RunAccount(ctx context.Context, cfg AccountConfig) (Result, error) {
	res := Result{Name: "account", Title: "6. One HeyGen account: urgent work, fair shares, utilisation, credit", Runs: cfg.Runs, Machine: Machine()}
	var runs []accountRun
	for r := range cfg.Runs {
		var ar accountRun
		for _, step := range []func(context.Context, AccountConfig, *accountRun) error{runUrgent, runFair, runCredit} {
			if err := step(ctx, cfg, &ar); err != nil {
				return res, fmt.Errorf("run %d: %w", r, err)
			}
		}
		cfg.Env.logf("account run %d: %+v", r, ar)
		runs = append(runs, ar)
	}
	res.Rows, res.Notes = accountRows(cfg, runs)
	all := slotTrace{}
	for _, r := range runs {
		all.merge(r.trace)
	}
	res.Notes = append(res.Notes, "where a slot's time goes (fairness runs, every render Job that waited; see bench/accounttrace.go): "+all.String())
	res.Setup = fmt.Sprintf("A fresh dev stack per scenario, account concurrency %d (--heygen-concurrency, the sandbox's own limit set to the same to count 429s), %s renders. "+
		"Urgent: a %d-row campaign (a render and a translation each) then, %s after its start, one pipeline with priority 1; the time from its start to its render's create. "+
		"Fairness and utilisation: two %d-row render-only campaigns started %s apart and %d one-offs; completion times from DescribeWorkflowExecution; slots held per fairness key sampled every 100 ms from the scheduler's queue query while Jobs wait. "+
		"Credit: %d render-only rows with credit for %d renders, then a top-up.",
		cfg.Limit, cfg.RenderTime, cfg.UrgentRows, cfg.UrgentAt, cfg.FairRows, cfg.FairGap, cfg.OneOffs, cfg.CreditRows, cfg.CreditRenders)
	for _, r := range runs {
		res.fact("urgent_429s", float64(r.urgent429s))
		res.fact("fair_429s", float64(r.fair429s))
		res.fact("fair_failed", float64(r.fairFailed))
		res.fact("credit_failed", float64(r.creditFailed))
		res.fact("credit_done_before_topup", float64(r.creditDone))
		res.fact("credit_all", float64(r.creditAll))
		res.fact("credit_dupes", float64(r.creditDupes))
		res.fact("paused_waiting", float64(r.pausedWait))
	}
	return res, nil
}

func accountRows(cfg AccountConfig, runs []accountRun) ([]Row, []string) {
	pick := func(f func(accountRun) float64) Summary {
		out := make([]float64, len(runs))
		for i, r := range runs {
			out[i] = f(r)
		}
		return Summarize(out)
	}
	urgentGoal := (cfg.RenderTime + time.Second).Seconds()
	urgent := pick(func(r accountRun) float64 { return r.urgentWait.Seconds() })
	gap := pick(func(r accountRun) float64 { return r.medianGap * 100 })
	jain := pick(func(r accountRun) float64 { return r.jain })
	busy := pick(func(r accountRun) float64 { return r.busy * 100 })
	span := pick(func(r accountRun) float64 { return r.makespan })
	four29 := pick(func(r accountRun) float64 { return float64(r.urgent429s + r.fair429s) })
	failed := pick(func(r accountRun) float64 { return float64(r.creditFailed) })
	dupes := pick(func(r accountRun) float64 { return float64(r.creditDupes) })
	rows := []Row{
		{Metric: "urgent: start to create, s", Reelflow: urgent, Goal: fmt.Sprintf("<= %s (one render + 1 s)", num(urgentGoal)), Met: goal(urgent.Median <= urgentGoal)},
		{Metric: "fairness: gap between median completions, %", Reelflow: gap, Goal: "<= 10%", Met: goal(gap.Median <= 10)},
		{Metric: "fairness: Jain's index of slots held", Reelflow: jain, Goal: ">= 0.95", Met: goal(jain.Median >= 0.95)},
		{Metric: "utilisation: slots busy while Jobs wait, %", Reelflow: busy, Goal: ">= 95%", Met: goal(busy.Median >= 95)},
		{Metric: "utilisation: makespan / ideal", Reelflow: span, Goal: "<= 1.05", Met: goal(span.Median <= 1.05)},
		{Metric: "concurrency 429s", Reelflow: four29, Goal: "0", Met: goal(four29.Max == 0)},
		{Metric: "credit: failed pipelines", Reelflow: failed, Goal: "0", Met: goal(failed.Max == 0)},
		{Metric: "credit: callback_ids with more than one job", Reelflow: dupes, Goal: "0", Met: goal(dupes.Max == 0)},
		{Metric: "credit: top-up to all completed, s", Reelflow: pick(func(r accountRun) float64 { return r.resumeAll.Seconds() })},
	}
	var notes []string
	for i, r := range runs {
		notes = append(notes, fmt.Sprintf("run %d: credit: %d completed before the top-up, %d waited while paused, %d of %d completed after; fairness run: %d failed",
			i, r.creditDone, r.pausedWait, r.creditAll, cfg.CreditRows, r.fairFailed))
	}
	return rows, notes
}

// accountEnv starts a dev stack whose account has cfg.Limit slots, with the sandbox
// refusing creates past the same limit, so that any overrun shows as a 429.
func accountEnv(ctx context.Context, cfg AccountConfig) (*Env, error) {
	ecfg := cfg.Env
	ecfg.RenderTime = cfg.RenderTime
	// The account's concurrency: EnvConfig.Account, to add with the scheduler's
	// devstack.Config.Account (see the build tag).
	ecfg.Account = activities.Account{Concurrency: cfg.Limit}
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		return nil, err
	}
	env.Sandbox.SetConcurrencyLimit(cfg.Limit)
	return env, nil
}

// campaignInput is row i of a campaign: a render, and a translation when translate.
func campaignInput(campaign string, i int, translate bool) workflows.PipelineInput {
	in := workflows.PipelineInput{
		ID:       fmt.Sprintf("%s-%03d", campaign, i),
		Title:    campaign,
		Video:    videoBody(),
		Timeouts: workflows.Timeouts{PushWindow: time.Hour},
		Schedule: workflows.Schedule{Campaign: campaign},
	}
	if translate {
		in.Translate = &workflows.Translate{Languages: []string{"Spanish (Spain)"}}
	}
	return in
}

// startPipelines starts the inputs from 8 goroutines and returns their runs.
func startPipelines(ctx context.Context, env *Env, ins []workflows.PipelineInput) ([]client.WorkflowRun, error) {
	runs := make([]client.WorkflowRun, len(ins))
	err := startMany(ctx, len(ins), 8, func(ctx context.Context, i int) error {
		run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ins[i].ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, ins[i])
		runs[i] = run
		return err
	})
	return runs, err
}

func campaignInputs(campaign string, n int, translate bool) []workflows.PipelineInput {
	out := make([]workflows.PipelineInput, n)
	for i := range out {
		out[i] = campaignInput(campaign, i, translate)
	}
	return out
}

// runUrgent times an urgent pipeline's wait behind a running campaign.
func runUrgent(ctx context.Context, cfg AccountConfig, ar *accountRun) error {
	env, err := accountEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = env.Close(context.Background()) }()
	phase, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	t0 := time.Now()
	if _, err := startPipelines(phase, env, campaignInputs("urgent-campaign", cfg.UrgentRows, true)); err != nil {
		return fmt.Errorf("start the campaign: %w", err)
	}
	if err := sleepCtx(phase, time.Until(t0.Add(cfg.UrgentAt))); err != nil {
		return err
	}
	urgent := campaignInput("urgent", 0, true)
	urgent.Schedule = workflows.Schedule{Priority: workflows.PriorityHighest}
	t1 := time.Now()
	if _, err := startPipelines(phase, env, []workflows.PipelineInput{urgent}); err != nil {
		return fmt.Errorf("start the urgent pipeline: %w", err)
	}
	render := workflows.JobWorkflowID(urgent.ID, workflows.StepRender)
	for env.Sandbox.Stats().CreatesByCallbackID[render] == 0 {
		if err := sleepCtx(phase, 10*time.Millisecond); err != nil {
			return fmt.Errorf("the urgent render's create: %w", err)
		}
	}
	ar.urgentWait = time.Since(t1)
	ar.urgent429s = env.Sandbox.Stats().ConcurrencyLimited
	cfg.Env.logf("urgent: created %s after its start", ar.urgentWait)
	return nil
}

// queueSample is one reading of the scheduler's queue.
type queueSample struct {
	at      time.Time
	waiting int
	held    map[string]int // by fairness key
	paused  bool
}

// sampleQueue reads the scheduler every interval until ctx ends.
func sampleQueue(ctx context.Context, env *Env, interval time.Duration) func() []queueSample {
	var (
		mu      sync.Mutex
		samples []queueSample
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		for sleepCtx(ctx, interval) == nil {
			st, err := querySchedulerStatus(ctx, env)
			if err != nil {
				continue
			}
			s := queueSample{at: time.Now(), waiting: st.Waiting, held: map[string]int{}, paused: st.Paused}
			for _, h := range st.Held {
				s.held[h.FairnessKey]++
			}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}
	})
	return func() []queueSample {
		wg.Wait()
		return samples
	}
}

// querySchedulerStatus reads the dev stack account's scheduler.
func querySchedulerStatus(ctx context.Context, env *Env) (workflows.SchedulerStatus, error) {
	var st workflows.SchedulerStatus
	v, err := env.Client.QueryWorkflow(ctx, schedulerID, "", workflows.QueryQueue)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// runFair starts two campaigns FairGap apart and some one-offs, and measures how they
// share the account.
func runFair(ctx context.Context, cfg AccountConfig, ar *accountRun) error {
	env, err := accountEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = env.Close(context.Background()) }()
	phase, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	sctx, stopSampling := context.WithCancel(phase)
	defer stopSampling()
	samples := sampleQueue(sctx, env, 100*time.Millisecond)
	t0 := time.Now()
	a, b := campaignInputs("fair-a", cfg.FairRows, false), campaignInputs("fair-b", cfg.FairRows, false)
	runsA, err := startPipelines(phase, env, a)
	if err != nil {
		return err
	}
	// B starts FairGap after A did, not after A's starts returned (30 starts take a
	// second or more on a loaded machine).
	if err := sleepCtx(phase, time.Until(t0.Add(cfg.FairGap))); err != nil {
		return err
	}
	runsB, err := startPipelines(phase, env, b)
	if err != nil {
		return err
	}
	oneOffs := make([]workflows.PipelineInput, cfg.OneOffs)
	for i := range oneOffs {
		oneOffs[i] = campaignInput("one-off", i, false)
		oneOffs[i].Schedule = workflows.Schedule{}
	}
	runsO, err := startPipelines(phase, env, oneOffs)
	if err != nil {
		return err
	}
	all := append(append(append([]client.WorkflowRun{}, runsA...), runsB...), runsO...)
	for _, o := range awaitJobs(phase, all, 32) {
		if o.err != nil {
			ar.fairFailed++
		}
	}
	stopSampling()
	ss := samples()
	ids := func(ins []workflows.PipelineInput) []string {
		out := make([]string, len(ins))
		for i, in := range ins {
			out[i] = in.ID
		}
		return out
	}
	exA, errA := env.describe(phase, ids(a), 16)
	exB, errB := env.describe(phase, ids(b), 16)
	exO, errO := env.describe(phase, ids(oneOffs), 16)
	if err := errors.Join(errA, errB, errO); err != nil {
		return err
	}
	medA, medB := medianClose(exA, t0), medianClose(exB, t0)
	ar.medianGap = math.Abs(medA-medB) / math.Max(medA, medB)
	last := t0
	for _, x := range append(append(exA, exB...), exO...) {
		if x.Close.After(last) {
			last = x.Close
		}
	}
	jobs := 2*cfg.FairRows + cfg.OneOffs
	ideal := float64(jobs) * cfg.RenderTime.Seconds() / float64(cfg.Limit)
	ar.makespan = last.Sub(t0).Seconds() / ideal
	ar.jain, ar.busy = shareFigures(ss, cfg.Limit, "fair-a", "fair-b")
	ar.fair429s = env.Sandbox.Stats().ConcurrencyLimited
	cfg.Env.logf("fair: medians %.1fs %.1fs, Jain %.3f, busy %.3f, makespan/ideal %.3f (last close %.1fs)", medA, medB, ar.jain, ar.busy, ar.makespan, last.Sub(t0).Seconds())
	if ar.trace, err = traceSlots(phase, env, slices.Concat(ids(a), ids(b), ids(oneOffs)), cfg.RenderTime, t0); err != nil {
		return err
	}
	cfg.Env.logf("fair: slot legs: %s", ar.trace)
	return nil
}

// medianClose is the median of the executions' close times, in seconds after t0.
func medianClose(xs []execution, t0 time.Time) float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if x.Closed {
			out = append(out, x.Close.Sub(t0).Seconds())
		}
	}
	return Summarize(out).Median
}

// shareFigures computes, over the samples in which Jobs waited, Jain's index of the
// mean slots held by each of keys, and the mean fraction of the limit held.
func shareFigures(ss []queueSample, limit int, keys ...string) (jain, busy float64) {
	held := make([]float64, len(keys))
	n, busySum := 0, 0.0
	for _, s := range ss {
		if s.waiting == 0 {
			continue
		}
		n++
		total := 0
		for _, h := range s.held {
			total += h
		}
		busySum += float64(total) / float64(limit)
		for i, k := range keys {
			held[i] += float64(s.held[k])
		}
	}
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	return Jain(held), busySum / float64(n)
}

// Jain is Jain's fairness index of xs: (Σx)² / (n·Σx²), 1 when all are equal.
func Jain(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	if s2 == 0 {
		return math.NaN()
	}
	return s * s / (float64(len(xs)) * s2)
}

// runCredit gives a campaign credit for part of its renders, waits until the account
// pauses, then tops it up and waits until every row has completed.
func runCredit(ctx context.Context, cfg AccountConfig, ar *accountRun) error {
	env, err := accountEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = env.Close(context.Background()) }()
	phase, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	if err := env.Sandbox.SetCredits(int64(cfg.CreditRenders)); err != nil {
		return err
	}
	ins := campaignInputs("credit", cfg.CreditRows, false)
	runs, err := startPipelines(phase, env, ins)
	if err != nil {
		return err
	}
	const done = "WorkflowType = 'Pipeline' AND ExecutionStatus = 'Completed'"
	if _, err := env.waitCount(phase, done, cfg.CreditRenders, 100*time.Millisecond); err != nil {
		return fmt.Errorf("the paid renders: %w", err)
	}
	for {
		st, err := querySchedulerStatus(phase, env)
		if err == nil && st.Paused && len(st.Held) == 0 {
			ar.pausedWait = st.Waiting
			break
		}
		if err := sleepCtx(phase, 100*time.Millisecond); err != nil {
			return fmt.Errorf("the pause: %w", err)
		}
	}
	n, err := env.count(phase, done)
	if err != nil {
		return err
	}
	ar.creditDone = int(n)
	topUp := time.Now()
	if err := env.Sandbox.SetCredits(int64(10 * cfg.CreditRows)); err != nil {
		return err
	}
	for _, o := range awaitJobs(phase, runs, 32) {
		if o.err != nil {
			ar.creditFailed++
		} else {
			ar.creditAll++
		}
	}
	ar.resumeAll = time.Since(topUp)
	for _, truth := range env.Sandbox.Stats().JobsByCallbackID {
		if truth.Creates > 1 {
			ar.creditDupes++
		}
	}
	return nil
}
