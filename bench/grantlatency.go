package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// Grant latency with a long queue (issue 17: "p99 <= 1 s from a release to the next
// grant, with 5,000 waiting").
//
// A fresh dev stack whose account has Limit slots. The account is held while the queue
// fills: the sandbox has no credit, so the first creates are refused with 402, the
// scheduler pauses and every Job that asks waits. Jobs (real Job workflows, each asking
// the real scheduler through CreateJob's SlotRequired and AcquireSlot, spread over Keys
// campaigns) are started until all of them wait, Waiting + Measure + 2*Limit in all.
// Then the account is topped up: the scheduler resumes at its next balance read and
// grants, renders take RenderTime, and each release is followed by a grant while the
// queue drains from Waiting + Measure down past Waiting.
//
// The figures come from the scheduler's own history, every run of it (the chain of
// continue-as-new runs, followed back through ContinuedExecutionRunId): each release
// of a held slot (WorkflowExecutionSignaled, SignalSlotRelease) is paired, first in
// first out, with the next new grant (SignalExternalWorkflowExecutionInitiated,
// SignalSlotGrant, to a Job not already holding). The queue depth at each event is
// rebuilt from the same history (acquires queued, refusals back in, grants out), and
// only releases at a depth of at least Waiting count. Each pair is split into legs: the
// release to the workflow task scheduled after it, that task's schedule-to-start, its
// run, and the time from its completion to the grant (0 when the task that took the
// release in sent the grant); a pair whose grant lies in a later run crossed a
// continue-as-new.
//
// Client-visible, from the Jobs' own histories and the tap: a Job's release sent to
// the grant's arrival in the next Job ("Job to Job"), and the sandbox's webhook post of
// the released render to the next Job's create completed ("account idle": how long
// HeyGen's slot stood free).

// GrantLatencyConfig sizes the benchmark.
type GrantLatencyConfig struct {
	Runs int
	// Waiting is the queue depth at or above which releases are measured; issue 17: 5,000.
	Waiting int
	// Measure is about how many releases are measured per run.
	Measure    int
	Limit      int           // the account's concurrency
	RenderTime time.Duration // the sandbox's render time
	// Keys is how many campaigns (fairness keys) the Jobs are spread over, round robin.
	Keys     int
	Starters int // concurrent StartWorkflow callers
	// TopUpAfter, when set, holds the top-up until that long after the first start even
	// when every Job waits sooner: 5 min 30 s puts the measured releases in the waiting
	// Jobs' first re-ask (permitRefresh, 5 min after each asked). Zero tops up as soon as
	// all wait.
	TopUpAfter time.Duration
	// PhaseTimeout bounds each phase: the fill, the drain past Waiting, the teardown.
	PhaseTimeout time.Duration
	Env          EnvConfig
}

// jobs is how many Jobs a run starts.
func (c GrantLatencyConfig) jobs() int { return c.Waiting + c.Measure + 2*c.Limit }

// grantPair is one release of a held slot and the grant that reused it.
type grantPair struct {
	release, grant    time.Time
	releaser, grantee string // workflow IDs
	depth             int    // Jobs waiting when the release came in
	crossedCAN        bool
	// The legs, when the release's run has a workflow task after it.
	inFlight, queued, taskRun, afterTask time.Duration
	legs                                 bool
}

// grantRun is what one run saw.
type grantRun struct {
	fill                  time.Duration // first start to all waiting
	pairs                 []grantPair   // releases at depth >= Waiting
	runs                  int           // scheduler runs in the chain
	cansInWindow          int           // runs started between the first and last measured event
	acquiresInWindow      int           // acquire signals (re-asks included) in the window
	grantFailed           int           // grants not delivered (SignalExternal failed)
	taskFailed            int           // workflow tasks failed or timed out, whole chain
	taskFailedInWindow    int
	windowQueue           []time.Duration // schedule-to-start of the scheduler's tasks in the window
	fillLongest           time.Duration   // the longest schedule-to-start before the window
	jobToJob, accountIdle []time.Duration
	depthAtResume         int // the query's Waiting when the account was topped up
	four29s               int
	teardown              time.Duration
	terminated            int
}

