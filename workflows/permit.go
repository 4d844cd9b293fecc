package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// The Job's side of the account's slots (the scheduler is scheduler.go).
//
// A Job creates first. On a worker whose account is scheduled, a create that holds no
// slot of the account's scheduler sends nothing to HeyGen and answers SlotRequired with
// the scheduler's ID: the Job then asks for a slot (AcquireSlot), waits for the grant
// (StateQueued), and creates again with the slot. A Job on an unscheduled account
// creates at once, with the history it always had.
//
// A create that HeyGen refuses for credit (activities.ErrTypeInsufficientCredit) is no
// failure: the Job reports it to the scheduler (a request with Refused), which pauses
// the account and keeps the Job's turn, and waits (StatePaused). When granted again it
// creates under a fresh Idempotency-Key: the identity's run with ":c<n>" appended, n
// counting the refusals. HeyGen replays a key's first answer for 24 hours, and a refused
// create made nothing, so the refused key could only ever answer 402 again. n is counted
// from the Job's own history, so a replay or a Reset derives the same keys; a Reset to
// before the refusal tries the first key again, gets HeyGen's stored 402, and moves on
// to ":c1" as before: nothing is created twice.
//
// The Job gives its slot back as soon as it knows its HeyGen job's outcome (a webhook or
// a poll says completed or failed): HeyGen's concurrency is free from then on, so the
// details fetch and the Job's ending do not hold the account's next create back. A Job
// that ends without an outcome (deadline, cancelled, a failed create) gives it back as
// it ends. It is given back once (j.slot is cleared as the release is sent), and the run
// waits for the release before it ends, so none is lost. Continue-as-new does not give
// it back: the next run carries it (JobResume.Slot) and gives it back in turn.
//
// While it waits, it asks again after permitRefresh, doubling to permitRefreshMax, so
// that a scheduler that was terminated (and lost its queue) hears of it again; asking
// twice is harmless. The wait is bounded by the Job's
// deadline from its start; from the grant, the deadline counts anew, since the time
// queued is not the render's.

// StateQueued is a Job waiting for a slot of the account before it creates its HeyGen job.
const StateQueued JobState = "waiting for a slot"

// StatePaused is a Job whose create HeyGen refused for credit, waiting for the account's
// balance to come back.
const StatePaused JobState = "waiting: account paused"

// Re-asks while a Job waits for a slot.
const (
	permitRefresh    = 5 * time.Minute
	permitRefreshMax = 30 * time.Minute
)

// createWithSlot creates the Job's HeyGen job, first waiting for a slot when the worker
// says the account is scheduled, and waiting out a pause when HeyGen refuses for credit.
// Its error is the Job's (the slot is given back then).
func (j *jobRun) createWithSlot(ctx workflow.Context) (activities.CreateJobResult, error) {
	for {
		var created activities.CreateJobResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, j.createAO), acts().CreateJob, activities.CreateJobInput{
			CallbackID:  j.st.CallbackID,
			Kind:        j.kind,
			Body:        j.in.Body,
			CallbackURL: j.in.CallbackURL,
			// Stable across retries, crashes and Resets; new for a deliberate new run, which
			// renders anew instead of getting HeyGen's 24-hour replay of the failed render,
			// and after each refusal for credit.
			IdempotencyKey: j.idempotencyKey(ctx),
			TemplateID:     j.in.TemplateID,
			Slot:           j.slot,
		}).Get(ctx, &created)
		switch {
		case ctx.Err() != nil:
			j.releaseSlot(ctx)
			return created, j.cancelled(ctx)
		case err != nil && isInsufficientCredit(err):
			j.refusals++
			// The refusal's report gives the slot back (the scheduler frees it and queues
			// the Job again), so the Job now only waits: giving the slot back again as it
			// leaves the queue would say it twice.
			j.slotAsked, j.slot = cmp.Or(j.slot, j.slotAsked), ""
			j.logger.Warn("heygen refused the create for credit; waiting for the account to resume", "Error", err, "Refusals", j.refusals)
			if err := j.waitForSlot(ctx, true, rootMessage(err)); err != nil {
				return created, err
			}
		case err != nil:
			j.releaseSlot(ctx)
			j.finish(ctx, StateFailed) // first, so that the error's details are the final status
			return created, j.fail(ctx, j.createError(err))
		case created.SlotRequired != nil:
			if j.slot != "" {
				// Two workers name the account differently: a misconfiguration the
				// schedulers cannot see. Give the first slot back and ask the other.
				j.logger.Warn("the create asks for another scheduler's slot; workers disagree on the account",
					"Held", j.slot, "Required", created.SlotRequired.SchedulerID)
				j.releaseSlot(ctx)
			}
			j.slotAsked = created.SlotRequired.SchedulerID
			if err := j.waitForSlot(ctx, false, ""); err != nil {
				return created, err
			}
		default:
			return created, nil
		}
	}
}

