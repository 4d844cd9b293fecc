package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// Job runs one HeyGen job: it creates it, then waits for its webhook and, when none comes
// within the push window, polls with backoff until the job is terminal or the deadline
// passes. The first terminal answer, from a webhook or a poll, wins; every later one is
// ignored. The workflow's own ID is the job's callback_id.
//
// A Job fails with an ApplicationError of type ErrTypeHeyGenJobFailed when HeyGen says
// the job failed, ErrTypeStillRendering when the deadline passes with the job still
// pending or processing, ErrTypeCreateUnconfirmed when it passes before a create was
// confirmed, or the HeyGen error type (heygen.KindPermanent) when the create call is
// refused. Each carries the Job's final JobStatus as details.
func Job(ctx workflow.Context, in JobInput) (JobResult, error) {
	j := newJobRun(ctx, in)
	// Registered before anything else, so the status query answers from the first
	// workflow task on.
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (JobStatus, error) { return j.st, nil }); err != nil {
		return JobResult{}, fmt.Errorf("set status query handler: %w", err)
	}
	return j.run(ctx)
}

// outcome is how a job ended, as far as the Job has learnt.
type outcome int

const (
	outcomeNone outcome = iota
	outcomeSuccess
	outcomeFailure
)

// waitKind says what the Job's current wait future is.
type waitKind int

const (
	waitPush  waitKind = iota // the push window timer
	waitPoll                  // a poll activity in flight
	waitSleep                 // the backoff timer before the next poll
)

// jobRun is the state of one Job execution.
type jobRun struct {
	in       JobInput
	t        Timeouts
	kind     string
	label    string // the step name, for summaries in the Temporal UI
	start    time.Time
	st       JobStatus
	logger   log.Logger
	events   workflow.ReceiveChannel
	createAO workflow.ActivityOptions
	pollAO   workflow.ActivityOptions
	outcome  outcome
	jobIDSet bool // HeyGenJobID has been upserted
	// id is the Job's identity (identity.go).
	id JobIdentity
	// slot is the scheduler whose slot the Job holds, which a continued run keeps; ""
	// without one. slotAsked is the scheduler it asked last, refusals how often HeyGen
	// refused its create for credit (permit.go).
	slot, slotAsked string
	refusals        int
	// releasing are the release signals sent and not yet settled (permit.go).
	releasing []release
	// priority is Temporal's Priority of the Job's activities, from its Schedule.
	priority temporal.Priority
	// continued: the run ends in continue-as-new, so the permit is not given back.
	continued bool
	// wakes counts the wait loop's turns in this run, for the history estimate.
	wakes int
	// permanentPollErrors counts consecutive polls that HeyGen refused permanently.
	permanentPollErrors int
	// verifyWanted: a drained event asked for a status read (onEvent).
	verifyWanted bool
	// detailed: a single GET has read the finished job's full record (a poll that found
	// it over, or the details fetch), so its links and duration are all HeyGen gives.
	detailed bool
}

