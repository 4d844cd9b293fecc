package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// The activity options of every activity the workflows run, in one place. Each
// function returns the very options its callers set before, field for field: the
// options are recorded in the ScheduleActivityTask command, so changing any of them
// changes running workflows' histories.

// The numbers of the options below, each beside the reason for its value.
const (
	// createStartToClose bounds one create call. HeyGen answers a create in seconds; a
	// minute leaves room for a slow upload of a large body without hiding a hung call.
	createStartToClose = time.Minute
	// pollStartToClose bounds one status call, which is a small GET.
	pollStartToClose = 30 * time.Second
	// pollAttempts is how often one poll is tried before the Job gives up on it and
	// waits for the next poll on its own schedule.
	pollAttempts = 5
	// deliverStartToClose bounds one delivery attempt: a large video over a slow link.
	// Heartbeats, not this, catch a dead worker.
	deliverStartToClose = time.Hour
	// deliverHeartbeat: Deliver heartbeats every few seconds while bytes flow and ends a
	// download idle for a minute, so two minutes of silence means the worker is gone.
	deliverHeartbeat = 2 * time.Minute
	// deliverAttempts: downloads and buckets have outages; each attempt fetches a fresh
	// link when the stored one expired. Past that, the step records the failure.
	deliverAttempts = 8
	// notifyStartToClose bounds one POST to the user's endpoint.
	notifyStartToClose = 30 * time.Second
	// notifyScheduleToClose is how long a notification is retried: an endpoint that is
	// down for a deploy or a night still gets it. Then the notify step fails alone.
	notifyScheduleToClose = 6 * time.Hour
	// checkStartToClose bounds one CheckHolders call: one Describe per holder.
	checkStartToClose = 30 * time.Second
	// acquireStartToClose bounds one signal-with-start call.
	acquireStartToClose = 30 * time.Second
	// checkBalanceStartToClose bounds one GET /v3/users/me.
	checkBalanceStartToClose = 30 * time.Second
	// priorJobsHeartbeat: PriorJobs heartbeats every couple of seconds while it waits for
	// a Job of a stopped run; a minute of silence means its worker is gone.
	priorJobsHeartbeat = time.Minute
	// priorJobsAttempts bounds the rerun's look for earlier runs: a Temporal that fails
	// it this often is down, and the pipeline says so instead of waiting for ever.
	priorJobsAttempts = 5
)

// untilDeadline is a ScheduleToClose that ends a Job's calls at its deadline: what is
// left of deadline after waited, and at least a second: zero would mean no bound at all.
func untilDeadline(deadline, waited time.Duration) time.Duration {
	return max(deadline-waited, time.Second)
}

// acts is the nil *activities.Activities whose methods name the activities for
// workflow.ExecuteActivity; the worker registers the real one. A function, because a
// package-level pointer would be mutable package state.
func acts() *activities.Activities { return nil }

// steadyRetry retries without an attempt limit, backing off to a minute; the caller's
// ScheduleToClose or StartToClose ends it.
func steadyRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}
}

// pollRetry gives one status call a few quick attempts; a permanent HeyGen error ends
// it at once.
func pollRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        10 * time.Second,
		MaximumAttempts:        pollAttempts,
		NonRetryableErrorTypes: []string{heygen.KindPermanent.String()},
	}
}

// createOptions are a Job's create call's. Create retries without an attempt limit,
// because HeyGen's 5xx and 429 pass, but never past the job's deadline (scheduleToClose);
// the Idempotency-Key makes every retry safe. A permanent HeyGen error ends it at once.
func createOptions(label string, scheduleToClose time.Duration) workflow.ActivityOptions {
	retry := steadyRetry()
	retry.NonRetryableErrorTypes = []string{heygen.KindPermanent.String()}
	return workflow.ActivityOptions{
		StartToCloseTimeout:    createStartToClose,
		ScheduleToCloseTimeout: scheduleToClose,
		Summary:                label + ": create",
		RetryPolicy:            retry,
	}
}

// pollOptions are one status call's, summarised as summary.
func pollOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: pollStartToClose,
		Summary:             summary,
		RetryPolicy:         pollRetry(),
	}
}

// deliverOptions are one Deliver activity's, summarised as summary.
func deliverOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: deliverStartToClose,
		HeartbeatTimeout:    deliverHeartbeat,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    10 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			MaximumAttempts:    deliverAttempts,
			NonRetryableErrorTypes: []string{
				activities.ErrTypeDeliverInvalid, heygen.KindPermanent.String(),
			},
		},
	}
}

// notifyOptions are the notification's.
func notifyOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    notifyStartToClose,
		ScheduleToCloseTimeout: notifyScheduleToClose,
		Summary:                "notify",
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        30 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        30 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeNotifyConfig},
		},
	}
}

// checkHoldersOptions are the scheduler's holder check's.
func checkHoldersOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: checkStartToClose,
		Summary:             "check the holders",
		// The next check comes soon anyway.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 2,
			NonRetryableErrorTypes: []string{activities.ErrTypeTemporalRefused}},
	}
}

// askSlotOptions are a Job's slot request's: retries without a limit but the queue's
// bound, scheduleToClose. A call Temporal refuses for good (permission denied, no such
// namespace) is not retried.
func askSlotOptions(label string, scheduleToClose time.Duration) workflow.ActivityOptions {
	retry := steadyRetry()
	retry.NonRetryableErrorTypes = []string{activities.ErrTypeTemporalRefused}
	return workflow.ActivityOptions{
		StartToCloseTimeout:    acquireStartToClose,
		ScheduleToCloseTimeout: scheduleToClose,
		Summary:                label + ": ask for a slot",
		RetryPolicy:            retry,
	}
}

// priorJobsOptions are the rerun's look for earlier runs. A Job of a stopped run closes
// within seconds; one that is genuinely still running ends by its own deadline at the
// latest. A call Temporal refuses for good (permission denied, no such namespace) is not
// retried.
func priorJobsOptions(deadline time.Duration) workflow.ActivityOptions {
	retry := steadyRetry()
	retry.MaximumAttempts = priorJobsAttempts
	retry.NonRetryableErrorTypes = []string{activities.ErrTypeTemporalRefused}
	return workflow.ActivityOptions{
		StartToCloseTimeout: deadline + permitLeaseMargin,
		HeartbeatTimeout:    priorJobsHeartbeat,
		Summary:             "look for earlier runs of the steps",
		RetryPolicy:         retry,
	}
}

// checkBalanceOptions are the scheduler's balance read's: a few quick attempts; a paused
// scheduler reads again on its own backoff.
func checkBalanceOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: checkBalanceStartToClose,
		Summary:             "read the account's balance",
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	}
}
