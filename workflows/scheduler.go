package workflows

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// The account scheduler.
//
// HeyGen's concurrency limit and its credit belong to the account: every pipeline,
// campaign, worker and `start` draws on them. So there is one Scheduler workflow per
// HeyGen account, ID SchedulerWorkflowIDFor(account), and every Job of the account waits
// for one of its slots before it creates (permit.go):
//
//   - The account, its concurrency (--heygen-concurrency) and its reserve
//     (--heygen-min-balance) are worker configuration (activities.Account). A Job learns
//     them through its create: on a worker whose account is scheduled, a create without
//     the account's slot sends nothing and answers SlotRequired with the scheduler's ID.
//     So a Job on an unscheduled account writes the history it always did.
//   - A Job asks through the AcquireSlot activity, a signal-with-start that starts the
//     scheduler when none runs; the activity adds the worker's limit. The scheduler keeps
//     one limit: the first it hears. A worker that says another is logged and listed in
//     SchedulerStatus.LimitMismatch, never given its own semaphore. When no request has
//     carried the current limit for limitAdoptAfter, and others carry a new one (a fleet
//     reconfigured), the scheduler adopts the new one.
//   - Grants follow schedqueue.go's order: priority, then weighted rotation between
//     fairness keys, then first come first served; a campaign past its budget waits.
//     A grant is signalled (SignalSlotGrant) to the very run that asked.
//   - A Job gives its slot back when it ends, however it ends, by signalling
//     SignalSlotRelease; a Job that gives up waiting does the same to leave the queue.
//   - A holder that cannot give its slot back (terminated, reset, deleted) loses it within
//     schedulerCheckEvery plus one Describe call while Jobs wait: the CheckHolders
//     activity. A grant that cannot be delivered (the run has ended) frees the slot at
//     once, and every slot lapses at its lease (the Job's deadline plus a margin, from the
//     grant) should the check be unable to tell.
//   - Credit (schedcredit.go): a Job whose create HeyGen refused for credit asks again
//     with Refused set. Its slot is freed, it keeps its turn at the front of its key, and
//     the scheduler pauses: it grants nothing and rereads the balance with backoff
//     capped at a minute until it is enough. With a reserve configured it also reads the
//     balance before granting when its last reading is older than balanceFresh.
//   - It continues as new every schedulerSignalsPerRun signals, or sooner when the server
//     suggests it, carrying holders, queue, budgets and pause. It ends when it has been
//     idle (nothing held or waiting) for two schedulerSweep periods.

// Names of the scheduler.
const (
	// SignalSlotAcquire carries an activities.SlotRequest to the scheduler: a request
	// for a slot, a re-ask, or (Refused) a create refused for credit.
	SignalSlotAcquire = "reelflow.slot.acquire"
	// SignalSlotRelease carries an activities.SlotRequest (WorkflowID, RunID): the Job's
	// slot, or its place in the queue, is given back.
	SignalSlotRelease = "reelflow.slot.release"
	// SignalSlotGrant tells a Job that it holds a slot; it carries a SlotGrant.
	SignalSlotGrant = "reelflow.slot.grant"
)

// Scheduler tuning.
const (
	// schedulerSignalsPerRun: a run continues as new after this many signals. A signal
	// and its grant cost about four events, so a run stays near 4,000, far from the
	// 10,000 signals and 51,200 events Temporal allows; the server also suggests
	// continuing at 4 MB or so of history.
	schedulerSignalsPerRun = 1000
	// schedulerSweep is how often lapsed slots are reclaimed, and how long an idle
	// scheduler waits before it ends.
	schedulerSweep = 10 * time.Minute
	// permitLeaseMargin is added to a Job's deadline to make its slot's lease.
	permitLeaseMargin = 5 * time.Minute
	// schedulerCheckEvery is how often, while Jobs wait, the scheduler checks that its
	// holders still run.
	schedulerCheckEvery = 15 * time.Second
	// limitAdoptAfter: the scheduler adopts a limit its workers report instead of its own
	// once no request has carried its own for this long.
	limitAdoptAfter = 10 * time.Minute
	// maxMismatches bounds the LimitMismatch list.
	maxMismatches = 20
	// schedulerCarryBytes bounds the gzipped carried queue, under Temporal's 2 MB
	// payload limit with room for holders, budgets and base64.
	schedulerCarryBytes = 1_200_000
)

