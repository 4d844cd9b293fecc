package workflows

import (
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/heygen"
)

// Bounded history.
//
// A Job that polls every 5 s for 24 h makes about 17,000 polls, some 11 events each:
// 190,000 events, far past the 51,200 at which the server terminates a run. So a Job
// continues as new, between polls, once its run's history reaches jobContinueAt events
// (the server's count, or the Job's own estimate of jobEventsPerWake per turn of its wait
// loop, whichever is higher) or the server suggests it. The turn that crosses
// jobContinueAt adds at most jobEventsPerWake events, and continuing adds a handful, so
// no run passes JobHistoryBound events unless something outside the Job (a flood of
// signals within one turn) writes them. The continued run gets the state in
// JobInput.Resume and the identity in JobInput.RunIdentity: it never creates again,
// keeps the deadline, the backoff position and the slot, and handles first the
// signals that were still buffered.

// Bounds of a Job run's history.
const (
	// JobHistoryBound is the most events one run of a Job writes: a fifth of the
	// 51,200 at which Temporal terminates a run, and below the 10,240 at which it warns.
	JobHistoryBound = 10_000
	// jobContinueAt is where a run continues as new: the bound less a margin for the
	// turn in progress and the continue-as-new itself.
	jobContinueAt = JobHistoryBound - 500
	// jobEventsPerWake bounds the events one turn of the wait loop writes: a workflow
	// task (scheduled, started, completed), what woke it (a timer fired, an activity
	// completed or a signal) and what it starts (a timer, or an activity scheduled and
	// started). The server's count replaces the estimate when it is higher.
	jobEventsPerWake = 6
	// jobRunBaseEvents bounds what a run writes before its wait loop: start, permit,
	// create, search attributes and their workflow tasks.
	jobRunBaseEvents = 60
)

// JobResume is what a Job's continued run takes over from the run before it.
type JobResume struct {
	// Status is the Job's state so far: its HeyGen job ID and status, polls and events
	// counted.
	Status JobStatus `json:"status"`
	// DeadlineFrom is when the Job's deadline started counting: its first run's start,
	// or its slot's grant (permit.go).
	DeadlineFrom time.Time `json:"deadline_from"`
	// Polling is true once the push window has ended: the next wake polls.
	Polling bool `json:"polling,omitempty"`
	// WakeAt is when the push window or the backoff timer that was running ends.
	WakeAt time.Time `json:"wake_at"`
	// Interval is the backoff position: the nominal interval after the next poll.
	Interval time.Duration `json:"interval"`
	// PushEnd is when the push window ends (zero in a run continued before the sweep:
	// WakeAt is then the push window's end); Backoff, that WakeAt is a per-job poll.
	PushEnd time.Time `json:"push_end,omitzero"`
	Backoff bool      `json:"backoff,omitempty"`
	// PermanentPollErrors counts the consecutive polls HeyGen refused (maxPermanentPollErrors).
	PermanentPollErrors int `json:"permanent_poll_errors,omitempty"`
	// Slot, when set, is the scheduler whose slot the Job holds and gives back at its
	// end, under its run identity (permit.go).
	Slot string `json:"slot,omitempty"`
	// Pending are the heygen.event signals that were buffered, not yet handled.
	Pending []heygen.Event `json:"pending,omitempty"`
	// Run counts the runs before this one.
	Run int `json:"run"`
}

// continueSuggested reports whether the run should continue as new now.
func (j *jobRun) continueSuggested(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	events := max(info.GetCurrentHistoryLength(), jobRunBaseEvents+jobEventsPerWake*j.wakes)
	return info.GetContinueAsNewSuggested() || events >= jobContinueAt
}

// continueAsNew ends the run into a new one that carries the Job's state and every
// signal still buffered. The timers of this run are cancelled; the new run starts its
// own for what remains of them.
func (j *jobRun) continueAsNew(ctx workflow.Context, lp waitLoop) error {
	// A release sent earlier in this run settles first, before the buffered signals are
	// taken, so that none arrives unseen while it waits.
	j.awaitRelease(ctx)
	r := &JobResume{
		Status:              j.st,
		DeadlineFrom:        j.start,
		Polling:             lp.kind == waitSleep,
		WakeAt:              lp.wakeAt,
		Interval:            lp.interval,
		PushEnd:             lp.pushEnd,
		Backoff:             lp.backoff,
		PermanentPollErrors: j.permanentPollErrors,
		Slot:                j.slot,
	}
	if j.in.Resume != nil {
		r.Run = j.in.Resume.Run + 1
	}
	for {
		var ev heygen.Event
		if !j.events.ReceiveAsync(&ev) {
			break
		}
		r.Pending = append(r.Pending, ev)
	}
	in := j.in
	in.RunIdentity, in.Resume = j.id.Run, r
	j.continued = true
	j.logger.Info("job continues as new", "Run", r.Run, "Polls", j.st.Polls,
		"HistoryLength", workflow.GetInfo(ctx).GetCurrentHistoryLength(), "Wakes", j.wakes, "Pending", len(r.Pending))
	return workflow.NewContinueAsNewError(ctx, Job, in)
}

// resume runs a continued Job: the HeyGen job exists, so it only waits on, from where
// the run before left off, and never creates.
func (j *jobRun) resume(ctx workflow.Context) (JobResult, error) {
	r := j.in.Resume
	j.st = r.Status
	j.permanentPollErrors = r.PermanentPollErrors
	j.slot = r.Slot
	j.logger = log.With(j.logger, "HeyGenJobID", j.st.HeyGenJobID, "Run", r.Run)
	defer j.endSlot(ctx)
	j.setState(ctx, j.st.State) // the new run's search attributes, HeyGenJobID included
	for _, ev := range r.Pending {
		j.onEvent(ev)
	}
	j.drain()
	lp := waitLoop{kind: waitPush, wakeAt: r.WakeAt, pushEnd: r.PushEnd, interval: r.Interval, backoff: r.Backoff}
	if lp.pushEnd.IsZero() {
		lp.pushEnd = r.WakeAt // continued before the sweep: WakeAt ended the push window
	}
	if r.Polling {
		lp.kind = waitSleep
	}
	return j.waitAndConclude(ctx, lp)
}
