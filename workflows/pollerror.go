package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
)

// The poll-error policy: what a failed status call does to a Job.

// maxPermanentPollErrors is K: after this many consecutive polls that HeyGen refused
// with a permanent error (a 4xx other than 429, such as 404 for a deleted video), the
// Job fails with HeyGen's message. One is not enough: a status read just after the
// create can miss a job that a lagging index does not show yet. Three, spread over the
// backoff (PollInitial, then twice that), rule that out and still fail a deleted video
// within minutes instead of polling to the 24 h deadline.
const maxPermanentPollErrors = 3

// onPollError counts a failed poll and fails the job after maxPermanentPollErrors
// permanent ones in a row. Any other failure is logged and polled again.
func (j *jobRun) onPollError(err error) {
	if isPermanentHeyGenError(err) {
		j.permanentPollErrors++
		if j.permanentPollErrors >= maxPermanentPollErrors {
			j.outcome = outcomeFailure
			j.st.FinishedBy = FinishedByPoll
			j.st.FailureMessage = rootMessage(err)
			j.logger.Warn("heygen refused the job's status; giving up", "Error", err, "Refusals", j.permanentPollErrors)
			return
		}
	} else {
		j.permanentPollErrors = 0
	}
	j.logger.Warn("poll failed; polling again later", "Error", err, "Polls", j.st.Polls, "Refusals", j.permanentPollErrors)
}

// isPermanentHeyGenError reports whether err carries HeyGen's permanent verdict.
func isPermanentHeyGenError(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == heygen.KindPermanent.String()
}
