package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// The concurrency limit.
//
// HeyGen lets an account render N jobs at once (10 on pay-as-you-go) and answers 429 past
// that. Without a limit, extra Jobs retry their create on every Retry-After until a slot
// frees: harmless (429 is never a failure) but noisy, and unfair, since a Job that just
// arrived can win the slot over one that has waited an hour. With
// PipelineInput.ConcurrencyLimit (or JobInput.ConcurrencyLimit) set, every Job first asks
// a Limiter workflow for a permit and waits, without polling anything, until granted:
//
//   - A Limiter is one workflow per limit, ID LimiterWorkflowIDFor(limit), so the limit
//     holds across every worker and process that shares the namespace (a worker-side
//     semaphore would not: two workers would each let N jobs through), and a Limiter
//     never changes its limit: Jobs started with another limit queue at another Limiter.
//   - A Job asks through the AcquirePermit activity, a signal-with-start, which starts
//     the Limiter when none runs. The Limiter grants in arrival order by signalling
//     SignalPermitGrant to the asking run.
//   - A Job gives its permit back when it ends, however it ends (done, failed, deadline,
//     cancelled), by signalling SignalPermitRelease; a Job that gives up waiting does the
//     same to leave the queue.
//   - A holder that cannot give its permit back (terminated by an operator, reset, or
//     deleted) loses it within limiterCheckEvery plus one Describe call, about 16
//     seconds, whenever a Job waits for it: the Limiter checks its holders through the
//     CheckHolders activity every limiterCheckEvery while its queue is not empty. A
//     grant that cannot be delivered (the run has ended) frees the permit at once, and
//     every permit lapses anyway at its lease (the Job's deadline plus a margin, from the
//     grant), should the check be unable to tell.
//   - The Job's deadline counts from the grant: the time queued is not taken from the
//     render's. The queue has its own bound, the same length, from the Job's start.
//   - A request's re-asks hang off the wait for the grant, so that none outlives it.
//   - The Limiter continues as new every limiterSignalsPerRun signals, or sooner when
//     the server suggests it, well below Temporal's 10,000 signals per run, carrying its
//     holders and queue. It ends when it has been idle for two limiterSweep periods.
//
// The Job's part is guarded by changeJobLimiter and changeJobPermitLease, the Limiter's by
// changeLimiterHolders; a Job without a limit writes the same history as before.

// Names of the limiter.
const (
	// LimiterWorkflowID is the ID of the Limiter of Jobs started before
	// changeJobPermitLease, whatever their limit; LimiterWorkflowIDFor names the others.
	LimiterWorkflowID = "reelflow-limiter"
	// SignalPermitAcquire carries an activities.PermitRequest to the Limiter.
	SignalPermitAcquire = "reelflow.permit.acquire"
	// SignalPermitRelease carries an activities.PermitRequest (WorkflowID, RunID) to the
	// Limiter: the Job's permit, or its place in the queue, is given back.
	SignalPermitRelease = "reelflow.permit.release"
	// SignalPermitGrant tells a Job that it holds a permit; it carries a PermitGrant.
	SignalPermitGrant = "reelflow.permit.grant"
	// limiterWorkflowType is the name Register gives Limiter.
	limiterWorkflowType = "Limiter"
)

// LimiterWorkflowIDFor is the ID of the Limiter of limit: "reelflow-limiter-10".
func LimiterWorkflowIDFor(limit int) string { return LimiterWorkflowID + "-" + strconv.Itoa(limit) }

// StateQueued is a Job waiting for a concurrency permit before it creates its HeyGen job.
const StateQueued JobState = "waiting for a permit"

// changeJobLimiter is the workflow.GetVersion change ID of the Job's concurrency permit.
const (
	changeJobLimiter = "job-concurrency-limit"
	versionLimiter   = 1
)

// changeJobPermitLease is the workflow.GetVersion change ID of the Job's second permit
// protocol: a Limiter per limit, the grant signalled to the asking run (ExecRunID), a
// lease that counts from the grant, the deadline counted from the grant, and re-asks
// that end with the wait.
const (
	changeJobPermitLease = "job-permit-lease"
	versionPermitLease   = 1
)

