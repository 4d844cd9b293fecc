package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/activities"
)

// ApplicationError types a Job or Pipeline fails with, one per meaning. Callers match on
// them with errors.As and (*temporal.ApplicationError).Type, and read the details named
// beside each, never the message. All are non-retryable. A Pipeline that fails because a
// step failed carries that step's type (ErrTypeStepFailed when the step's error had none)
// and its PipelineStatus as details; a failed row of the step table records the type as
// JobStatus.FailureType.
const (
	// ErrTypeHeyGenJobFailed: HeyGen reported the job failed. The message carries
	// HeyGen's failure message, and the details carry the Job's final JobStatus.
	ErrTypeHeyGenJobFailed = "HeyGenJobFailed"
	// ErrTypeStillRendering: HeyGen made the job, and it was still pending or
	// processing when Timeouts.Deadline passed. The details carry the Job's final
	// JobStatus (HeyGenJobID, the last HeyGenStatus, StartedAt and FinishedAt).
	ErrTypeStillRendering = "StillRendering"
	// ErrTypeCreateUnconfirmed: the create was retried until Timeouts.Deadline without
	// an answer that HeyGen made the job. An attempt cut off in flight may still have
	// reached HeyGen. The details carry the Job's final JobStatus, whose CallbackID names
	// the job and whose HeyGenJobID is empty.
	ErrTypeCreateUnconfirmed = "CreateUnconfirmed"
	// ErrTypeSlotWaitExpired: the Job waited for a slot of the account's scheduler until
	// Timeouts.Deadline and created nothing. The details carry the Job's final JobStatus.
	ErrTypeSlotWaitExpired = "SlotWaitExpired"
	// ErrTypeStepFailed: a step failed with an error that is no ApplicationError (the
	// Pipeline's error then has the step's message and this type). The details carry the
	// PipelineStatus.
	ErrTypeStepFailed = "StepFailed"
	// ErrTypeInvalidInput: a workflow input that no retry can fix. The details carry an
	// InvalidInput.
	ErrTypeInvalidInput = "InvalidInput"
	// ErrTypeDeliverFailed: an output of a step was not delivered; the message lists
	// each object and why. It fails the pipeline only with FailFast. The details carry
	// the step's JobStatus, whose DeliverError says the same.
	ErrTypeDeliverFailed = "DeliverFailed"
	// ErrTypeStepChanged: a rerun's spec changed a step that completed in an earlier
	// run. The details carry a StepChangedError naming the steps;
	// PipelineInput.Fresh renders them again.
	ErrTypeStepChanged = "StepChanged"
	// ErrTypeJobAlreadyStarted: a step's Job could not start because a Job with its
	// callback_id is already running (or completed) outside this pipeline run. The
	// details carry the step's JobStatus.
	ErrTypeJobAlreadyStarted = "JobAlreadyStarted"
	// ErrTypePriorResultUnreadable: a rerun would reuse a step that completed in an
	// earlier run, and that run's result could not be decoded. The details carry the
	// activities.PriorJob.
	ErrTypePriorResultUnreadable = "PriorResultUnreadable"
)

// InvalidInput is the details of ErrTypeInvalidInput: the input field and its value.
type InvalidInput struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// invalidPipelineID is the error of a Pipeline whose ID is not a pipeline ID.
func invalidPipelineID(id string) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("pipeline id %q does not match [A-Za-z0-9._-]{1,128}", id), ErrTypeInvalidInput, nil,
		InvalidInput{Field: "id", Value: id})
}

// stepChanged is the error of a rerun that would reuse a completed step whose spec
// changed: err is PlanRerun's *StepChangedError.
func stepChanged(err error) error {
	var details StepChangedError
	var changed *StepChangedError
	if errors.As(err, &changed) {
		details = *changed
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeStepChanged, nil, details)
}

// priorResultUnreadable is the error of a reused step whose earlier result does not
// decode.
func priorResultUnreadable(step string, prior activities.PriorJob, err error) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("read the result of %s's earlier run %s: %v", step, prior.RunID, err), ErrTypePriorResultUnreadable, nil, prior)
}
