package activities

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// PermitRequest asks the limiter workflow for one concurrency permit, or (as a release)
// gives one back. It is the payload of the limiter's acquire and release signals.
type PermitRequest struct {
	// WorkflowID and RunID name the Job that asks; the grant is signalled to it.
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// Limit is the account's concurrency limit as the asking Job knows it; the limiter
	// applies the latest one it hears.
	Limit int `json:"limit,omitempty"`
	// Until is when the permit lapses if the Job never gives it back (a Job terminated
	// by an operator): its deadline, with a margin.
	Until time.Time `json:"until,omitzero"`
}

// AcquirePermitInput names the limiter workflow and carries the request. The workflow
// names travel in the input because this package cannot import workflows.
type AcquirePermitInput struct {
	LimiterID    string        `json:"limiter_id"`
	TaskQueue    string        `json:"task_queue"`
	WorkflowType string        `json:"workflow_type"`
	Signal       string        `json:"signal"`
	Request      PermitRequest `json:"request"`
}

// AcquirePermitResult is the limiter run that took the request.
type AcquirePermitResult struct {
	LimiterRunID string `json:"limiter_run_id"`
}

// AcquirePermit hands a permit request to the limiter workflow with signal-with-start:
// it starts the limiter when none runs, and signals the running one otherwise, in one
// atomic call, so that two workers that start at once still share one limiter. The
// grant comes back later as a signal to the Job. A retry may deliver the request twice;
// the limiter ignores a request it already holds.
func (a *Activities) AcquirePermit(ctx context.Context, in AcquirePermitInput) (AcquirePermitResult, error) {
	c := activity.GetClient(ctx)
	if c == nil {
		return AcquirePermitResult{}, fmt.Errorf("acquire permit: the activity has no temporal client")
	}
	run, err := c.SignalWithStartWorkflow(ctx, in.LimiterID, in.Signal, in.Request, client.StartWorkflowOptions{
		ID:        in.LimiterID,
		TaskQueue: in.TaskQueue,
		// A limiter that ended (idle, or by an operator) is simply started again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, in.WorkflowType)
	if err != nil {
		return AcquirePermitResult{}, fmt.Errorf("signal-with-start %s: %w", in.LimiterID, err)
	}
	return AcquirePermitResult{LimiterRunID: run.GetRunID()}, nil
}
