package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// PermitRequest asks the limiter workflow for one concurrency permit, or (as a release)
// gives one back. It is the payload of the limiter's acquire and release signals.
type PermitRequest struct {
	// WorkflowID and RunID name the holder: the Job's workflow ID and its run identity,
	// which a Reset keeps, so that a reset Job still gives back the permit it held.
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// ExecRunID is the asking run's own run ID, where the grant is signalled. Empty in
	// requests from before it existed, whose RunID is the run's own.
	ExecRunID string `json:"exec_run_id,omitempty"`
	// Limit is the account's concurrency limit as the asking Job knows it. A Limiter
	// keeps the limit it started with (LimiterWorkflowIDFor gives each limit its own).
	Limit int `json:"limit,omitempty"`
	// Until is when the permit lapses if the Job never gives it back and the Limiter's
	// holder check cannot tell (a backstop): Granted plus Lease.
	Until time.Time `json:"until,omitzero"`
	// Lease is how long after its grant the permit may be held: the Job's deadline,
	// which counts from the grant, and a margin.
	Lease time.Duration `json:"lease,omitempty"`
	// Granted is when the Limiter granted the permit; zero while queued.
	Granted time.Time `json:"granted,omitzero"`
}

// Target is the run a grant is signalled to: ExecRunID, or RunID in older requests.
func (r PermitRequest) Target() string {
	if r.ExecRunID != "" {
		return r.ExecRunID
	}
	return r.RunID
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

// CheckHoldersInput lists a Limiter's permit holders.
type CheckHoldersInput struct {
	Holders []PermitRequest `json:"holders"`
}

// CheckHoldersResult lists the holders that are gone: their permits are free.
type CheckHoldersResult struct {
	Gone []PermitRequest `json:"gone,omitempty"`
}

// CheckHolders tells the Limiter which permit holders no longer run, so that the permit
// of a Job that was terminated, or whose workflow vanished, is freed at once instead of
// at its lease. A holder runs when its workflow ID's current run is running and is the
// holder's: the very run that asked, a run continued from it, or a Reset of it (whose
// original start predates the grant). A new run of the same ID started after the grant
// (a rerun of the step) is not the holder.
func (a *Activities) CheckHolders(ctx context.Context, in CheckHoldersInput) (CheckHoldersResult, error) {
	c := activity.GetClient(ctx)
	if c == nil {
		return CheckHoldersResult{}, errors.New("check holders: the activity has no temporal client")
	}
	var res CheckHoldersResult
	for _, h := range in.Holders {
		alive, err := holderRuns(ctx, c, h)
		if err != nil {
			return CheckHoldersResult{}, err
		}
		if !alive {
			res.Gone = append(res.Gone, h)
		}
	}
	return res, nil
}

// holderRuns reports whether h's Job still runs; see CheckHolders.
func holderRuns(ctx context.Context, c client.Client, h PermitRequest) (bool, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, h.WorkflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe holder %s: %w", h.WorkflowID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return false, nil
	}
	run := info.GetExecution().GetRunId()
	if run == h.Target() || info.GetFirstRunId() == h.Target() {
		return true, nil
	}
	start := desc.GetWorkflowExtendedInfo().GetOriginalStartTime()
	if start == nil {
		start = info.GetStartTime()
	}
	// An older holder has no grant time; its RunID was its own run's, so another
	// current run means it is gone.
	return !h.Granted.IsZero() && !start.AsTime().After(h.Granted), nil
}