func newJobRun(ctx workflow.Context, in JobInput) *jobRun {
	info := workflow.GetInfo(ctx)
	now := workflow.Now(ctx)
	// The deadline counts from the workflow's start, even when its first task ran late.
	start := info.WorkflowStartTime
	if start.IsZero() || start.After(now) {
		start = now
	}
	if in.Resume != nil {
		// A continued run: the deadline still counts from where the first run's did.
		start = cmp.Or(in.Resume.DeadlineFrom, in.Resume.Status.StartedAt)
	}
	t := in.Timeouts.WithDefaults()
	kind := in.Kind
	if kind == "" {
		kind = KindVideo
	}
	label := cmp.Or(in.Label, in.Step, "job")
	j := &jobRun{
		in:     in,
		t:      t,
		kind:   string(kind),
		label:  label,
		start:  start,
		logger: log.With(workflow.GetLogger(ctx), "Step", in.Step),
		events: workflow.GetSignalChannel(ctx, SignalEvent),
		st: JobStatus{
			Step:       in.Step,
			Kind:       kind,
			CallbackID: info.WorkflowExecution.ID,
			State:      StateCreating,
			StartedAt:  start,
		},
	}
	if in.Retries > 0 || in.Attempt > 1 {
		j.st.Attempt, j.st.Attempts = max(in.Attempt, 1), max(in.Attempt, 1+in.Retries)
		j.st.FailedAttempts = in.FailedAttempts
	}
	// Activity options, set once (options.go). The create's deadline: zero would mean
	// no limit, so a job already past its deadline gets a token second.
	j.createAO = createOptions(label, untilDeadline(t.Deadline, now.Sub(start)))
	// A poll gets a few quick attempts. When they all fail the Job logs it and polls
	// again on its own backoff schedule: a failed poll never fails the job.
	j.pollAO = pollOptions(label + ": poll")
	// Temporal's Priority, so that a busy worker runs urgent work first.
	j.priority = jobPriority(in.Schedule, j.fairnessKey())
	j.createAO.Priority, j.pollAO.Priority = j.priority, j.priority
	return j
}

func (j *jobRun) run(ctx workflow.Context) (JobResult, error) {
	j.id = jobIdentity(ctx, j.in.RunIdentity)
	j.id.Attempt = j.in.Attempt
	if j.in.Resume != nil {
		// A continued run (jobhistory.go): the HeyGen job exists, never create again.
		return j.resume(ctx)
	}
	// 1. Create, first waiting for a slot of the account when the worker says it is
	// scheduled, and out a pause for credit (permit.go). The slot is given back however
	// the Job ends, except into continue-as-new, which keeps it. Signals that arrive
	// meanwhile wait in the channel; they are drained below.
	j.setState(ctx, StateCreating)
	created, err := j.createWithSlot(ctx)
	if err != nil {
		return JobResult{}, err
	}
	defer j.endSlot(ctx)
	j.st.HeyGenJobID = created.HeyGenJobID
	j.st.HeyGenStatus = created.Status
	j.logger = log.With(j.logger, "HeyGenJobID", created.HeyGenJobID)
	j.setState(ctx, StateWaiting)

	// 2. Wait, unless a signal buffered during the create already answered.
	j.drain()
	now := workflow.Now(ctx)
	return j.waitAndConclude(ctx, waitLoop{kind: waitPush, pushEnd: now.Add(j.t.PushWindow), interval: j.t.PollInitial})
}

// waitAndConclude waits from lp until the Job's outcome is known and ends the Job. A
// success without its output link (a webhook that named none, and no status read that
// gave one) never ends it as done: the Job waits on, and the next poll decides.
func (j *jobRun) waitAndConclude(ctx workflow.Context, lp waitLoop) (JobResult, error) {
	for {
		if j.outcome == outcomeNone {
			if err := j.wait(ctx, lp); err != nil {
				return JobResult{}, err
			}
		}
		// HeyGen's job is over, so is its hold on the account's concurrency: the slot
		// goes back now, before the details fetch (permit.go).
		j.startRelease(ctx)
		res, err, done := j.conclude(ctx)
		if done {
			return res, err
		}
		lp = waitLoop{kind: waitPush, pushEnd: lp.pushEnd, interval: lp.interval}
		if !workflow.Now(ctx).Before(lp.pushEnd) {
			lp.kind = waitSleep
		}
	}
}

