package activities

import (
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
)

// ErrUnknownJobKind is the ApplicationError type for a job kind reelflow has no API for.
// It is non-retryable: the input will not change on a retry.
const ErrUnknownJobKind = "UnknownJobKind"

// applicationError turns an error from a HeyGen call into the ApplicationError that
// Temporal's retry policy acts on. The type is the heygen.ErrorKind name, so a workflow
// lists heygen.KindPermanent.String() in NonRetryableErrorTypes. op is short context such
// as "create video"; the HeyGen details (status, code, message, request ID, never the
// API key) stay in the cause, which the failure carries along.
func applicationError(op string, err error) error {
	if err == nil {
		return nil
	}
	kind := heygen.KindOf(err)
	switch kind {
	case heygen.KindPermanent:
		// A non-429 4xx: a bad body, a bad key, no credit. Retrying cannot help.
		return temporal.NewNonRetryableApplicationError(op, kind.String(), err)
	case heygen.KindRateLimited:
		opts := temporal.ApplicationErrorOptions{Cause: err}
		if d, _ := heygen.RetryAfter(err); d > 0 {
			// HeyGen said when to come back: that beats the retry policy's own backoff.
			opts.NextRetryDelay = d
		}
		return temporal.NewApplicationErrorWithOptions(op, kind.String(), opts)
	default:
		// 5xx, 409 request_in_progress, network failures, and anything that is not a
		// HeyGen verdict: the retry policy's backoff applies.
		return temporal.NewApplicationErrorWithCause(op, heygen.KindRetryable.String(), err)
	}
}