// RunGrantLatency measures the account scheduler's release-to-grant latency with a
// queue of cfg.Waiting Jobs or more: see the comment at the top of this file.
func RunGrantLatency(ctx context.Context, cfg GrantLatencyConfig) (Result, error) {
	res := Result{Name: "grantlat", Title: "Issue 17: release to next grant, with 5,000 Jobs waiting", Runs: cfg.Runs, Machine: Machine()}
	var runs []grantRun
	for r := range cfg.Runs {
		gr, err := runGrantLatencyOnce(ctx, cfg)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", r, err)
		}
		cfg.Env.logf("grantlat run %d: %s", r, gr.summary())
		runs = append(runs, gr)
	}
	res.Setup = fmt.Sprintf("A fresh dev stack per run (in-process Temporal, worker, receiver, sandbox over HTTP), account concurrency %d, %s renders. "+
		"%d Job workflows (render steps, spread over %d campaigns) started by %d callers while the account is held (no credit: the first creates are refused, the scheduler pauses); "+
		"once all of them wait, the account is topped up and the queue drains. Latency: the scheduler's history, every continue-as-new run of it, "+
		"from a release signal of a held slot to the next new grant it sends (paired first in first out), counting releases while >= %d Jobs wait (the depth rebuilt from the same history). "+
		"Client-visible: a Job's release sent to the grant's arrival in the next Job; the sandbox's webhook post of the released render to the next Job's create completed.",
		cfg.Limit, cfg.RenderTime, cfg.jobs(), cfg.Keys, cfg.Starters, cfg.Waiting)
	if cfg.TopUpAfter > 0 {
		res.Setup += fmt.Sprintf(" The top-up is held until %s after the first start, so that the measured releases fall in the waiting Jobs' first re-ask (5 min after each asked).", cfg.TopUpAfter)
	}
	pick := func(f func(grantRun) float64) Summary {
		out := make([]float64, len(runs))
		for i, r := range runs {
			out[i] = f(r)
		}
		return Summarize(out)
	}
	lat := func(p float64) func(grantRun) float64 {
		return func(r grantRun) float64 { return Percentile(r.latencies(), p) }
	}
	p99 := pick(lat(99))
	res.Rows = []Row{
		{Metric: "release -> next grant p50, ms", Reelflow: pick(lat(50))},
		{Metric: "release -> next grant p90, ms", Reelflow: pick(lat(90))},
		{Metric: "release -> next grant p99, ms", Reelflow: p99, Goal: "<= 1000 ms", Met: goal(p99.Median <= 1000)},
		{Metric: "release -> next grant max, ms", Reelflow: pick(lat(100))},
		{Metric: "releases measured", Reelflow: pick(func(r grantRun) float64 { return float64(len(r.pairs)) })},
		{Metric: "queue depth at those releases, min", Reelflow: pick(func(r grantRun) float64 { return float64(r.depthRange()[0]) })},
		{Metric: "queue depth at those releases, max", Reelflow: pick(func(r grantRun) float64 { return float64(r.depthRange()[1]) })},
		{Metric: "continue-as-new in the window", Reelflow: pick(func(r grantRun) float64 { return float64(r.cansInWindow) })},
		{Metric: "acquire signals in the window (re-asks)", Reelflow: pick(func(r grantRun) float64 { return float64(r.acquiresInWindow) })},
		{Metric: "scheduler task schedule-to-start in the window p99, ms", Reelflow: pick(func(r grantRun) float64 { return Percentile(r.windowQueue, 99) })},
		{Metric: "Job to Job (release sent -> grant in the next Job) p50, ms", Reelflow: pick(func(r grantRun) float64 { return Percentile(r.jobToJob, 50) })},
		{Metric: "Job to Job p99, ms", Reelflow: pick(func(r grantRun) float64 { return Percentile(r.jobToJob, 99) })},
		{Metric: "account idle (webhook post -> next create done) p50, ms", Reelflow: pick(func(r grantRun) float64 { return Percentile(r.accountIdle, 50) })},
		{Metric: "account idle p99, ms", Reelflow: pick(func(r grantRun) float64 { return Percentile(r.accountIdle, 99) })},
		{Metric: "fill: first start -> all waiting, s", Reelflow: pick(func(r grantRun) float64 { return r.fill.Seconds() })},
	}
	var all []time.Duration
	for i, r := range runs {
		all = append(all, r.latencies()...)
		res.Notes = append(res.Notes, fmt.Sprintf("run %d: %s", i, r.summary()))
		res.fact("pairs", float64(len(r.pairs)))
		res.fact("429s", float64(r.four29s))
		res.fact("grant_failed", float64(r.grantFailed))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("all runs pooled: %d releases, p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms",
		len(all), Percentile(all, 50), Percentile(all, 90), Percentile(all, 99), Percentile(all, 100)))
	return res, nil
}