// The scheduler's metrics: gauges, tagged with the account's name (account), besides the
// SDK's own tags (namespace, task_queue, workflow_type). The scheduler updates them
// through workflow.GetMetricsHandler after each thing it handles, so a replayed workflow
// task records nothing; the worker that ran its last workflow task reports them.
const (
	// MetricSchedulerSlotsHeld is how many of the account's slots Jobs hold.
	MetricSchedulerSlotsHeld = "reelflow_scheduler_slots_held"
	// MetricSchedulerSlotsLimit is the account's concurrency (0: none, or not yet known).
	MetricSchedulerSlotsLimit = "reelflow_scheduler_slots_limit"
	// MetricSchedulerJobsWaiting is how many Jobs wait for a slot, over budget included.
	MetricSchedulerJobsWaiting = "reelflow_scheduler_jobs_waiting"
	// MetricSchedulerPaused is 1 while the account is paused for credit, else 0.
	MetricSchedulerPaused = "reelflow_scheduler_paused"
)

// SchedulerMetrics lists the scheduler's metrics, as Prometheus names them (gauges
// keep their names).
func SchedulerMetrics() []string {
	return []string{MetricSchedulerSlotsHeld, MetricSchedulerSlotsLimit, MetricSchedulerJobsWaiting, MetricSchedulerPaused}
}

// SlotGrant is the payload of SignalSlotGrant.
type SlotGrant struct {
	Scheduler string `json:"scheduler"`
	Limit     int    `json:"limit"`
}

// slotHolder is a Job holding a slot, as it is carried.
type slotHolder struct {
	WorkflowID string    `json:"w"`
	RunID      string    `json:"r"`
	ExecRunID  string    `json:"e,omitempty"`
	Priority   int       `json:"p"`
	Key        string    `json:"k"`
	Campaign   string    `json:"c,omitempty"`
	Granted    time.Time `json:"g"`
	Until      time.Time `json:"u,omitzero"`
}

func (h slotHolder) target() string { return cmp.Or(h.ExecRunID, h.RunID) }

// request is h as CheckHolders takes it.
func (h slotHolder) request() activities.SlotRequest {
	return activities.SlotRequest{WorkflowID: h.WorkflowID, RunID: h.RunID, ExecRunID: h.ExecRunID, Granted: h.Granted}
}

// SchedulerState is the scheduler's input: the account's name at the first start, and
// everything it knows when it continues as new.
type SchedulerState struct {
	Account string `json:"account"`
	// Limit is the account's concurrency once the first request told it (LimitKnown);
	// 0 is no limit (credit pauses still hold).
	Limit      int          `json:"limit,omitempty"`
	LimitKnown bool         `json:"limit_known,omitempty"`
	LimitHeard time.Time    `json:"limit_heard,omitzero"`
	Mismatch   []string     `json:"mismatch,omitempty"`
	MinBalance float64      `json:"min_balance,omitempty"`
	Holders    []slotHolder `json:"holders,omitempty"`
	// QueueZ is the waiting Jobs, gzipped JSON of a queueState (carryQueue).
	QueueZ []byte      `json:"queue_z,omitempty"`
	Pause  *pauseState `json:"pause,omitempty"`
	// BalanceAt is when the balance was last read as enough (MinBalance).
	BalanceAt time.Time `json:"balance_at,omitzero"`
	// SignalsPerRun overrides schedulerSignalsPerRun when above 0 (tests).
	SignalsPerRun int `json:"signals_per_run,omitempty"`
	// CarryBytes overrides schedulerCarryBytes when above 0 (tests).
	CarryBytes int `json:"carry_bytes,omitempty"`
}

