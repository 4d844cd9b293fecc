package activities

import (
	"errors"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
)

// ErrTypeUnknownJobKind is the ApplicationError type for a job kind reelflow has no API for.
// It is non-retryable: the input will not change on a retry.
const ErrTypeUnknownJobKind = "UnknownJobKind"

// ErrTypeInvalidJob is the ApplicationError type for a create input no retry can fix, such
// as a template job without a template ID. It is non-retryable.
const ErrTypeInvalidJob = "InvalidJob"

// ErrTypeInsufficientCredit is the ApplicationError type of a create that HeyGen refused
// with 402 insufficient_credit. It is non-retryable for the activity: the Job hands it to
// the account scheduler, which pauses the account until the balance is back, and then
// creates again under a fresh Idempotency-Key (a refused create made nothing).
//
// The error's Message() is HeyGen's own message ("Your account has 5 credits but this
// video requires 10 credits."), for the scheduler's pause reason; its cause is the HeyGen
// error with the status, code and request ID.
const ErrTypeInsufficientCredit = "InsufficientCredit"

// ErrTypeInvalidMinBalance is the ApplicationError type of a CheckBalance asked to keep a
// negative reserve: a caller's bug, non-retryable.
const ErrTypeInvalidMinBalance = "InvalidMinBalance"

// ErrTypeNoAccount is the ApplicationError type of AcquireSlot on a worker that has no
// account configured: a misconfigured worker in a scheduled fleet. It is retried, so that
// a worker that knows the account picks the request up.
const ErrTypeNoAccount = "NoAccount"

// ApplicationError types of Deliver.
const (
	// ErrTypeDeliverInvalid: a bucket URL that cannot be opened, or an output the job does
	// not have. Non-retryable.
	ErrTypeDeliverInvalid = "DeliverInvalid"
	// ErrTypeDownload: the file host did not serve the output, even after a fresh link.
	// Retryable: hosts have outages, and the next attempt fetches a fresh link again.
	ErrTypeDownload = "DownloadFailed"
	// ErrTypeUpload: the bucket refused or failed a read or a write. Retryable.
	ErrTypeUpload = "UploadFailed"
)

// ApplicationError types of Notify.
const (
	// ErrTypeNotifyConfig: the signing secret is missing on the worker or is not a
	// whsec_ secret, or the URL is unusable. Non-retryable: a retry would read the same
	// environment and input.
	ErrTypeNotifyConfig = "NotifyConfig"
	// ErrTypeNotifyRejected: the endpoint answered 5xx, 408, 409, 425 or 429, or could not
	// be reached. Retryable; the workflow's retry policy spaces the attempts out over hours.
	ErrTypeNotifyRejected = "NotifyRejected"
	// ErrTypeNotifyRefused: the endpoint answered any other 4xx (a wrong URL, a bad
	// signature, a payload it will not take). Non-retryable: the same request would be
	// refused again, so Notify stops at once instead of retrying for hours.
	ErrTypeNotifyRefused = "NotifyRefused"
)

// ApplicationError types of the activities that call Temporal itself (PriorJobs,
// AcquireSlot, CheckHolders).
const (
	// ErrTypeTemporalRefused: Temporal refused the call in a way no retry changes
	// (permission denied, namespace not found, an invalid argument, an unimplemented
	// call), or the activity has no Temporal client. Non-retryable.
	ErrTypeTemporalRefused = "TemporalRefused"
	// ErrTypeTemporalUnavailable: any other failed call to Temporal (unavailable, a
	// deadline, a resource exhausted). Retryable, within the activity's bounded retries.
	ErrTypeTemporalUnavailable = "TemporalUnavailable"
)

// temporalError turns a failed call to the Temporal service into the ApplicationError
// that the retry policy acts on: ErrTypeTemporalRefused, non-retryable, for the
// serviceerror kinds a retry cannot fix; ErrTypeTemporalUnavailable otherwise. err
// stays the cause.
func temporalError(op string, err error) error {
	var (
		denied     *serviceerror.PermissionDenied
		noNS       *serviceerror.NamespaceNotFound
		badArg     *serviceerror.InvalidArgument
		unimpl     *serviceerror.Unimplemented
		notActive  *serviceerror.NamespaceNotActive
		nsInvalid  *serviceerror.NamespaceInvalidState
		badRequest = errors.As(err, &denied) || errors.As(err, &noNS) || errors.As(err, &badArg) ||
			errors.As(err, &unimpl) || errors.As(err, &notActive) || errors.As(err, &nsInvalid)
	)
	if badRequest {
		return temporal.NewNonRetryableApplicationError(op, ErrTypeTemporalRefused, err)
	}
	return temporal.NewApplicationErrorWithCause(op, ErrTypeTemporalUnavailable, err)
}

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