// conclude ends a Job whose outcome is known: it completes a success webhook's details
// and returns the result, or the Job's error for HeyGen's failure. done is false when a
// success still has no output link: the outcome is reset and the Job waits on.
func (j *jobRun) conclude(ctx workflow.Context) (_ JobResult, _ error, done bool) {
	// 3. A success webhook carries the URL but, as documented, no duration, thumbnail
	// or captions: one status call fetches them, for the Job and for its Pipeline, which
	// delivers from the Job's row and never reads the job again. That keeps a
	// webhook-driven job at one status call, against one every few seconds for a
	// polling client. A success a poll found came from that read already.
	if j.outcome == outcomeSuccess && !j.detailed && j.missingDetails() {
		j.fetchURLs(ctx)
		if ctx.Err() != nil {
			return JobResult{}, j.cancelled(ctx), true
		}
	}
	if j.outcome == outcomeSuccess && j.st.VideoURL == "" {
		j.logger.Warn("success without an output link; waiting for a status read that has one", "FinishedBy", j.st.FinishedBy)
		j.outcome, j.st.FinishedBy = outcomeNone, ""
		return JobResult{}, nil, false
	}
	// Count and log what arrived after the answer, so nothing is silently dropped.
	j.drain()

	if j.outcome == outcomeFailure {
		msg := j.st.FailureMessage
		if msg == "" {
			msg = "no reason given"
		}
		j.finish(ctx, StateFailed) // first, so that the error's details are the final status
		return JobResult{}, j.fail(ctx, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("heygen job %s failed: %s", j.st.HeyGenJobID, msg), ErrTypeHeyGenJobFailed, nil, j.st)), true
	}
	j.finish(ctx, StateDone)
	j.logger.Info("heygen job done", "FinishedBy", j.st.FinishedBy, "Polls", j.st.Polls, "Events", j.st.Events)
	return j.st, nil, true
}

// waitLoop is where a Job's wait stands; a continued run picks it up (JobResume).
type waitLoop struct {
	kind     waitKind
	wakeAt   time.Time     // when the current timer ends: the next sweep or poll
	pushEnd  time.Time     // when the push window ends and the per-job backoff begins
	interval time.Duration // the nominal interval before the next per-job poll
	jitter   bool          // whether the backoff is jittered: decided once, at the first poll
	verify   bool          // the poll in flight is a status read an event asked for
	backoff  bool          // the timer ends in a per-job poll of the backoff, not a sweep
}

// The sweep: how a lost webhook costs a minute, not the push window.
//
// Every waiting Job polls at every multiple of Timeouts.Sweep (a minute) of workflow
// time, from its create on, whatever its phase. The instants are the same for every Job
// (the minute boundaries of the clock, not a minute after each create), so the polls of
// all the Jobs a worker runs arrive together and the batcher (activities/batcher.go)
// sends them as one bulk status call per 100 IDs. A Job whose webhook is lost is thus
// found at the first sweep after its HeyGen job ends: at most one sweep interval late,
// plus the batch window. The push window only decides when the per-job backoff
// (PollInitial doubling to PollMax, jittered) begins; its polls come between sweeps only
// while its interval is shorter than the sweep's, so past that the sweep alone carries a
// long render, at 1/100 of a bulk call a minute. A success the bulk row reports costs the
// one single GET for the links, as before. A Job created in the last twelfth of a sweep
// interval before an instant (5 s of a minute) is read that long after it instead, with
// the others young at it (changeSweepGrace).

// changeSweepClose guards how a Job closes around a sweep (issue 18): a success
// webhook without the job's details (HeyGen's never carry the duration) that lands
// while a poll is in flight waits for the poll's answer and takes the details from it,
// instead of cancelling the poll and reading the job a second time (awaitPoll).
// docs/replay.md lists it.
const changeSweepClose = "job-sweep-close"