// scheduler is the state of one Scheduler run.
type scheduler struct {
	st      SchedulerState
	q       *schedQueue
	id      string
	logger  log.Logger
	pending []pendingGrant
	signals int
	// checkTimer and checking are the holder check's timer and activity, nil when none
	// is outstanding.
	checkTimer, checking workflow.Future
	// balanceTimer and balance are the balance check's backoff timer and activity.
	balanceTimer, balance workflow.Future
	// metrics is the workflow's replay-aware metrics handler, tagged with the account.
	metrics client.MetricsHandler
}

type pendingGrant struct {
	h slotHolder
	f workflow.Future
}

// changeSchedCatchUp lets a campaign's key that arrives after others catch up on the
// grants they took alone (schedqueue.go): it changes which Job a grant goes to.
const changeSchedCatchUp = "sched-catch-up"

// Scheduler is the account's scheduler: see the comment at the top of this file.
func Scheduler(ctx workflow.Context, st SchedulerState) error {
	s := &scheduler{st: st, id: workflow.GetInfo(ctx).WorkflowExecution.ID,
		logger:  log.With(workflow.GetLogger(ctx), "Account", st.Account),
		metrics: workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"account": st.Account})}
	qs, err := unpackQueue(st.QueueZ)
	if err != nil {
		s.logger.Error("carried queue unreadable; its Jobs ask again and queue anew", "Error", err)
	}
	s.q, s.st.QueueZ = newSchedQueue(qs), nil
	// Each run asks again: a run of v0.1.0's scheduler continues as new into this one.
	s.q.catchUp = workflow.GetVersion(ctx, changeSchedCatchUp, workflow.DefaultVersion, 1) >= 1
	s.q.lag = catchUpLag(s.st.Limit)
	if err := workflow.SetQueryHandler(ctx, QueryQueue, func() (SchedulerStatus, error) { return s.status(), nil }); err != nil {
		return fmt.Errorf("set queue query handler: %w", err)
	}
	acquire := workflow.GetSignalChannel(ctx, SignalSlotAcquire)
	release := workflow.GetSignalChannel(ctx, SignalSlotRelease)
	var sweep workflow.Future
	idleSweeps := 0
	for {
		s.grant(ctx)
		s.report()
		if s.signals >= cmp.Or(s.st.SignalsPerRun, schedulerSignalsPerRun) || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return s.continueAsNew(ctx, acquire, release)
		}
		if sweep == nil {
			sweep = workflow.NewTimerWithOptions(ctx, schedulerSweep, workflow.TimerOptions{Summary: "sweep lapsed slots"})
		}
		swept := s.selectOnce(ctx, acquire, release, sweep)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !swept {
			idleSweeps = 0
			continue
		}
		sweep = nil
		s.reclaim(workflow.Now(ctx))
		if !s.idle() {
			idleSweeps = 0
			continue
		}
		// Two quiet sweeps in a row: nobody holds or waits. A signal that arrives while
		// this run completes makes the server refuse the completion, so none is lost;
		// the next AcquireSlot starts a new scheduler.
		if idleSweeps++; idleSweeps >= 2 {
			s.report()
			return nil
		}
	}
}

// report sets the scheduler's gauges.
func (s *scheduler) report() {
	paused := 0.0
	if s.st.Pause != nil {
		paused = 1
	}
	s.metrics.Gauge(MetricSchedulerSlotsHeld).Update(float64(len(s.st.Holders)))
	s.metrics.Gauge(MetricSchedulerSlotsLimit).Update(float64(s.st.Limit))
	s.metrics.Gauge(MetricSchedulerJobsWaiting).Update(float64(s.q.n))
	s.metrics.Gauge(MetricSchedulerPaused).Update(paused)
}