func (r grantRun) latencies() []time.Duration {
	out := make([]time.Duration, len(r.pairs))
	for i, p := range r.pairs {
		out[i] = p.grant.Sub(p.release)
	}
	return out
}

func (r grantRun) depthRange() [2]int {
	if len(r.pairs) == 0 {
		return [2]int{}
	}
	lo, hi := math.MaxInt, 0
	for _, p := range r.pairs {
		lo, hi = min(lo, p.depth), max(hi, p.depth)
	}
	return [2]int{lo, hi}
}

// summary is one line of the run's figures and legs.
func (r grantRun) summary() string {
	lat := r.latencies()
	var b strings.Builder
	d := r.depthRange()
	fmt.Fprintf(&b, "fill %.0f s (%d waiting at the top-up); %d releases at depth %d-%d: p50 %.0f / p90 %.0f / p99 %.0f / max %.0f ms; ",
		r.fill.Seconds(), r.depthAtResume, len(r.pairs), d[0], d[1], Percentile(lat, 50), Percentile(lat, 90), Percentile(lat, 99), Percentile(lat, 100))
	var inFlight, queued, run, after, can []time.Duration
	for _, p := range r.pairs {
		if p.crossedCAN {
			can = append(can, p.grant.Sub(p.release))
			continue
		}
		if p.legs {
			inFlight, queued, run, after = append(inFlight, p.inFlight), append(queued, p.queued), append(run, p.taskRun), append(after, p.afterTask)
		}
	}
	leg := func(name string, xs []time.Duration) {
		fmt.Fprintf(&b, "%s p50 %.0f / p99 %.0f / max %.0f ms; ", name, Percentile(xs, 50), Percentile(xs, 99), Percentile(xs, 100))
	}
	leg("legs: behind a task in flight", inFlight)
	leg("task queued (schedule-to-start)", queued)
	leg("task run", run)
	leg("task done -> grant", after)
	fmt.Fprintf(&b, "%d crossed a continue-as-new (%s); ", len(can), msList(can))
	fmt.Fprintf(&b, "scheduler runs %d, %d continue-as-new in the window, %d acquire signals in the window, %d grants undelivered, %d workflow tasks failed/timed out (%d in the window); ",
		r.runs, r.cansInWindow, r.acquiresInWindow, r.grantFailed, r.taskFailed, r.taskFailedInWindow)
	fmt.Fprintf(&b, "scheduler task schedule-to-start in the window p50 %.0f / p99 %.0f / max %.0f ms (n %d), longest before it (the fill) %.1f s; ",
		Percentile(r.windowQueue, 50), Percentile(r.windowQueue, 99), Percentile(r.windowQueue, 100), len(r.windowQueue), r.fillLongest.Seconds())
	fmt.Fprintf(&b, "Job to Job p50 %.0f / p99 %.0f ms (n %d); account idle p50 %.0f / p99 %.0f ms (n %d); 429s %d; teardown %.0f s (%d terminated)",
		Percentile(r.jobToJob, 50), Percentile(r.jobToJob, 99), len(r.jobToJob), Percentile(r.accountIdle, 50), Percentile(r.accountIdle, 99), len(r.accountIdle),
		r.four29s, r.teardown.Seconds(), r.terminated)
	return b.String()
}