// sweepClose reports whether this run takes changeSweepClose's path. The first call
// records the version where the path first forks; the SDK answers every later call of
// the run from that record.
func (j *jobRun) sweepClose(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, changeSweepClose, workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

// nextSweep is the first sweep instant after now: the next multiple of every since the
// zero time, identical for every Job on every worker.
func nextSweep(now time.Time, every time.Duration) time.Time {
	return now.Truncate(every).Add(every)
}

// changeSweepGrace guards the sweep's grace for a young Job (issue 18): a Job created
// less than a twelfth of the sweep interval (5 s of a minute) before a sweep instant is
// read that long after the instant instead, with the other Jobs young at it. At the
// instant its job can only be rendering, or over with its webhook on the way: a read
// then races the webhook, and alone it is a bulk call that a delivered run would not
// make. The grace read still finds a job that ended within seconds of its create, so
// not even a lost webhook of such a job costs a minute. docs/replay.md lists it.
const changeSweepGrace = "job-sweep-grace"

// nextWake is schedule with the sweep's grace: when the next wake is a sweep instant that
// comes less than the grace after the Job's create, it is moved on by the grace. The
// version is asked only there, so a Job that is never young at an instant writes the
// history it wrote before the change.
func (j *jobRun) nextWake(ctx workflow.Context, now time.Time, lp waitLoop, lastPoll time.Time) (time.Time, bool) {
	at, backoff := j.schedule(now, lp, lastPoll)
	if backoff || j.t.Sweep <= 0 || !at.Equal(nextSweep(now, j.t.Sweep)) {
		return at, backoff
	}
	grace := SweepGrace(j.t.Sweep)
	created := lp.pushEnd.Add(-j.t.PushWindow) // the wait began at the create (run)
	if at.Sub(created) >= grace {
		return at, false
	}
	// The first call records the version; the SDK answers every later call of the run
	// from that record, as for sweepClose.
	if workflow.GetVersion(ctx, changeSweepGrace, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return at, false
	}
	return at.Add(grace), false
}

// schedule returns when the Job polls next after now, and whether that poll is one of
// the per-job backoff: the next sweep, or before it the push window's end or (after
// the push window) the backoff's next poll while its interval is shorter than a sweep.
// lastPoll is the instant of the poll the backoff counts from.
func (j *jobRun) schedule(now time.Time, lp waitLoop, lastPoll time.Time) (time.Time, bool) {
	sweep := now.Add(j.t.Deadline) // no sweep (Sweep < 0): past the deadline, never reached
	if j.t.Sweep > 0 {
		sweep = nextSweep(now, j.t.Sweep)
	}
	switch {
	case lp.kind == waitPush && lp.pushEnd.Before(sweep):
		return lp.pushEnd, false // the first poll of the polling phase, at once
	case lp.kind == waitPush, j.t.Sweep > 0 && lp.interval >= j.t.Sweep:
		return sweep, false
	}
	d := jitterInterval(lp.interval, j.st.CallbackID, j.st.Polls)
	if next := lastPoll.Add(d); next.Before(sweep) {
		return next, true
	}
	return sweep, false
}

// wait races webhooks against the sweep, the push window and then polls on a growing
// interval, until an answer or the deadline. It returns nil once j.outcome is set, or
// the Job's error for the deadline or a cancellation, or the ContinueAsNewError that
// keeps its history bounded. Every timer and poll hangs off waitCtx, so that the first
// answer cancels whatever is still outstanding; each timer has its own context too, so
// that an event that must be checked (onEvent) can replace it by a status read at once.
func (j *jobRun) wait(ctx workflow.Context, lp waitLoop) error {
	waitCtx, cancelWait := workflow.WithCancel(ctx)
	defer cancelWait()
	now := workflow.Now(ctx)
	deadline := workflow.NewTimerWithOptions(waitCtx, max(j.t.Deadline-now.Sub(j.start), 0),
		workflow.TimerOptions{Summary: j.label + ": deadline"})
	if lp.wakeAt.IsZero() {
		lp.wakeAt, lp.backoff = j.nextWake(ctx, now, lp, now)
	}
	wait, cancelTimer := j.timer(waitCtx, now, lp)
	for j.outcome == outcomeNone {
		if j.verifyWanted && lp.kind != waitPoll {
			// An event to check: read the job's status now instead of at the next poll.
			cancelTimer()
			lp.kind, lp.verify = waitPoll, true
			wait = j.startPoll(waitCtx, true)
		}
		j.verifyWanted = false
		// Only between polls: an activity in flight is never abandoned.
		if lp.kind != waitPoll && j.continueSuggested(ctx) {
			return j.continueAsNew(ctx, lp)
		}
		j.wakes++
		var (
			event                    *heygen.Event
			deadlineFired, waitFired bool
		)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(j.events, func(c workflow.ReceiveChannel, _ bool) {
			var ev heygen.Event
			c.Receive(ctx, &ev)
			event = &ev
		})
		// The deadline timer can only end by firing or by ctx's cancellation, which the
		// switch below checks first.
		sel.AddFuture(deadline, func(workflow.Future) { deadlineFired = true })
		sel.AddFuture(wait, func(workflow.Future) { waitFired = true })
		sel.Select(ctx)

		switch {
		case ctx.Err() != nil:
			return j.cancelled(ctx)
		case event != nil:
			j.verifyWanted = j.onEvent(*event)
			if j.outcome == outcomeSuccess && lp.kind == waitPoll && j.missingDetails() && j.sweepClose(ctx) {
				// A success webhook that lands while a poll is in flight (a sweep's,
				// most often): the poll reads the finished job with its one GET, so its
				// answer gives the details the webhook lacks, instead of a second read.
				j.awaitPoll(ctx, wait)
			}
		case deadlineFired:
			// An answer that arrived together with the deadline still counts.
			j.drain()
			if j.outcome == outcomeNone {
				j.finish(ctx, StateFailed) // first, so that the error's details are the final status
				return j.fail(ctx, j.deadlineError(ctx))
			}
		case waitFired:
			wait, cancelTimer = j.advance(ctx, waitCtx, wait, &lp)
		}
	}
	return nil
}

// timer starts the timer that ends at lp.wakeAt, on a context of its own.
func (j *jobRun) timer(waitCtx workflow.Context, now time.Time, lp waitLoop) (workflow.Future, workflow.CancelFunc) {
	summary := j.label + ": next sweep"
	if lp.kind == waitSleep {
		summary = j.label + ": next poll"
	}
	tctx, cancel := workflow.WithCancel(waitCtx)
	return workflow.NewTimerWithOptions(tctx, max(lp.wakeAt.Sub(now), 0), workflow.TimerOptions{Summary: summary}), cancel
}

// advance moves the wait on when its current future is ready: a timer starts a poll
// (the push window's end also starts the polling phase), and a finished poll, without an
// answer, starts the timer to the next one. It returns the new wait future and its
// cancel function.
func (j *jobRun) advance(ctx, waitCtx workflow.Context, wait workflow.Future, lp *waitLoop) (workflow.Future, workflow.CancelFunc) {
	now := workflow.Now(ctx)
	noop := func() {}
	switch lp.kind {
	case waitPush, waitSleep:
		if lp.kind == waitPush && !now.Before(lp.pushEnd) {
			j.logger.Info("no webhook within the push window; polling", "PushWindow", j.t.PushWindow)
			j.setState(ctx, StatePolling)
			lp.kind = waitSleep
		}
		if lp.backoff {
			// A per-job poll of the backoff (not a sweep): the next one waits longer.
			lp.interval = min(2*lp.interval, j.t.PollMax)
		}
		lp.kind, lp.verify, lp.backoff = waitPoll, false, false
		lp.wakeAt = now // the poll's instant, from which the backoff counts
		return j.startPoll(waitCtx, false), noop
	default: // waitPoll
		j.onPoll(ctx, wait)
		if j.outcome != outcomeNone {
			return nil, noop
		}
		lastPoll := lp.wakeAt
		lp.kind = waitSleep
		if now.Before(lp.pushEnd) {
			lp.kind = waitPush
		}
		lp.wakeAt, lp.backoff = j.nextWake(ctx, now, *lp, lastPoll)
		return j.timer(waitCtx, now, *lp)
	}
}

// pollJitterPermille is the jitter's reach: an interval between polls is its nominal
// length (PollInitial doubling up to PollMax) times 1 ± up to 15%.
const pollJitterPermille = 150

// jitterInterval spreads d by up to ±15%, so that thousands of Jobs whose push windows
// ended together (a webhook outage) do not poll in lockstep, bunching their bulk calls
// and HeyGen's rate limit into the same second. Workflow code may not draw random
// numbers, so the offset comes from an FNV-1a hash of the workflow ID and the poll
// number: different for each job and each poll, the same on every replay. Integer
// arithmetic only, because floating point may round differently on another CPU
// architecture, and a replay must produce the very same timer.
func jitterInterval(d time.Duration, workflowID string, poll int) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(workflowID)) // a hash.Hash never fails
	_, _ = h.Write([]byte("#" + strconv.Itoa(poll)))
	offset := int64(h.Sum64()%(2*pollJitterPermille+1)) - pollJitterPermille // -150..150
	return (d + d/1000*time.Duration(offset)).Truncate(time.Millisecond)
}