// selectOnce waits for one thing to happen: a request, a release, a grant settling, a
// holder or balance check, or the sweep, which it reports.
func (s *scheduler) selectOnce(ctx workflow.Context, acquire, release workflow.ReceiveChannel, sweep workflow.Future) (swept bool) {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
		var req activities.SlotRequest
		c.Receive(ctx, &req)
		s.onAcquire(ctx, req)
	})
	sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
		var req activities.SlotRequest
		c.Receive(ctx, &req)
		s.onRelease(req)
	})
	for i := range s.pending {
		p := s.pending[i]
		sel.AddFuture(p.f, func(f workflow.Future) { s.onGranted(ctx, p, f) })
	}
	s.addCheck(ctx, sel)
	s.addBalance(ctx, sel)
	sel.AddFuture(sweep, func(workflow.Future) { swept = true })
	sel.Select(ctx)
	return swept
}

// onAcquire takes a request: it queues a new one, answers a holder that asks again (its
// grant may have been lost with a run that was reset), updates a waiter's run, and
// takes a refusal for credit.
func (s *scheduler) onAcquire(ctx workflow.Context, req activities.SlotRequest) {
	s.signals++
	s.noteLimit(ctx, req)
	s.q.lag = catchUpLag(s.st.Limit)
	if req.Budget > 0 && req.Campaign != "" {
		if c := s.q.campaign(req.Campaign); req.Budget > c.Budget {
			c.Budget = req.Budget // a new start of the campaign raises its budget
		}
	}
	// A workflow ID runs one run at a time: a request from another run identity means
	// the run this scheduler knows under that ID is gone (a rerun of the step).
	if i := s.holder(req.WorkflowID); i >= 0 && s.st.Holders[i].RunID != req.RunID {
		s.st.Holders = slices.Delete(s.st.Holders, i, i+1)
	}
	if w := s.q.find(req.WorkflowID); w != nil && w.RunID != req.RunID {
		s.q.remove(req.WorkflowID)
	}
	if req.Refused {
		s.onRefused(ctx, req)
		return
	}
	if i := s.holder(req.WorkflowID); i >= 0 {
		h := &s.st.Holders[i]
		h.ExecRunID = execRunOf(req)
		s.sendGrant(ctx, *h)
		return
	}
	if w := s.q.find(req.WorkflowID); w != nil {
		w.ExecRunID = execRunOf(req)
		return
	}
	s.q.push(req.Priority, fairnessKeyOf(req), req.FairnessWeight, newWaiter(ctx, req), false)
}

// execRunOf is the ExecRunID to keep for req: empty when it is the run identity.
func execRunOf(req activities.SlotRequest) string {
	if req.ExecRunID == req.RunID {
		return ""
	}
	return req.ExecRunID
}

// fairnessKeyOf is req's key: its own, its campaign, or its workflow ID.
func fairnessKeyOf(req activities.SlotRequest) string {
	return cmp.Or(req.FairnessKey, req.Campaign, req.WorkflowID)
}

func newWaiter(ctx workflow.Context, req activities.SlotRequest) waiter {
	return waiter{WorkflowID: req.WorkflowID, RunID: req.RunID, ExecRunID: execRunOf(req),
		Since: workflow.Now(ctx).Unix(), Lease: int64(req.Lease / time.Second), Campaign: req.Campaign}
}

// noteLimit keeps the first limit, and reports a worker that says another.
func (s *scheduler) noteLimit(ctx workflow.Context, req activities.SlotRequest) {
	now := workflow.Now(ctx)
	if req.MinBalance != s.st.MinBalance && !req.Refused {
		s.st.MinBalance = req.MinBalance
	}
	switch {
	case !s.st.LimitKnown:
		s.st.Limit, s.st.LimitKnown, s.st.LimitHeard = req.Limit, true, now
		s.logger.Info("scheduler limit set", "Limit", req.Limit, "Worker", req.Worker)
	case req.Limit == s.st.Limit:
		s.st.LimitHeard = now
	case now.Sub(s.st.LimitHeard) > limitAdoptAfter:
		s.logger.Warn("scheduler adopts the limit its workers now report", "Old", s.st.Limit, "New", req.Limit, "Worker", req.Worker)
		s.st.Limit, s.st.LimitHeard = req.Limit, now
		s.st.Mismatch = nil
	default:
		note := fmt.Sprintf("worker %s says %d", cmp.Or(req.Worker, "?"), req.Limit)
		if !slices.Contains(s.st.Mismatch, note) {
			s.logger.Warn("a worker reports another concurrency for this account; the scheduler keeps its own",
				"Limit", s.st.Limit, "Reported", req.Limit, "Worker", req.Worker)
			if len(s.st.Mismatch) < maxMismatches {
				s.st.Mismatch = append(s.st.Mismatch, note)
			}
		}
	}
}