func msList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.0f ms", ms(d))
	}
	return strings.Join(parts, ", ")
}

// runGrantLatencyOnce is one run on a fresh stack: the fill with the account held, the
// drain past Waiting after the top-up, and the reading of the histories. Whatever
// happens, the workflows left are terminated before the stack stops.
func runGrantLatencyOnce(ctx context.Context, cfg GrantLatencyConfig) (gr grantRun, err error) {
	ecfg := cfg.Env
	ecfg.RenderTime = cfg.RenderTime
	ecfg.Account = activities.Account{Concurrency: cfg.Limit}
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		return gr, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if cerr := env.Close(cctx); cerr != nil && err == nil {
			cfg.Env.logf("grantlat: close: %v", cerr)
		}
	}()
	if err := holdAccount(env, cfg.Limit); err != nil {
		return gr, err
	}
	n := cfg.jobs()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = jobID("grantlat", i)
	}
	// Whatever happens below, what is left is terminated before the stack stops.
	defer func() { gr.terminated, gr.teardown = teardownGrantLatency(cfg, env, ids) }()

	if err := fillGrantQueue(ctx, cfg, env, ids, &gr); err != nil {
		return gr, err
	}
	if gr.four29s, err = drainPastWaiting(ctx, cfg, env); err != nil {
		return gr, err
	}
	err = readGrantFigures(ctx, cfg, env, &gr)
	return gr, err
}

// holdAccount gives the sandbox's account limit slots and no credit, so that the first
// creates are refused and the scheduler pauses with every Job that asks waiting.
func holdAccount(env *Env, limit int) error {
	env.Sandbox.SetConcurrencyLimit(limit)
	return env.Sandbox.SetCredits(0)
}

// teardownGrantLatency terminates the scheduler and the Jobs of ids that still run,
// within PhaseTimeout, and returns how many it terminated and how long that took.
func teardownGrantLatency(cfg GrantLatencyConfig, env *Env, ids []string) (int, time.Duration) {
	t := time.Now()
	tctx, cancel := context.WithTimeout(context.Background(), cfg.PhaseTimeout)
	defer cancel()
	terminated := terminateAll(tctx, env, append([]string{schedulerID}, ids...), 16)
	took := time.Since(t)
	cfg.Env.logf("grantlat: %d workflows terminated in %s", terminated, took.Round(time.Second))
	return terminated, took
}

// fillGrantQueue is the fill: it starts the Jobs of ids on the held account, waits until
// every one of them waits, and then, when TopUpAfter is set, until that long after the
// first start. It sets gr.fill and gr.depthAtResume. The whole phase is bounded by
// PhaseTimeout.
func fillGrantQueue(ctx context.Context, cfg GrantLatencyConfig, env *Env, ids []string, gr *grantRun) error {
	phase, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	t0 := time.Now()
	if err := startGrantJobs(phase, cfg, env, ids); err != nil {
		return fmt.Errorf("start %d Jobs: %w", len(ids), err)
	}
	cfg.Env.logf("grantlat: %d Jobs started in %s", len(ids), time.Since(t0).Round(time.Second))
	depth, err := awaitAllWaiting(phase, cfg, env, len(ids))
	if err != nil {
		return err
	}
	gr.depthAtResume = depth
	gr.fill = time.Since(t0)
	cfg.Env.logf("grantlat: all %d waiting after %s", gr.depthAtResume, gr.fill.Round(time.Second))
	if cfg.TopUpAfter > 0 {
		// The re-asks are on the Jobs' timers: the wait is for a time, not an event.
		if err := sleepCtx(phase, time.Until(t0.Add(cfg.TopUpAfter))); err != nil {
			return err
		}
	}
	cfg.Env.logf("grantlat: topping up %s after the first start", time.Since(t0).Round(time.Second))
	return nil
}