// drain handles every signal already buffered, without blocking. An event that needs
// a status read sets verifyWanted, which the wait serves first.
func (j *jobRun) drain() {
	for {
		var ev heygen.Event
		if !j.events.ReceiveAsync(&ev) {
			return
		}
		if j.onEvent(ev) {
			j.verifyWanted = true
		}
	}
}

// onEvent applies a webhook event (or a replayed one: the same path). Only the first
// terminal answer counts, and only an event that names this Job's HeyGen job is believed
// as it is. One that names no job (which a forged-free but confused sender, or an old
// render of the same callback_id, can send) or a success without its output link only
// asks for a status read of the Job's own HeyGen job: onEvent then returns true, and the
// read's answer decides. A caption or GIF event is never the video's own result.
func (j *jobRun) onEvent(ev heygen.Event) (verify bool) {
	j.st.Events++
	switch {
	case j.outcome != outcomeNone:
		j.logger.Info("event after the outcome ignored", "EventType", ev.Type, "EventJobID", ev.JobID, "FinishedBy", j.st.FinishedBy)
		return false
	case ev.Outcome() == heygen.OutcomeOther || !ev.Known():
		// Known() matters too: avatar_video_gif.success and avatar_video_caption.success
		// name the same video and end in ".success", but say nothing about the render.
		j.logger.Info("event type ignored", "EventType", ev.Type)
		return false
	case ev.JobID != "" && ev.JobID != j.st.HeyGenJobID:
		j.logger.Warn("event for another heygen job ignored", "EventType", ev.Type, "EventJobID", ev.JobID)
		return false
	case ev.JobID == "":
		j.logger.Warn("event names no heygen job; reading the job's status before believing it", "EventType", ev.Type)
		return true
	case ev.Outcome() == heygen.OutcomeSuccess && ev.URL == "":
		j.logger.Warn("success event without an output link; reading the job's status", "EventType", ev.Type)
		return true
	}
	j.st.FinishedBy = FinishedByWebhook
	if ev.Outcome() == heygen.OutcomeFailure {
		j.outcome = outcomeFailure
		j.st.HeyGenStatus = heygen.StatusFailed
		j.st.FailureMessage = ev.Message
		j.st.FailureCode = ev.FailureCode
		return false
	}
	j.outcome = outcomeSuccess
	j.st.HeyGenStatus = heygen.StatusCompleted
	j.st.VideoURL = ev.URL
	j.st.ThumbnailURL = ev.ThumbnailURL
	j.st.CaptionURL = ev.CaptionURL
	j.st.Duration = ev.Duration
	return false
}

