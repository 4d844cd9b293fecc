package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// MemoSpecHash is the memo key under which a Pipeline records, on each Job it starts,
// the hash of the part of the spec that Job renders. A rerun compares it with the new
// spec's, so that a changed step is never silently reused.
const MemoSpecHash = "reelflow.spec_hash"

// Job workflow outcomes, PriorJob.Status: the latest run of a Job workflow ID.
const (
	JobNone       = ""           // no Job with that ID was ever started (or it was deleted)
	JobRunning    = "running"    // only from LookupJob: PriorJobs waits for it to close
	JobCompleted  = "completed"  // the Job finished; its result is reused
	JobFailed     = "failed"     // HeyGen failed the job, or its deadline passed
	JobCanceled   = "canceled"   // cancelled with its pipeline
	JobTerminated = "terminated" // terminated by an operator, or by a Reset
	JobTimedOut   = "timed_out"  // a workflow timeout ended it
)

// PriorJob is what Temporal holds of the latest run of one Job workflow ID.
type PriorJob struct {
	CallbackID string `json:"callback_id"`
	// Status is one of the Job* outcomes.
	Status string `json:"status"`
	RunID  string `json:"run_id,omitempty"`
	// SpecHash is the run's MemoSpecHash, empty for Jobs started before it existed.
	SpecHash string `json:"spec_hash,omitempty"`
	// Result is a completed Job's result as JSON (a workflows.JobResult).
	Result json.RawMessage `json:"result,omitempty"`
}

// PriorJobsInput lists the Jobs a Pipeline is about to run.
type PriorJobsInput struct {
	CallbackIDs []string `json:"callback_ids"`
}

// PriorJobsResult has one PriorJob per callback ID, in the input's order.
type PriorJobsResult struct {
	Jobs []PriorJob `json:"jobs"`
}

// priorJobsWait spaces the looks at a Job that is still running.
const priorJobsWait = 2 * time.Second

// PriorJobs tells a Pipeline what earlier runs of its Jobs left behind, so that a rerun
// reuses what completed and runs the rest again. A Job still running (its pipeline was
// terminated, cancelled or reset a moment ago, and the Job is recording its own
// cancellation) is waited for, heartbeating, until it closes: it is then reused when it
// completed, so a render in flight is adopted instead of paid for twice.
//
// A call Temporal refuses for good (permission denied, no such namespace) fails it
// with ErrTypeTemporalRefused, non-retryable; any other failed call is a retryable
// ErrTypeTemporalUnavailable.
func (a *Activities) PriorJobs(ctx context.Context, in PriorJobsInput) (PriorJobsResult, error) {
	c := activity.GetClient(ctx)
	if c == nil {
		return PriorJobsResult{}, temporal.NewNonRetryableApplicationError(
			"prior jobs: the activity has no temporal client", ErrTypeTemporalRefused, nil)
	}
	res := PriorJobsResult{Jobs: make([]PriorJob, 0, len(in.CallbackIDs))}
	for _, id := range in.CallbackIDs {
		for {
			j, err := LookupJob(ctx, c, id)
			if err != nil {
				return PriorJobsResult{}, temporalError("prior jobs", err)
			}
			if j.Status != JobRunning {
				res.Jobs = append(res.Jobs, j)
				break
			}
			activity.RecordHeartbeat(ctx, id)
			select {
			case <-ctx.Done():
				return PriorJobsResult{}, ctx.Err()
			case <-time.After(priorJobsWait):
			}
		}
	}
	return res, nil
}

// LookupJob describes the latest run of the Job workflow id: its outcome, its spec hash
// and, when it completed, its result. The CLI uses it too, to say what a rerun will do.
func LookupJob(ctx context.Context, c client.Client, id string) (PriorJob, error) {
	j := PriorJob{CallbackID: id}
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return j, nil
	}
	if err != nil {
		return j, fmt.Errorf("describe job %s: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	j.RunID = info.GetExecution().GetRunId()
	if p, ok := info.GetMemo().GetFields()[MemoSpecHash]; ok {
		// A memo encoded by a payload codec does not decode here: the hash is then
		// unknown, and the step is reused as an old Job without one would be.
		_ = converter.GetDefaultDataConverter().FromPayload(p, &j.SpecHash)
	}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		j.Status = JobRunning
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		j.Status = JobCompleted
		if err := c.GetWorkflow(ctx, id, j.RunID).Get(ctx, &j.Result); err != nil {
			return j, fmt.Errorf("result of job %s: %w", id, err)
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		j.Status = JobCanceled
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		j.Status = JobTerminated
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		j.Status = JobTimedOut
	default:
		j.Status = JobFailed
	}
	return j, nil
}