// startGrantJobs starts one render Job per id, Starters at a time, spread round robin
// over Keys campaigns.
func startGrantJobs(ctx context.Context, cfg GrantLatencyConfig, env *Env, ids []string) error {
	return startMany(ctx, len(ids), cfg.Starters, func(ctx context.Context, i int) error {
		id := ids[i]
		pipelineID, _, _ := workflows.ParseJobWorkflowID(id)
		_, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.Job, workflows.JobInput{
			PipelineID: pipelineID, Step: workflows.StepRender, Kind: workflows.KindVideo, Body: videoBody(),
			Timeouts: workflows.Timeouts{PushWindow: time.Hour},
			Schedule: workflows.Schedule{Campaign: fmt.Sprintf("grantlat-%d", i%max(cfg.Keys, 1))},
		})
		return err
	})
}

// awaitAllWaiting polls the scheduler's status until it is paused, holds no slot and
// has n Jobs or more waiting, and returns how many wait.
func awaitAllWaiting(ctx context.Context, cfg GrantLatencyConfig, env *Env, n int) (int, error) {
	lastLog := time.Now()
	for {
		st, qerr := querySchedulerStatus(ctx, env)
		if qerr == nil && st.Paused && len(st.Held) == 0 && st.Waiting >= n {
			return st.Waiting, nil
		}
		if time.Since(lastLog) > 15*time.Second {
			cfg.Env.logf("grantlat: filling: %d waiting, %d held, paused %v (query error: %v)", st.Waiting, len(st.Held), st.Paused, qerr)
			lastLog = time.Now()
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return 0, fmt.Errorf("fill: %d of %d waiting: %w", st.Waiting, n, err)
		}
	}
}

// drainPastWaiting is the drain: it tops the account up and waits, within
// PhaseTimeout, until the grants have taken the queue below Waiting (counted in the
// sandbox's creates). It returns the sandbox's 429s.
func drainPastWaiting(ctx context.Context, cfg GrantLatencyConfig, env *Env) (int, error) {
	if err := env.Sandbox.SetCredits(1 << 40); err != nil {
		return 0, err
	}
	drain, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	want := cfg.jobs() - cfg.Waiting + 2*cfg.Limit
	for env.Sandbox.Stats().Creates < want {
		if err := sleepCtx(drain, 200*time.Millisecond); err != nil {
			return 0, fmt.Errorf("drain: %d of %d creates: %w", env.Sandbox.Stats().Creates, want, err)
		}
	}
	cfg.Env.logf("grantlat: %d creates; reading the histories", want)
	return env.Sandbox.Stats().ConcurrencyLimited, nil
}

// readGrantFigures reads the scheduler's chain of runs and the Jobs' histories, within
// PhaseTimeout, into gr's figures.
func readGrantFigures(ctx context.Context, cfg GrantLatencyConfig, env *Env, gr *grantRun) error {
	read, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	chain, err := schedulerChain(read, env)
	if err != nil {
		return err
	}
	gr.runs = len(chain)
	readSchedulerChain(chain, cfg.Waiting, gr)
	if len(gr.pairs) == 0 {
		return errors.New("no release measured at the wanted depth")
	}
	gr.jobToJob, gr.accountIdle, err = clientVisible(read, env, gr.pairs)
	return err
}