// startPoll starts one status read. A verification (details) reads the job alone with a
// single GET: the event said it is over, so a bulk call would only come first.
func (j *jobRun) startPoll(ctx workflow.Context, details bool) workflow.Future {
	ao := j.pollAO
	if details {
		ao.Summary = j.label + ": check an event"
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), acts().PollJob,
		activities.PollJobInput{Kind: j.kind, HeyGenJobID: j.st.HeyGenJobID, Details: details})
}

// onPoll applies the answer of a finished poll. A failed poll is logged, not fatal.
func (j *jobRun) onPoll(ctx workflow.Context, f workflow.Future) {
	j.st.Polls++
	var r activities.PollJobResult
	if err := f.Get(ctx, &r); err != nil {
		j.onPollError(err)
		return
	}
	j.permanentPollErrors = 0
	j.st.HeyGenStatus = r.Status
	switch r.Status {
	case heygen.StatusCompleted:
		// A completed status comes from the single GET (PollJob), the job's full record.
		j.detailed = true
		if r.VideoURL == "" && j.st.VideoURL == "" {
			// Never done without the output link: the next poll asks again.
			j.logger.Warn("status says completed but gives no output link; polling again")
			return
		}
		j.outcome = outcomeSuccess
		j.st.FinishedBy = FinishedByPoll
		j.applyPoll(r)
	case heygen.StatusFailed:
		j.outcome = outcomeFailure
		j.st.FinishedBy = FinishedByPoll
		j.st.FailureMessage = failureText(r.FailureCode, r.FailureMessage)
		j.st.FailureCode = r.FailureCode
	}
}