// changeLimiterHolders is the workflow.GetVersion change ID of the Limiter's holder
// checks: it keeps its first limit, checks its holders while Jobs wait, grants again to
// a holder that asks again (instead of queueing it), drops another run's entries when a
// workflow ID asks anew, and starts each lease at the grant.
const (
	changeLimiterHolders = "limiter-holder-check"
	versionHolders       = 1
)

// Limiter tuning.
const (
	// limiterSignalsPerRun: a run continues as new after this many signals. Each signal
	// costs about three events with its grant, so a run stays near 5,000 events, far
	// from the 10,000 signals and 51,200 events Temporal allows.
	limiterSignalsPerRun = 1000
	// limiterSweep is how often lapsed permits are reclaimed, and how long an idle
	// Limiter waits before it ends.
	limiterSweep = 10 * time.Minute
	// permitLeaseMargin is added to a Job's deadline to make its permit's lease: a Job
	// always ends by its deadline, and then releases.
	permitLeaseMargin = 5 * time.Minute
	// permitRefresh: a Job still queued after this long asks again, so that a Limiter
	// that was terminated and lost its queue still hears of it. Asking twice is harmless.
	permitRefresh = 5 * time.Minute
	// acquireStartToClose bounds one signal-with-start call.
	acquireStartToClose = 30 * time.Second
	// limiterCheckEvery is how often, while Jobs wait, the Limiter checks that its holders
	// still run: the bound (with one Describe call per holder) on how long a permit of a
	// terminated or vanished Job stays taken. Each check costs about ten history events.
	limiterCheckEvery = 15 * time.Second
	// checkStartToClose bounds one CheckHolders call: one Describe per holder.
	checkStartToClose = 30 * time.Second
)

// PermitGrant is the payload of SignalPermitGrant.
type PermitGrant struct {
	// Limit is the limit in force when the permit was granted.
	Limit int `json:"limit"`
}

// LimiterState is the Limiter's input: empty at the first start, and the state carried
// over when it continues as new.
type LimiterState struct {
	Limit int `json:"limit"`
	// SignalsPerRun overrides limiterSignalsPerRun when above 0 (tests).
	SignalsPerRun int                        `json:"signals_per_run,omitempty"`
	Holders       []activities.PermitRequest `json:"holders,omitempty"`
	Queue         []activities.PermitRequest `json:"queue,omitempty"`
}

// LimiterStatus is the answer to the Limiter's status query.
type LimiterStatus struct {
	Limit   int      `json:"limit"`
	Holders []string `json:"holders"` // workflow IDs holding a permit, oldest first
	Queue   []string `json:"queue"`   // workflow IDs waiting, first in line first
}

// limiter is the state of one Limiter run.
type limiter struct {
	st      LimiterState
	logger  log.Logger
	pending []pendingGrant // grants in flight
	signals int            // signals handled in this run
	// v2 is changeLimiterHolders: holder checks, a fixed limit, leases from the grant.
	v2 bool
	// checkTimer and checking are the holder check's timer and activity, nil when none
	// is outstanding.
	checkTimer, checking workflow.Future
}

type pendingGrant struct {
	req activities.PermitRequest
	f   workflow.Future
}

// Limiter is the concurrency-limit semaphore: see the comment at the top of this file.
func Limiter(ctx workflow.Context, st LimiterState) error {
	l := &limiter{st: st, logger: workflow.GetLogger(ctx)}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (LimiterStatus, error) { return l.status(), nil }); err != nil {
		return fmt.Errorf("set status query handler: %w", err)
	}
	l.v2 = workflow.GetVersion(ctx, changeLimiterHolders, workflow.DefaultVersion, versionHolders) >= versionHolders
	acquire := workflow.GetSignalChannel(ctx, SignalPermitAcquire)
	release := workflow.GetSignalChannel(ctx, SignalPermitRelease)
	var sweep workflow.Future
	idleSweeps := 0
	for {
		l.grant(ctx)
		if l.signals >= cmp.Or(l.st.SignalsPerRun, limiterSignalsPerRun) || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return l.continueAsNew(ctx, acquire, release)
		}
		if sweep == nil {
			sweep = workflow.NewTimerWithOptions(ctx, limiterSweep, workflow.TimerOptions{Summary: "sweep lapsed permits"})
		}
		swept := l.selectOnce(ctx, acquire, release, sweep)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !swept {
			idleSweeps = 0
			continue
		}
		sweep = nil
		l.reclaim(workflow.Now(ctx))
		if l.idle() {
			// Two quiet sweeps in a row: nobody holds or waits. A signal that arrives
			// while this run completes makes the server refuse the completion, so none
			// is lost; the next AcquirePermit starts a new Limiter.
			if idleSweeps++; idleSweeps >= 2 {
				return nil
			}
		} else {
			idleSweeps = 0
		}
	}
}