// onRelease gives a slot back, or takes a request off the queue.
func (s *scheduler) onRelease(req activities.SlotRequest) {
	s.signals++
	if i := s.holder(req.WorkflowID); i >= 0 && s.st.Holders[i].RunID == req.RunID {
		s.st.Holders = slices.Delete(s.st.Holders, i, i+1)
		return
	}
	if w := s.q.find(req.WorkflowID); w != nil && w.RunID == req.RunID {
		s.q.remove(req.WorkflowID)
	}
}

// holder returns the index of workflowID's holder, or -1.
func (s *scheduler) holder(workflowID string) int {
	return slices.IndexFunc(s.st.Holders, func(h slotHolder) bool { return h.WorkflowID == workflowID })
}

// free reports whether a slot is free.
func (s *scheduler) free() bool {
	return !s.st.LimitKnown || s.st.Limit <= 0 || len(s.st.Holders) < s.st.Limit
}

// grant hands out slots in the queue's order while the limit, the pause and the
// balance allow. A waiter becomes a holder as its grant is sent, so that a release that
// overtakes the grant still finds it. Its lease starts now.
func (s *scheduler) grant(ctx workflow.Context) {
	for s.q.n > 0 && s.free() && s.mayGrant(ctx) {
		w, f, ok := s.q.next()
		if !ok {
			return // only over-budget Jobs wait
		}
		now := workflow.Now(ctx)
		h := slotHolder{WorkflowID: w.WorkflowID, RunID: w.RunID, ExecRunID: w.ExecRunID,
			Priority: f.Priority, Key: f.Key, Campaign: w.Campaign, Granted: now}
		if w.Lease > 0 {
			h.Until = now.Add(time.Duration(w.Lease) * time.Second)
		}
		s.st.Holders = append(s.st.Holders, h)
		s.sendGrant(ctx, h)
	}
}

// sendGrant signals a grant to the run that asked.
func (s *scheduler) sendGrant(ctx workflow.Context, h slotHolder) {
	f := workflow.SignalExternalWorkflow(ctx, h.WorkflowID, h.target(), SignalSlotGrant, SlotGrant{Scheduler: s.id, Limit: s.st.Limit})
	s.pending = append(s.pending, pendingGrant{h: h, f: f})
}

// onGranted settles a grant. One that could not be delivered (the run has ended) frees
// its slot, unless the holder has asked again from another run since (a Reset).
func (s *scheduler) onGranted(ctx workflow.Context, p pendingGrant, f workflow.Future) {
	s.pending = slices.DeleteFunc(s.pending, func(q pendingGrant) bool { return q.f == f })
	if err := f.Get(ctx, nil); err != nil {
		i := s.holder(p.h.WorkflowID)
		if i < 0 || s.st.Holders[i].target() != p.h.target() {
			return
		}
		s.logger.Info("slot grant not delivered; slot freed", "WorkflowID", p.h.WorkflowID, "Error", err)
		s.st.Holders = slices.Delete(s.st.Holders, i, i+1)
	}
}