// applyPoll fills the result's URLs from a poll, keeping any a webhook already gave.
func (j *jobRun) applyPoll(r activities.PollJobResult) {
	j.st.VideoURL = cmp.Or(j.st.VideoURL, r.VideoURL)
	j.st.ThumbnailURL = cmp.Or(j.st.ThumbnailURL, r.ThumbnailURL)
	j.st.CaptionURL = cmp.Or(j.st.CaptionURL, r.CaptionURL)
	j.st.VTTCaptionURL = cmp.Or(j.st.VTTCaptionURL, r.VTTCaptionURL)
	j.st.AudioURL = cmp.Or(j.st.AudioURL, r.AudioURL)
	if j.st.Duration == 0 {
		j.st.Duration = r.Duration
	}
}

// missingDetails reports whether the Job's row lacks what a single GET of a finished job
// always gives: the video's link, its duration, and a video's thumbnail. Captions are
// not asked for: they exist only when the spec asked for them, and a webhook never
// carries the duration, so in practice every success webhook is followed by the fetch.
func (j *jobRun) missingDetails() bool {
	return j.st.VideoURL == "" || j.st.Duration == 0 || (j.st.Kind != KindTranslation && j.st.ThumbnailURL == "")
}

// awaitPoll waits for the poll in flight when a success webhook landed and takes the
// details from its answer: a poll that found the job completed made the single GET of
// its full record (activities.PollJob), so the Job's row is complete and conclude reads
// nothing again. A poll that failed, or whose bulk row still said processing (it was
// read before the job ended), leaves the details to conclude's one fetch, as before.
// Waiting costs no more than that fetch would: the poll's answer is at most its batch
// window away, and both calls share the poll's retry policy.
func (j *jobRun) awaitPoll(ctx workflow.Context, f workflow.Future) {
	var r activities.PollJobResult
	err := f.Get(ctx, &r)
	j.st.Polls++
	switch {
	case err != nil:
		j.logger.Info("the poll in flight when the webhook landed failed; fetching the details", "Error", err)
	case r.Status == heygen.StatusCompleted:
		j.detailed = true
		j.applyPoll(r)
	}
}

// fetchURLs reads the job once after a success webhook that lacked its URL or details.
// Failing that, the job still succeeded; what is missing is logged.
func (j *jobRun) fetchURLs(ctx workflow.Context) {
	ao := j.pollAO
	ao.Summary = j.label + ": fetch video details"
	var r activities.PollJobResult
	// Details: the job is known to be over, so a bulk status call would only come on
	// top of the GET. Activity input is not part of replay's determinism check.
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), acts().PollJob,
		activities.PollJobInput{Kind: j.kind, HeyGenJobID: j.st.HeyGenJobID, Details: true}).Get(ctx, &r)
	j.st.Polls++
	j.detailed = true // once: a failed fetch leaves what the webhook gave
	if err != nil {
		j.logger.Warn("success webhook lacked details and the fetch failed", "Error", err)
		return
	}
	j.applyPoll(r)
}