// selectOnce waits for one thing to happen: a request, a release, a grant settling, a
// holder check, or the sweep, which it reports.
func (l *limiter) selectOnce(ctx workflow.Context, acquire, release workflow.ReceiveChannel, sweep workflow.Future) (swept bool) {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(acquire, func(c workflow.ReceiveChannel, _ bool) {
		var req activities.PermitRequest
		c.Receive(ctx, &req)
		l.onAcquire(ctx, req)
	})
	sel.AddReceive(release, func(c workflow.ReceiveChannel, _ bool) {
		var req activities.PermitRequest
		c.Receive(ctx, &req)
		l.onRelease(req)
	})
	for i := range l.pending {
		p := l.pending[i]
		sel.AddFuture(p.f, func(f workflow.Future) { l.onGranted(ctx, p, f) })
	}
	if l.v2 {
		l.addCheck(ctx, sel)
	}
	sel.AddFuture(sweep, func(workflow.Future) { swept = true })
	sel.Select(ctx)
	return swept
}

// onAcquire queues a request, or answers one it has seen. A holder asking again is
// granted again: its first grant may have been lost with a Limiter that was reset, or
// the run that asked was reset before the grant reached it.
func (l *limiter) onAcquire(ctx workflow.Context, req activities.PermitRequest) {
	l.signals++
	if !l.v2 {
		l.onAcquireV1(req)
		return
	}
	if l.st.Limit <= 0 {
		l.st.Limit = req.Limit
	} else if req.Limit != l.st.Limit {
		// Only the Limiter of older Jobs (LimiterWorkflowID) hears several limits.
		l.logger.Warn("request with another limit; this Limiter keeps its own", "WorkflowID", req.WorkflowID,
			"Limit", l.st.Limit, "Requested", req.Limit)
	}
	// A workflow ID runs one run at a time: a request from another run identity means
	// the runs this Limiter knows under that ID are gone (a rerun of the step).
	other := func(h activities.PermitRequest) bool { return h.WorkflowID == req.WorkflowID && h.RunID != req.RunID }
	l.st.Holders = slices.DeleteFunc(l.st.Holders, other)
	l.st.Queue = slices.DeleteFunc(l.st.Queue, other)
	if i := l.find(l.st.Holders, req); i >= 0 {
		h := &l.st.Holders[i]
		h.ExecRunID = req.ExecRunID
		l.sendGrant(ctx, *h)
		return
	}
	if i := l.find(l.st.Queue, req); i >= 0 {
		l.st.Queue[i].ExecRunID = req.ExecRunID
		return
	}
	l.st.Queue = append(l.st.Queue, req)
}

// onAcquireV1 is onAcquire before changeLimiterHolders. Its decisions must not change.
func (l *limiter) onAcquireV1(req activities.PermitRequest) {
	if req.Limit > 0 {
		l.st.Limit = req.Limit
	}
	if i := l.find(l.st.Holders, req); i >= 0 {
		l.st.Holders[i].Until = req.Until
		l.st.Queue = append([]activities.PermitRequest{req}, l.st.Queue...)
		l.st.Holders = slices.Delete(l.st.Holders, i, i+1)
		return
	}
	if i := l.find(l.st.Queue, req); i >= 0 {
		l.st.Queue[i].Until = req.Until
		return
	}
	for _, p := range l.pending {
		if p.req.WorkflowID == req.WorkflowID && p.req.RunID == req.RunID {
			return // a grant is on its way
		}
	}
	l.st.Queue = append(l.st.Queue, req)
}

