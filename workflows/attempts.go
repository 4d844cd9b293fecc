package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Re-rendering a failed step, within the spec's budget.
//
// A spec's retry: {renders: N} lets the render and each translation be created again, up
// to N times, when its HeyGen job failed for a reason not known to be permanent. Each
// attempt is a new run of the step's Job, under the same workflow ID (the callback_id,
// so the receiver's routing is unchanged and a late event from an earlier attempt meets
// the new run, which ignores it: it names another HeyGen job, or none and then a status
// read of the new job decides). The Temporal UI lists every attempt as a child of the
// Pipeline. Each attempt's Idempotency-Key is the step's identity plus the attempt
// number (identity.go): the same across a Reset of the Pipeline or the Job, a replay
// and a lost create answer, so none of those pays for an attempt twice, and different
// between attempts, so each attempt is a real new render rather than HeyGen's 24-hour
// replay of the failed one. N defaults to 0, because HeyGen bills every render.

// Backoff between attempts: a failed render is often a passing fault at HeyGen.
const (
	attemptBackoffInitial = 30 * time.Second
	attemptBackoffMax     = 10 * time.Minute
)

// permanentFailures are failure codes and words that no new render can fix: the input
// itself, moderation, the account's credit (the scheduler's pause handles it), a source
// that cannot be downloaded, or something that does not exist. Matched, lower-cased,
// against the failure's code and message.
var permanentFailures = []string{
	"invalid", "validation_failed", "moderation", "moderated", "blocked", "inappropriate",
	"insufficient_credit", "download_failed", "not_found", "not found", "avatar_unavailable",
	"is unavailable", // a webhook's msg carries no code: "avatar X is unavailable"
	"unsupported",
}

// PermanentFailure reports whether a HeyGen job's failure (its code and message) is one
// that a new render cannot fix, so that it is never re-rendered.
func PermanentFailure(code, message string) bool {
	text := strings.ToLower(code + " " + message)
	for _, w := range permanentFailures {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}

// rerenderable reports whether a step's Job error is a HeyGen job failure that a new
// render may fix, and its reason for the step table. A refused create, a deadline, a
// cancellation or a termination never re-renders.
func rerenderable(err error) (string, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeHeyGenJobFailed {
		return stepMessage(err), false
	}
	var js JobStatus
	if appErr.HasDetails() && appErr.Details(&js) == nil {
		reason := js.FailureMessage
		if js.FailureCode != "" && !strings.Contains(reason, js.FailureCode) {
			reason = failureText(js.FailureCode, reason)
		}
		return reason, !PermanentFailure(js.FailureCode, js.FailureMessage)
	}
	return appErr.Message(), !PermanentFailure("", appErr.Message())
}

// attemptBackoff is the wait before attempt n+1: 30 s doubling, at most 10 minutes.
func attemptBackoff(n int) time.Duration {
	d := attemptBackoffInitial
	for i := 1; i < n && d < attemptBackoffMax; i++ {
		d *= 2
	}
	return min(d, attemptBackoffMax)
}

// attempts runs the step's Job once, and again as a new attempt after each failure
// that rerenderable allows, up to the spec's budget. start runs one attempt.
func (p *pipelineRun) attempts(ctx workflow.Context, row *JobStatus, in JobInput,
	start func(JobInput) (JobResult, error)) (JobResult, error) {
	budget := 0
	if p.in.Retry != nil {
		budget = max(p.in.Retry.Renders, 0)
	}
	if budget == 0 {
		return start(in)
	}
	in.Retries = budget
	var failed []string
	for attempt := 1; ; attempt++ {
		in.Attempt, in.FailedAttempts = attempt, failed
		row.Attempt, row.Attempts, row.FailedAttempts = attempt, 1+budget, failed
		res, err := start(in)
		if err == nil {
			res.Attempt, res.Attempts, res.FailedAttempts = attempt, 1+budget, failed
			return res, nil
		}
		reason, again := rerenderable(err)
		if !again || attempt > budget || ctx.Err() != nil {
			return res, &attemptsError{err: err, attempt: attempt, attempts: 1 + budget, failed: failed}
		}
		failed = append(failed[:len(failed):len(failed)], fmt.Sprintf("attempt %d: %s", attempt, reason))
		row.FailedAttempts = failed
		wait := attemptBackoff(attempt)
		p.logger.Info("step failed; rendering it again", "Step", in.Step, "Attempt", attempt+1, "Of", 1+budget, "In", wait, "Reason", reason)
		timer := workflow.NewTimerWithOptions(ctx, wait,
			workflow.TimerOptions{Summary: fmt.Sprintf("%s: attempt %d of %d in %s", in.Step, attempt+1, 1+budget, wait)})
		if err := timer.Get(ctx, nil); err != nil {
			return JobResult{}, err
		}
	}
}

// attemptsError is the last attempt's error, which failRow also reads for the attempt
// count and the earlier reasons.
type attemptsError struct {
	err               error
	attempt, attempts int
	failed            []string
}

func (e *attemptsError) Error() string { return e.err.Error() }
func (e *attemptsError) Unwrap() error { return e.err }