// isInsufficientCredit reports whether err is HeyGen's 402 insufficient_credit.
func isInsufficientCredit(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeInsufficientCredit
}

// slotRequest is the Job's request to the scheduler.
func (j *jobRun) slotRequest(ctx workflow.Context) activities.SlotRequest {
	info := workflow.GetInfo(ctx)
	s := j.in.Schedule
	return activities.SlotRequest{
		WorkflowID:     info.WorkflowExecution.ID,
		RunID:          j.id.Run, // the run identity (identity.go), which a Reset keeps
		ExecRunID:      info.WorkflowExecution.RunID,
		Lease:          j.t.Deadline + permitLeaseMargin,
		Priority:       normPriority(s.Priority),
		FairnessKey:    j.fairnessKey(),
		FairnessWeight: s.FairnessWeight,
		Campaign:       s.Campaign,
		Budget:         s.Budget,
	}
}

// fairnessKey is the Job's key: its schedule's, its campaign, or its pipeline's ID.
func (j *jobRun) fairnessKey() string {
	s := j.in.Schedule
	switch {
	case s.FairnessKey != "":
		return s.FairnessKey
	case s.Campaign != "":
		return s.Campaign
	case j.in.PipelineID != "":
		return j.in.PipelineID
	}
	return j.st.CallbackID
}

// waitForSlot asks for a slot (reporting a refusal for credit when refused) and waits
// for the grant, racing the Job's deadline and its cancellation. On an error the
// request has been withdrawn and the Job has ended.
func (j *jobRun) waitForSlot(ctx workflow.Context, refused bool, message string) error {
	req := j.slotRequest(ctx)
	req.Refused, req.Message = refused, message
	if refused {
		j.setState(ctx, StatePaused)
	} else {
		j.setState(ctx, StateQueued)
	}
	grants := workflow.GetSignalChannel(ctx, SignalSlotGrant)
	waitCtx, cancelWait := workflow.WithCancel(ctx)
	defer cancelWait()
	deadline := workflow.NewTimerWithOptions(waitCtx, j.t.Deadline-workflow.Now(ctx).Sub(j.start),
		workflow.TimerOptions{Summary: j.label + ": deadline"})
	asked := j.askSlot(waitCtx, req)
	req.Refused = false // a re-ask only asks
	var refresh workflow.Future
	every := permitRefresh
	for {
		var grant *SlotGrant
		var expired, askFailed bool
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(grants, func(c workflow.ReceiveChannel, _ bool) {
			var g SlotGrant
			c.Receive(ctx, &g)
			grant = &g
		})
		sel.AddFuture(deadline, func(workflow.Future) { expired = true })
		if asked != nil {
			sel.AddFuture(asked, func(f workflow.Future) {
				asked = nil
				var res activities.AcquireSlotResult
				if err := f.Get(ctx, &res); err != nil {
					askFailed = true // only past the deadline: the retries have no limit
					return
				}
				j.slotAsked = res.SchedulerID
				refresh = workflow.NewTimerWithOptions(waitCtx, every, workflow.TimerOptions{Summary: j.label + ": ask again"})
				every = min(2*every, permitRefreshMax)
			})
		}
		if refresh != nil {
			sel.AddFuture(refresh, func(workflow.Future) { refresh, asked = nil, j.askSlot(waitCtx, req) })
		}
		sel.Select(ctx)
		switch {
		case ctx.Err() != nil:
			j.withdraw(ctx)
			return j.cancelled(ctx)
		case grant != nil:
			j.granted(ctx, *grant)
			return nil
		case expired || askFailed:
			j.withdraw(ctx)
			waited := workflow.Now(ctx).Sub(j.start)
			j.finish(ctx, StateFailed) // first, so that the error's details are the final status
			return j.fail(ctx, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("heygen job %s not created: waited %s for a slot of the account", j.st.CallbackID, waited),
				ErrTypeSlotWaitExpired, nil, j.st))
		}
	}
}

// askSlot hands the request to the account's scheduler, starting it when none runs. Its
// retries have no limit but the queue's bound.
func (j *jobRun) askSlot(ctx workflow.Context, req activities.SlotRequest) workflow.Future {
	ao := askSlotOptions(j.label, untilDeadline(j.t.Deadline, workflow.Now(ctx).Sub(j.start)))
	ao.Priority = j.priority
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), acts().AcquireSlot, activities.AcquireSlotInput{
		TaskQueue: TaskQueue, WorkflowType: WorkflowTypeScheduler, Signal: SignalSlotAcquire, Request: req,
	})
}