// schedulerChain reads every run of the account's scheduler, oldest first, following
// each run's ContinuedExecutionRunId back from the latest.
func schedulerChain(ctx context.Context, env *Env) ([][]*historypb.HistoryEvent, error) {
	var chain [][]*historypb.HistoryEvent
	runID := ""
	for {
		it := env.Client.GetWorkflowHistory(ctx, schedulerID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var evs []*historypb.HistoryEvent
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("history of %s run %q: %w", schedulerID, runID, err)
			}
			evs = append(evs, ev)
		}
		if len(evs) == 0 {
			return nil, fmt.Errorf("history of %s run %q is empty", schedulerID, runID)
		}
		chain = append(chain, evs)
		runID = evs[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		if runID == "" {
			slices.Reverse(chain)
			return chain, nil
		}
	}
}

// pendingRelease is a release of a held slot waiting for the grant that reuses it.
type pendingRelease struct {
	at       time.Time
	id       string
	depth    int // Jobs waiting when the release came in
	run, idx int // where in the chain it came in
	// The legs to the workflow task that took it in, when legs is set (see taskAfter).
	inFlight time.Duration
	queued   time.Duration
	task     time.Duration
	taskDone time.Time
	legs     bool
}

// chainReader walks a scheduler's chain of runs event by event, rebuilding who holds a
// slot and who waits, and pairs each release with the next new grant.
type chainReader struct {
	dc       converter.DataConverter
	minDepth int // releases at a lower depth are paired but not kept
	gr       *grantRun
	holders  map[string]bool
	waiting  map[string]bool
	fifo     []pendingRelease // releases not yet paired, first in first out
	// When things happened, for the counts in the measured window.
	runStarts, acquireTimes, failTimes []time.Time
}

// readSchedulerChain pairs the releases with the grants, rebuilding the queue's depth,
// and fills gr's scheduler figures.
func readSchedulerChain(chain [][]*historypb.HistoryEvent, minDepth int, gr *grantRun) {
	cr := &chainReader{
		dc:       converter.GetDefaultDataConverter(),
		minDepth: minDepth,
		gr:       gr,
		holders:  map[string]bool{},
		waiting:  map[string]bool{},
	}
	for r, evs := range chain {
		cr.runStarts = append(cr.runStarts, evs[0].GetEventTime().AsTime())
		for i := range evs {
			cr.event(evs, r, i)
		}
	}
	if len(gr.pairs) == 0 {
		return
	}
	from, to := gr.pairs[0].release, gr.pairs[len(gr.pairs)-1].grant
	cr.countWindow(from, to)
	gr.windowQueue, _, _ = taskQueueTimes(chain, from, to)
	_, gr.fillLongest, _ = taskQueueTimes(chain, time.Time{}.Add(time.Nanosecond), from)
}

// event reads event i of run r, whose events are evs.
func (cr *chainReader) event(evs []*historypb.HistoryEvent, r, i int) {
	ev := evs[i]
	at := ev.GetEventTime().AsTime()
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
		cr.gr.taskFailed++
		cr.failTimes = append(cr.failTimes, at)
	case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
		cr.gr.grantFailed++
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		a := ev.GetWorkflowExecutionSignaledEventAttributes()
		var req activities.SlotRequest
		if cr.dc.FromPayloads(a.GetInput(), &req) != nil {
			return
		}
		switch a.GetSignalName() {
		case workflows.SignalSlotAcquire:
			cr.acquire(req, at)
		case workflows.SignalSlotRelease:
			cr.release(req, evs, r, i, at)
		}
	case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
		a := ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes()
		if a.GetSignalName() == workflows.SignalSlotGrant {
			cr.grant(a.GetWorkflowExecution().GetWorkflowId(), r, at)
		}
	}
}