// onRelease gives a permit back, or takes a request off the queue.
func (l *limiter) onRelease(req activities.PermitRequest) {
	l.signals++
	if i := l.find(l.st.Holders, req); i >= 0 {
		l.st.Holders = slices.Delete(l.st.Holders, i, i+1)
		return
	}
	if i := l.find(l.st.Queue, req); i >= 0 {
		l.st.Queue = slices.Delete(l.st.Queue, i, i+1)
	}
}

// find returns the index of req's Job (by workflow and run ID) in list, or -1.
func (l *limiter) find(list []activities.PermitRequest, req activities.PermitRequest) int {
	return slices.IndexFunc(list, func(h activities.PermitRequest) bool {
		return h.WorkflowID == req.WorkflowID && h.RunID == req.RunID
	})
}

// grant hands out permits, first come first served, while the limit allows. A request
// becomes a holder as its grant is sent, so that a release that overtakes the grant
// still finds it. Its lease starts now.
func (l *limiter) grant(ctx workflow.Context) {
	for len(l.st.Queue) > 0 && (l.st.Limit <= 0 || len(l.st.Holders) < l.st.Limit) {
		req := l.st.Queue[0]
		l.st.Queue = l.st.Queue[1:]
		if l.v2 {
			req.Granted = workflow.Now(ctx)
			if req.Lease > 0 {
				req.Until = req.Granted.Add(req.Lease)
			}
		}
		l.st.Holders = append(l.st.Holders, req)
		l.sendGrant(ctx, req)
	}
}

// sendGrant signals a grant to the run that asked.
func (l *limiter) sendGrant(ctx workflow.Context, req activities.PermitRequest) {
	f := workflow.SignalExternalWorkflow(ctx, req.WorkflowID, req.Target(), SignalPermitGrant, PermitGrant{Limit: l.st.Limit})
	l.pending = append(l.pending, pendingGrant{req: req, f: f})
}

// onGranted settles a grant. One that could not be delivered (the run has ended) frees
// its permit, unless the holder has asked again from another run since (a Reset).
func (l *limiter) onGranted(ctx workflow.Context, p pendingGrant, f workflow.Future) {
	l.pending = slices.DeleteFunc(l.pending, func(q pendingGrant) bool { return q.f == f })
	if err := f.Get(ctx, nil); err != nil {
		i := l.find(l.st.Holders, p.req)
		if i < 0 || (l.v2 && l.st.Holders[i].Target() != p.req.Target()) {
			return
		}
		l.logger.Info("permit grant not delivered; permit freed", "WorkflowID", p.req.WorkflowID, "Error", err)
		l.st.Holders = slices.Delete(l.st.Holders, i, i+1)
	}
}

// addCheck adds the holder check to sel: its activity when one runs, else its timer,
// started while Jobs wait and every permit is taken.
func (l *limiter) addCheck(ctx workflow.Context, sel workflow.Selector) {
	switch {
	case l.checking != nil:
		sel.AddFuture(l.checking, func(f workflow.Future) { l.onChecked(ctx, f) })
	case l.checkTimer != nil:
		sel.AddFuture(l.checkTimer, func(workflow.Future) { l.startCheck(ctx) })
	case len(l.st.Queue) > 0 && len(l.st.Holders) > 0:
		l.checkTimer = workflow.NewTimerWithOptions(ctx, limiterCheckEvery, workflow.TimerOptions{Summary: "check the holders"})
		sel.AddFuture(l.checkTimer, func(workflow.Future) { l.startCheck(ctx) })
	}
}

// startCheck asks Temporal whether the holders still run.
func (l *limiter) startCheck(ctx workflow.Context) {
	l.checkTimer = nil
	if len(l.st.Queue) == 0 || len(l.st.Holders) == 0 {
		return
	}
	actx := workflow.WithActivityOptions(ctx, checkHoldersOptions())
	l.checking = workflow.ExecuteActivity(actx, acts().CheckHolders, activities.CheckHoldersInput{Holders: slices.Clone(l.st.Holders)})
}

// onChecked frees the permits of holders that are gone.
func (l *limiter) onChecked(ctx workflow.Context, f workflow.Future) {
	l.checking = nil
	var res activities.CheckHoldersResult
	if err := f.Get(ctx, &res); err != nil {
		l.logger.Warn("holder check failed; checking again later", "Error", err)
		return
	}
	for _, g := range res.Gone {
		i := l.find(l.st.Holders, g)
		// A holder that asked again from another run since (a Reset) is not the one checked.
		if i >= 0 && l.st.Holders[i].Target() == g.Target() {
			l.logger.Warn("permit freed: its job no longer runs (terminated, reset or deleted)", "WorkflowID", g.WorkflowID)
			l.st.Holders = slices.Delete(l.st.Holders, i, i+1)
		}
	}
}