// setState records a state and upserts it, with the HeyGen job ID once known, as the
// search attributes the Temporal UI shows.
func (j *jobRun) setState(ctx workflow.Context, s JobState) {
	j.st.State = s
	updates := []temporal.SearchAttributeUpdate{stageKey.ValueSet(string(s))}
	if j.st.HeyGenJobID != "" && !j.jobIDSet {
		updates = append(updates, heygenJobIDKey.ValueSet(j.st.HeyGenJobID))
		j.jobIDSet = true
	}
	// Only local validation fails here; the UI attributes are not worth failing a job.
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		j.logger.Warn("upsert search attributes", "Error", err)
	}
}

// finish records the final state and time.
func (j *jobRun) finish(ctx workflow.Context, s JobState) {
	j.st.FinishedAt = workflow.Now(ctx)
	j.setState(ctx, s)
}

// fail ends the Job with err and returns it; the query keeps answering, with state failed.
// It does not log err: the Job's failure, in its history and the pipeline's row, is
// where the error is handled.
func (j *jobRun) fail(ctx workflow.Context, err error) error {
	if j.st.State != StateFailed {
		j.finish(ctx, StateFailed)
	}
	return err
}

// cancelled ends a cancelled Job. Its context is done, so the final upsert uses a
// disconnected one. The CanceledError carries the final status, so that the pipeline's
// row keeps the HeyGen job ID and timings.
func (j *jobRun) cancelled(ctx workflow.Context) error {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	j.finish(dctx, StateCancelled)
	j.logger.Info("heygen job cancelled")
	return temporal.NewCanceledError(j.st)
}

// createError turns a failed create into the Job's error, keeping the activity error as
// the cause, HeyGen's own words in the message and the Job's final status as details.
// Create retries without an attempt limit, so it fails for one of two reasons: a
// non-retryable error (HeyGen refused), or the retries ran into ScheduleToClose, the
// job's deadline. The server reports the latter as a timeout or as the last attempt's
// error; either way it is not refused. Nor is it proof that HeyGen made nothing: an
// attempt that reached HeyGen and then lost its answer (to a worker stopped mid-call,
// which the server waits out for the attempt's StartToClose) is retried with the same
// Idempotency-Key only if the deadline allows, so its type is ErrTypeCreateUnconfirmed,
// not "not created".
func (j *jobRun) createError(err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && (appErr.NonRetryable() || appErr.Type() == heygen.KindPermanent.String()) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("create heygen job %s: %s", j.st.CallbackID, rootMessage(err)), appErr.Type(), err, j.st)
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("heygen job %s not confirmed created within its %s deadline (an attempt cut off in flight may still have reached HeyGen): %s",
			j.st.CallbackID, j.t.Deadline, rootMessage(err)),
		ErrTypeCreateUnconfirmed, err, j.st)
}

// deadlineError says which HeyGen job ran out of time, in what state, after how long,
// with the Job's status as details. It has no side effect: the caller finishes the Job
// first.
func (j *jobRun) deadlineError(ctx workflow.Context) error {
	state := string(j.st.HeyGenStatus)
	if state == "" {
		state = string(heygen.StatusProcessing)
	}
	waited := workflow.Now(ctx).Sub(j.start)
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("heygen job %s still %s after %s", j.st.HeyGenJobID, state, waited),
		ErrTypeStillRendering, nil, j.st)
}

// rootMessage is the message of the innermost ApplicationError in err's chain (for an
// activity, HeyGen's own error text), or err's text when there is none.
func rootMessage(err error) string {
	msg := ""
	for e := err; e != nil; e = errors.Unwrap(e) {
		if appErr, ok := e.(*temporal.ApplicationError); ok && appErr.Message() != "" {
			msg = appErr.Message()
		}
	}
	if msg == "" && err != nil {
		msg = err.Error()
	}
	return msg
}

// failureText joins HeyGen's failure code and message.
func failureText(code, msg string) string {
	switch {
	case code != "" && msg != "":
		return code + ": " + msg
	case msg != "":
		return msg
	default:
		return code
	}
}