// acquire reads an acquire signal: the Job waits, unless it already holds; a refused
// one gives its slot back and waits again.
func (cr *chainReader) acquire(req activities.SlotRequest, at time.Time) {
	cr.acquireTimes = append(cr.acquireTimes, at)
	switch {
	case req.Refused:
		delete(cr.holders, req.WorkflowID)
		cr.waiting[req.WorkflowID] = true
	case !cr.holders[req.WorkflowID]:
		cr.waiting[req.WorkflowID] = true
	}
}

// release reads a release signal, event i of run r: a holder's release frees a slot
// and waits for its grant, with the legs to the workflow task that took it in.
func (cr *chainReader) release(req activities.SlotRequest, evs []*historypb.HistoryEvent, r, i int, at time.Time) {
	if !cr.holders[req.WorkflowID] {
		delete(cr.waiting, req.WorkflowID) // leaves the queue; frees no slot
		return
	}
	delete(cr.holders, req.WorkflowID)
	p := pendingRelease{at: at, id: req.WorkflowID, depth: len(cr.waiting), run: r, idx: i}
	p.legs, p.inFlight, p.queued, p.task, p.taskDone = taskAfter(evs, i, at)
	cr.fifo = append(cr.fifo, p)
}

// grant reads a grant sent to id in run r: a new one takes the oldest release still
// unpaired, and the pair is kept when the release came in at minDepth or deeper.
func (cr *chainReader) grant(id string, r int, at time.Time) {
	if cr.holders[id] {
		return // a grant sent again to a holder
	}
	delete(cr.waiting, id)
	cr.holders[id] = true
	if len(cr.fifo) == 0 {
		return // a slot that was free: the first grants, or after a refusal
	}
	p := cr.fifo[0]
	cr.fifo = cr.fifo[1:]
	if p.depth < cr.minDepth {
		return
	}
	gp := grantPair{release: p.at, grant: at, releaser: p.id, grantee: id, depth: p.depth, crossedCAN: r != p.run}
	if p.legs && !gp.crossedCAN {
		gp.legs = true
		gp.inFlight, gp.queued, gp.taskRun = p.inFlight, p.queued, p.task
		gp.afterTask = at.Sub(p.taskDone)
	}
	cr.gr.pairs = append(cr.gr.pairs, gp)
}

// countWindow counts the continue-as-new runs, acquire signals and failed workflow
// tasks in the measured window, from the first measured release to the last grant.
func (cr *chainReader) countWindow(from, to time.Time) {
	cr.gr.cansInWindow += countBetween(cr.runStarts[1:], from, to)
	cr.gr.acquiresInWindow += countBetween(cr.acquireTimes, from, to)
	cr.gr.taskFailedInWindow += countBetween(cr.failTimes, from, to)
}

// countBetween counts the times of ts within [from, to].
func countBetween(ts []time.Time, from, to time.Time) int {
	n := 0
	for _, t := range ts {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	return n
}

// taskAfter finds, in one run's events, the workflow task that took in event i (at):
// the first one started after it. It returns the legs from at to that task's
// completion: inFlight, the wait for a task already running when the event came in
// (to the scheduling of the next, or 0); queued, from then (or from at, for a task
// already scheduled) to its start; and its run. ok is false when the run has no such
// completed task (the event came in during the run's last task, or the run is open).
func taskAfter(evs []*historypb.HistoryEvent, i int, at time.Time) (ok bool, inFlight, queued, run time.Duration, done time.Time) {
	var sched, start time.Time
	// A task scheduled before the event and not yet started takes it in.
	for j := i - 1; j >= 0; j-- {
		t := evs[j].GetEventType()
		if t == enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED {
			sched = evs[j].GetEventTime().AsTime()
			break
		}
		if t == enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED || t == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			break
		}
	}
	for _, ev := range evs[i+1:] {
		t := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			if sched.IsZero() {
				sched = t
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if start.IsZero() {
				start = t
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			// A failed attempt: it is scheduled and started again; its time counts as
			// queued for the attempt that completes.
			start = time.Time{}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if start.IsZero() || sched.IsZero() {
				continue
			}
			from := sched
			if from.Before(at) {
				from = at
			}
			return true, from.Sub(at), start.Sub(from), t.Sub(start), t
		}
	}
	return false, 0, 0, 0, time.Time{}
}

// taskQueueTimes lists the schedule-to-start of every workflow task of the runs
// started between from and to (zero: all), and the longest.
func taskQueueTimes(chain [][]*historypb.HistoryEvent, from, to time.Time) (all []time.Duration, longest time.Duration, at time.Time) {
	for _, evs := range chain {
		var sched time.Time
		for _, ev := range evs {
			t := ev.GetEventTime().AsTime()
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
				sched = t
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
				if sched.IsZero() || (!from.IsZero() && (sched.Before(from) || sched.After(to))) {
					continue
				}
				d := t.Sub(sched)
				all = append(all, d)
				if d > longest {
					longest, at = d, sched
				}
			}
		}
	}
	return all, longest, at
}