// addCheck adds the holder check to sel: its activity when one runs, else its timer,
// started while Jobs wait and every slot is taken.
func (s *scheduler) addCheck(ctx workflow.Context, sel workflow.Selector) {
	switch {
	case s.checking != nil:
		sel.AddFuture(s.checking, func(f workflow.Future) { s.onChecked(ctx, f) })
	case s.checkTimer != nil:
		sel.AddFuture(s.checkTimer, func(workflow.Future) { s.startCheck(ctx) })
	case s.q.n > 0 && len(s.st.Holders) > 0:
		s.checkTimer = workflow.NewTimerWithOptions(ctx, schedulerCheckEvery, workflow.TimerOptions{Summary: "check the holders"})
		sel.AddFuture(s.checkTimer, func(workflow.Future) { s.startCheck(ctx) })
	}
}

// startCheck asks Temporal whether the holders still run.
func (s *scheduler) startCheck(ctx workflow.Context) {
	s.checkTimer = nil
	if s.q.n == 0 || len(s.st.Holders) == 0 {
		return
	}
	in := activities.CheckHoldersInput{}
	for _, h := range s.st.Holders {
		in.Holders = append(in.Holders, h.request())
	}
	s.checking = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, checkHoldersOptions()), acts().CheckHolders, in)
}

// onChecked frees the slots of holders that are gone.
func (s *scheduler) onChecked(ctx workflow.Context, f workflow.Future) {
	s.checking = nil
	var res activities.CheckHoldersResult
	if err := f.Get(ctx, &res); err != nil {
		s.logger.Warn("holder check failed; checking again later", "Error", err)
		return
	}
	for _, g := range res.Gone {
		i := s.holder(g.WorkflowID)
		// A holder that asked again from another run since (a Reset) is not the one checked.
		if i >= 0 && s.st.Holders[i].target() == g.Target() {
			s.logger.Warn("slot freed: its job no longer runs (terminated, reset or deleted)", "WorkflowID", g.WorkflowID)
			s.st.Holders = slices.Delete(s.st.Holders, i, i+1)
		}
	}
}

// reclaim frees slots whose lease has lapsed.
func (s *scheduler) reclaim(now time.Time) {
	s.st.Holders = slices.DeleteFunc(s.st.Holders, func(h slotHolder) bool {
		lapsed := !h.Until.IsZero() && now.After(h.Until)
		if lapsed {
			s.logger.Warn("slot lapsed: its job never gave it back", "WorkflowID", h.WorkflowID, "Until", h.Until)
		}
		return lapsed
	})
}

func (s *scheduler) idle() bool {
	return len(s.st.Holders) == 0 && s.q.n == 0 && len(s.pending) == 0
}

// continueAsNew lets the grants in flight settle, takes in every signal already
// delivered (a signal left unread would be lost with this run), and continues as new
// with the holders, the queue, the budgets and the pause. A balance check in flight is
// abandoned; the next run reads the balance again.
func (s *scheduler) continueAsNew(ctx workflow.Context, acquire, release workflow.ReceiveChannel) error {
	for len(s.pending) > 0 {
		p := s.pending[0]
		s.onGranted(ctx, p, p.f)
	}
	for {
		var req activities.SlotRequest
		switch {
		case acquire.ReceiveAsync(&req):
			s.onAcquire(ctx, req)
		case release.ReceiveAsync(&req):
			s.onRelease(req)
		default:
			s.carryQueue()
			s.logger.Info("scheduler continues as new", "Signals", s.signals, "Holders", len(s.st.Holders), "Waiting", s.q.n)
			return workflow.NewContinueAsNewError(ctx, Scheduler, s.st)
		}
	}
}

// carryQueue packs the queue for the next run, gzipped (a 10,000-Job queue is some
// 1.9 MB of JSON, mostly run IDs, and about a third of that gzipped). Should it still
// pass CarryBytes, the newest waiters, least urgent first, are left out a tenth at a time:
// they ask again within permitRefreshMax and queue anew.
func (s *scheduler) carryQueue() {
	limit := cmp.Or(s.st.CarryBytes, schedulerCarryBytes)
	dropped := 0
	for {
		z, err := packQueue(s.q.state())
		if err != nil {
			// Only a bug makes this fail; the Jobs ask again and queue anew.
			s.logger.Error("queue not carried", "Error", err, "Waiting", s.q.n)
			s.st.QueueZ = nil
			return
		}
		if len(z) <= limit || s.q.n == 0 {
			s.st.QueueZ = z
			break
		}
		dropped += s.dropNewest(max(s.q.n/10, 1))
	}
	if dropped > 0 {
		s.logger.Warn("queue too long to carry whole; the newest waiters ask again and queue anew", "Dropped", dropped, "Waiting", s.q.n)
	}
}