// granted takes the slot and starts the render's clock: the time queued is not the
// render's, so the deadline counts from here.
func (j *jobRun) granted(ctx workflow.Context, g SlotGrant) {
	now := workflow.Now(ctx)
	j.logger.Info("slot granted", "Scheduler", g.Scheduler, "Waited", now.Sub(j.start))
	j.slot = g.Scheduler
	j.start = now
	j.createAO = createOptions(j.label, j.t.Deadline)
	j.setState(ctx, StateCreating)
}

// releaseSlot gives the Job's slot back, if it holds one, and waits until the scheduler
// has the release.
func (j *jobRun) releaseSlot(ctx workflow.Context) {
	j.startRelease(ctx)
	j.awaitRelease(ctx)
}

// startRelease sends the release of the Job's slot, if it holds one, without waiting
// for it: the Job goes on in the same workflow task (its details fetch), and the
// account's next Job is granted meanwhile. j.slot is cleared at once, so the slot is
// given back once only; awaitRelease must run before the run ends.
func (j *jobRun) startRelease(ctx workflow.Context) {
	if j.slot == "" {
		return
	}
	j.releasing = append(j.releasing, j.signalRelease(ctx, j.slot))
	j.slot = ""
}

// awaitRelease waits for the releases sent. A run must not end (complete, fail or
// continue as new) with one in flight: the server drops a signal whose sender has
// closed, and the slot would only come back at the scheduler's next holder check.
func (j *jobRun) awaitRelease(ctx workflow.Context) {
	if len(j.releasing) == 0 {
		return
	}
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	for _, r := range j.releasing {
		if err := r.f.Get(dctx, nil); err != nil {
			// The scheduler is gone (terminated); its successor never knew this slot.
			j.logger.Warn("give the slot back", "Scheduler", r.scheduler, "Error", err)
		}
		r.done()
	}
	j.releasing = nil
}

// endSlot runs as the Job's run ends: it gives back a slot still held, unless the run
// continues as new (the next run carries it), and waits for every release sent.
func (j *jobRun) endSlot(ctx workflow.Context) {
	if !j.continued {
		j.startRelease(ctx)
	}
	j.awaitRelease(ctx)
}

// withdraw takes the Job off the queue it asked to join.
func (j *jobRun) withdraw(ctx workflow.Context) {
	j.startRelease(ctx)
	if j.slotAsked != "" {
		j.releasing = append(j.releasing, j.signalRelease(ctx, j.slotAsked))
	}
	j.awaitRelease(ctx)
}

// release is a release signal in flight, and the cancel function of its disconnected
// context, called once it has settled (cancelling earlier would withdraw the signal).
type release struct {
	scheduler string
	f         workflow.Future
	done      workflow.CancelFunc
}

// signalRelease signals the release under the Job's run identity, which the scheduler
// matches with the workflow ID. A continued run's release is the same. The Job's
// context may be cancelled, so it uses a disconnected one.
func (j *jobRun) signalRelease(ctx workflow.Context, scheduler string) release {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	req := activities.SlotRequest{WorkflowID: j.st.CallbackID, RunID: j.id.Run}
	return release{scheduler: scheduler, f: workflow.SignalExternalWorkflow(dctx, scheduler, "", SignalSlotRelease, req), done: cancel}
}

// idempotencyKey is the create's Idempotency-Key: the identity's (identity.go), with
// ":c<n>" on the run after the nth refusal for credit.
func (j *jobRun) idempotencyKey(ctx workflow.Context) string {
	id := j.id
	if j.refusals > 0 {
		id.Run += ":c" + strconv.Itoa(j.refusals)
	}
	return id.IdempotencyKey()
}

// jobPriority is Temporal's Priority for a Job's schedule: its priority, fairness key
// (at most 64 bytes, Temporal's limit) and weight.
func jobPriority(s Schedule, key string) temporal.Priority {
	if len(key) > 64 {
		key = key[:64]
	}
	w := s.FairnessWeight
	if w != 0 {
		w = min(max(w, minWeight), maxWeight)
	}
	p := s.Priority
	if p != 0 {
		p = normPriority(p)
	}
	// A zero PriorityKey inherits the workflow's (the Pipeline's start sets it).
	return temporal.Priority{PriorityKey: p, FairnessKey: key, FairnessWeight: float32(w)}
}

// PipelinePriority is Temporal's Priority for a Pipeline's start: its schedule's
// priority, and its fairness key (the campaign's, else the pipeline's ID) and weight.
// Its Jobs get theirs from the same schedule (jobPriority), and activities inherit.
func PipelinePriority(in PipelineInput) temporal.Priority {
	return jobPriority(in.Schedule, cmp.Or(in.Schedule.FairnessKey, in.Schedule.Campaign, in.ID))
}