// reclaim frees permits whose lease has lapsed.
func (l *limiter) reclaim(now time.Time) {
	l.st.Holders = slices.DeleteFunc(l.st.Holders, func(h activities.PermitRequest) bool {
		lapsed := !h.Until.IsZero() && now.After(h.Until)
		if lapsed {
			l.logger.Warn("permit lapsed: its job never gave it back", "WorkflowID", h.WorkflowID, "Until", h.Until)
		}
		return lapsed
	})
}

func (l *limiter) idle() bool {
	return len(l.st.Holders) == 0 && len(l.st.Queue) == 0 && len(l.pending) == 0
}

// continueAsNew lets the grants in flight settle, takes in every signal already
// delivered (a signal left unread would be lost with this run), and continues as new
// with the holders and the queue.
func (l *limiter) continueAsNew(ctx workflow.Context, acquire, release workflow.ReceiveChannel) error {
	for len(l.pending) > 0 {
		p := l.pending[0]
		l.onGranted(ctx, p, p.f)
	}
	for {
		var req activities.PermitRequest
		switch {
		case acquire.ReceiveAsync(&req):
			l.onAcquire(ctx, req)
		case release.ReceiveAsync(&req):
			l.onRelease(req)
		default:
			l.logger.Info("limiter continues as new", "Signals", l.signals, "Holders", len(l.st.Holders), "Queue", len(l.st.Queue))
			return workflow.NewContinueAsNewError(ctx, Limiter, l.st)
		}
	}
}

func (l *limiter) status() LimiterStatus {
	s := LimiterStatus{Limit: l.st.Limit, Holders: []string{}, Queue: []string{}}
	for _, h := range l.st.Holders {
		s.Holders = append(s.Holders, h.WorkflowID)
	}
	for _, q := range l.st.Queue {
		s.Queue = append(s.Queue, q.WorkflowID)
	}
	return s
}

// acquirePermit is the Job's part: when a concurrency limit is set, it asks the Limiter
// for a permit and waits for the grant, racing the Job's deadline and its cancellation.
// It returns the function that gives the permit back, which the Job defers; without a
// limit it does nothing and writes nothing to history. Its error is the Job's.
func (j *jobRun) acquirePermit(ctx workflow.Context) (release func(), err error) {
	noop := func() {}
	if j.in.ConcurrencyLimit <= 0 {
		return noop, nil
	}
	if workflow.GetVersion(ctx, changeJobLimiter, workflow.DefaultVersion, versionLimiter) == workflow.DefaultVersion {
		return noop, nil
	}
	pc := j.newPermitCall(ctx)
	j.setState(ctx, StateQueued)
	if err := pc.wait(ctx); err != nil {
		return noop, err
	}
	return func() { pc.release(ctx) }, nil
}

// permitCall is a Job's exchange with its Limiter.
type permitCall struct {
	j         *jobRun
	limiterID string
	req       activities.PermitRequest
	// v2 is changeJobPermitLease: a Limiter per limit, the lease and the deadline from
	// the grant, re-asks that end with the wait.
	v2 bool
}

// newPermitCall names the Limiter and builds the Job's request.
func (j *jobRun) newPermitCall(ctx workflow.Context) *permitCall {
	info := workflow.GetInfo(ctx)
	pc := &permitCall{j: j, limiterID: LimiterWorkflowID}
	pc.v2 = workflow.GetVersion(ctx, changeJobPermitLease, workflow.DefaultVersion, versionPermitLease) >= versionPermitLease
	pc.req = activities.PermitRequest{
		WorkflowID: info.WorkflowExecution.ID,
		RunID:      j.permitRunID(ctx), // the run identity (identity.go), which a Reset keeps
		Limit:      j.in.ConcurrencyLimit,
		Until:      j.start.Add(j.t.Deadline + permitLeaseMargin),
	}
	if pc.v2 {
		pc.limiterID = LimiterWorkflowIDFor(j.in.ConcurrencyLimit)
		pc.req.ExecRunID = info.WorkflowExecution.RunID
		pc.req.Until = time.Time{} // the Limiter sets it from the grant and the lease
		pc.req.Lease = j.t.Deadline + permitLeaseMargin
	}
	return pc
}