// dropNewest takes n waiters off the queue, from the back of the least urgent flows.
func (s *scheduler) dropNewest(n int) int {
	dropped := 0
	for p := PriorityLowest; p >= PriorityHighest && dropped < n; p-- {
		for i := len(s.q.levels[p]) - 1; i >= 0 && dropped < n; i-- {
			f := s.q.levels[p][i]
			for len(f.Waiters) > 0 && dropped < n {
				s.q.remove(f.Waiters[len(f.Waiters)-1].WorkflowID)
				dropped++
			}
		}
	}
	return dropped
}

// packQueue is st as gzipped JSON; unpackQueue reads it back.
func packQueue(st queueState) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	// encoding/json is deterministic for queueState, which has no map; workflowcheck
	// flags it for its internal type cache.
	//workflowcheck:ignore
	err := json.NewEncoder(zw).Encode(st)
	if err != nil {
		return nil, fmt.Errorf("pack queue: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pack queue: %w", err)
	}
	return buf.Bytes(), nil
}

func unpackQueue(z []byte) (queueState, error) {
	var st queueState
	if len(z) == 0 {
		return st, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return st, fmt.Errorf("unpack queue: %w", err)
	}
	// See packQueue.
	//workflowcheck:ignore
	err = json.NewDecoder(zr).Decode(&st)
	if err != nil {
		return st, fmt.Errorf("unpack queue: %w", err)
	}
	return st, nil
}

// status is the answer to QueryQueue.
func (s *scheduler) status() SchedulerStatus {
	st := SchedulerStatus{Account: s.st.Account, Limit: s.st.Limit, LimitMismatch: slices.Clone(s.st.Mismatch),
		Held: []SlotHolder{}, Waiting: s.q.n}
	held := map[string]int{} // "<priority>/<key>", looked up only
	for _, h := range s.st.Holders {
		st.Held = append(st.Held, SlotHolder{WorkflowID: h.WorkflowID, Priority: h.Priority, FairnessKey: h.Key,
			Campaign: h.Campaign, Since: h.Granted})
		held[strconv.Itoa(h.Priority)+"/"+h.Key]++
	}
	st.Next = s.q.preview(100)
	for p := PriorityHighest; p <= PriorityLowest; p++ {
		for _, f := range s.q.levels[p] {
			st.Groups = append(st.Groups, WaitGroup{Priority: p, FairnessKey: f.Key, Weight: cmp.Or(f.Weight, 1),
				Waiting: len(f.Waiters), Held: held[strconv.Itoa(p)+"/"+f.Key]})
		}
	}
	if ps := s.st.Pause; ps != nil {
		st.Paused, st.PauseReason, st.PausedSince = true, ps.Reason, ps.Since
	}
	st.Campaigns = s.campaignShares()
	return st
}

// campaignShares counts each campaign's holders and waiters.
func (s *scheduler) campaignShares() []CampaignShare {
	var out []CampaignShare
	for _, name := range s.q.campaignOrder {
		c := s.q.campaigns[name]
		cs := CampaignShare{Campaign: name, Started: c.Started, Budget: c.Budget}
		for _, h := range s.st.Holders {
			if h.Campaign == name {
				cs.Held++
			}
		}
		for p := PriorityHighest; p <= PriorityLowest; p++ {
			for _, f := range s.q.levels[p] {
				for _, w := range f.Waiters {
					if w.Campaign == name {
						cs.Waiting++
					}
				}
			}
		}
		if c.overBudget() {
			cs.OverBudget = cs.Waiting
		}
		out = append(out, cs)
	}
	return out
}