// jobView is what clientVisible reads of one Job's history.
type jobView struct {
	releaseSent time.Time
	grants      []time.Time // grant signals received
	creates     []time.Time // CreateJob completions
}

// clientVisible reads the Jobs of each pair: the releaser's release sent to the
// grantee's grant received, and the tap's post of the releaser's webhook to the
// grantee's create completed.
func clientVisible(ctx context.Context, env *Env, pairs []grantPair) (jobToJob, idle []time.Duration, err error) {
	ids := map[string]bool{}
	for _, p := range pairs {
		ids[p.releaser], ids[p.grantee] = true, true
	}
	views, err := readJobViews(ctx, env, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range pairs {
		rel, gra := views[p.releaser], views[p.grantee]
		got, ok := firstAtOrAfter(gra.grants, p.grant)
		if !ok {
			continue
		}
		if !rel.releaseSent.IsZero() {
			jobToJob = append(jobToJob, got.Sub(rel.releaseSent))
		}
		posted, okPost := env.Tap.PostedAt(p.releaser)
		created, okCreate := firstAtOrAfter(gra.creates, got)
		if okPost && okCreate {
			idle = append(idle, created.Sub(posted))
		}
	}
	return jobToJob, idle, nil
}

// readJobViews reads the histories of the Jobs of ids, 8 at a time, and returns every
// error met, joined.
func readJobViews(ctx context.Context, env *Env, ids map[string]bool) (map[string]*jobView, error) {
	views := map[string]*jobView{}
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			evs, err := historyEvents(ctx, env, id)
			v := readJobView(evs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			views[id] = v
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return views, nil
}

// readJobView reads a Job's history: when it sent its release, when grants came in,
// and when its CreateJob activities completed.
func readJobView(evs []*historypb.HistoryEvent) *jobView {
	v := &jobView{}
	createSched := map[int64]bool{}
	for _, ev := range evs {
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			if ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes().GetSignalName() == workflows.SignalSlotRelease {
				v.releaseSent = at
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			if ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == workflows.SignalSlotGrant {
				v.grants = append(v.grants, at)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if strings.HasSuffix(ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), "CreateJob") {
				createSched[ev.GetEventId()] = true
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if createSched[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()] {
				v.creates = append(v.creates, at)
			}
		}
	}
	return v
}

// firstAtOrAfter returns the first of ts (in order) not before t.
func firstAtOrAfter(ts []time.Time, t time.Time) (time.Time, bool) {
	for _, x := range ts {
		if !x.Before(t) {
			return x, true
		}
	}
	return time.Time{}, false
}

// terminateAll terminates the workflows of ids that still run, conc at a time, until
// ctx ends, and returns how many it terminated.
func terminateAll(ctx context.Context, env *Env, ids []string, conc int) int {
	var n atomic.Int64
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if env.Client.TerminateWorkflow(ctx, id, "", "grant latency benchmark: teardown") == nil {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load())
}