// release gives the permit, or the place in the queue, back.
func (pc *permitCall) release(ctx workflow.Context) {
	// The Job's context may be cancelled: the release must still go out.
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	if err := workflow.SignalExternalWorkflow(dctx, pc.limiterID, "", SignalPermitRelease, pc.req).Get(dctx, nil); err != nil {
		// The Limiter is gone (terminated); its successor never knew this permit.
		pc.j.logger.Warn("release concurrency permit", "Error", err)
	}
}

// ask hands the request to the Limiter, starting it when none runs. Its retries have no
// limit but the queue's bound.
func (pc *permitCall) ask(ctx workflow.Context) workflow.Future {
	j := pc.j
	ao := askPermitOptions(j.label, max(j.t.Deadline-workflow.Now(ctx).Sub(j.start), time.Second))
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), acts().AcquirePermit, activities.AcquirePermitInput{
		LimiterID: pc.limiterID, TaskQueue: TaskQueue, WorkflowType: limiterWorkflowType,
		Signal: SignalPermitAcquire, Request: pc.req,
	})
}

// wait asks for the permit and waits for the grant, asking again every permitRefresh.
// The queue is bounded by the Job's deadline from its start. On an error the request
// has been withdrawn.
func (pc *permitCall) wait(ctx workflow.Context) error {
	j := pc.j
	grants := workflow.GetSignalChannel(ctx, SignalPermitGrant)
	waitCtx, cancelWait := workflow.WithCancel(ctx)
	defer cancelWait()
	deadline := workflow.NewTimerWithOptions(waitCtx, j.t.Deadline-workflow.Now(ctx).Sub(j.start),
		workflow.TimerOptions{Summary: j.label + ": deadline"})
	askCtx := ctx
	if pc.v2 {
		askCtx = waitCtx // a re-ask in flight ends with the wait
	}
	asked := pc.ask(askCtx)
	var refresh workflow.Future
	for {
		var granted, expired, askFailed bool
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(grants, func(c workflow.ReceiveChannel, _ bool) {
			var g PermitGrant
			c.Receive(ctx, &g)
			granted = true
		})
		sel.AddFuture(deadline, func(workflow.Future) { expired = true })
		if asked != nil {
			sel.AddFuture(asked, func(f workflow.Future) {
				asked = nil
				if err := f.Get(ctx, nil); err != nil {
					askFailed = true // only past the deadline: the retries have no limit
				}
				refresh = workflow.NewTimerWithOptions(waitCtx, permitRefresh, workflow.TimerOptions{Summary: j.label + ": ask again"})
			})
		}
		if refresh != nil {
			sel.AddFuture(refresh, func(workflow.Future) { refresh, asked = nil, pc.ask(askCtx) })
		}
		sel.Select(ctx)
		switch {
		case ctx.Err() != nil:
			pc.release(ctx)
			return j.cancelled(ctx)
		case granted:
			pc.granted(ctx)
			return nil
		case expired || askFailed:
			pc.release(ctx)
			waited := workflow.Now(ctx).Sub(j.start)
			j.finish(ctx, StateFailed) // first, so that the error's details are the final status
			return j.fail(ctx, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("heygen job %s not created: waited %s for one of %d concurrency permits", j.st.CallbackID, waited, j.in.ConcurrencyLimit),
				ErrTypeJobDeadlineExceeded, nil, j.st))
		}
	}
}

// granted starts the render's clock: from the grant (v2), or what is left of the
// deadline from the Job's start.
func (pc *permitCall) granted(ctx workflow.Context) {
	j := pc.j
	now := workflow.Now(ctx)
	waited := now.Sub(j.start)
	if pc.v2 {
		// The time queued is not the render's: the deadline counts from here.
		j.start = now
	}
	j.createAO.ScheduleToCloseTimeout = max(j.t.Deadline-now.Sub(j.start), time.Second)
	j.logger.Info("concurrency permit granted", "Waited", waited)
}
