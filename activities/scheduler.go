package activities

import (
	"context"
	"errors"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Account is the HeyGen account this worker's activities draw on, as the worker is
// configured (cmd/ reads the flags). Every worker of one account should say the same;
// the account's scheduler workflow (workflows/scheduler.go) reports those that do not.
type Account struct {
	// Name names the account in the scheduler's workflow ID: workflows.AccountName of
	// --heygen-account or the API key. Never the key itself.
	Name string
	// Concurrency is how many HeyGen jobs the account renders at once
	// (--heygen-concurrency); 0 turns the limit off.
	Concurrency int
	// MinBalance is the reserve under which the scheduler stops granting
	// (--heygen-min-balance); 0 keeps none.
	MinBalance float64
	// Worker names this worker in the scheduler's mismatch report; the host name when
	// empty.
	Worker string
}

// Scheduled reports whether creates on this account wait for a slot of its scheduler:
// when a limit or a reserve is configured.
func (a Account) Scheduled() bool { return a.Name != "" && (a.Concurrency > 0 || a.MinBalance > 0) }

// WithAccount sets the HeyGen account the activities draw on. Without it, the account
// is not scheduled: creates never wait for a slot.
func WithAccount(acct Account) Option { return func(a *Activities) { a.account = acct } }

// SlotRequest asks the account's scheduler for a slot, gives one back, or reports a
// create refused for credit. It is the payload of the scheduler's signals.
type SlotRequest struct {
	// WorkflowID and RunID name the Job: its workflow ID and its run identity
	// (workflows/identity.go), which a Reset and continue-as-new keep.
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// ExecRunID is the asking run's own run ID, where the grant is signalled.
	ExecRunID string `json:"exec_run_id,omitempty"`
	// Lease is how long after its grant the slot may be held unreturned: the Job's
	// deadline, which counts from the grant, and a margin.
	Lease time.Duration `json:"lease,omitempty"`
	// Priority (1..5, 0 is 3), FairnessKey, FairnessWeight (0 is 1), Campaign and
	// Budget are the Job's workflows.Schedule.
	Priority       int     `json:"priority,omitempty"`
	FairnessKey    string  `json:"fairness_key,omitempty"`
	FairnessWeight float64 `json:"fairness_weight,omitempty"`
	Campaign       string  `json:"campaign,omitempty"`
	Budget         int     `json:"budget,omitempty"`
	// Limit, MinBalance and Worker are filled by AcquireSlot from the worker's Account:
	// the scheduler detects workers that disagree.
	Limit      int     `json:"limit,omitempty"`
	MinBalance float64 `json:"min_balance,omitempty"`
	Worker     string  `json:"worker,omitempty"`
	// Refused, with Message (HeyGen's words), reports a create refused for lack of
	// credit: the scheduler pauses the account and queues the Job again at the front.
	Refused bool   `json:"refused,omitempty"`
	Message string `json:"message,omitempty"`
	// Granted is when the scheduler granted the slot, in CheckHolders' input.
	Granted time.Time `json:"granted,omitzero"`
}

// Target is the run a grant is signalled to: ExecRunID, or RunID when it is empty.
func (r SlotRequest) Target() string {
	if r.ExecRunID != "" {
		return r.ExecRunID
	}
	return r.RunID
}

// SchedulerIDPrefix starts the workflow ID of an account's scheduler, which ends in the
// account's name (workflows.SchedulerWorkflowIDFor).
const SchedulerIDPrefix = "reelflow-account-"

// AcquireSlotInput names the scheduler workflow's type and signal and carries the
// request; they travel in the input because this package cannot import workflows. The
// account is the worker's own.
type AcquireSlotInput struct {
	TaskQueue    string      `json:"task_queue"`
	WorkflowType string      `json:"workflow_type"`
	Signal       string      `json:"signal"`
	Request      SlotRequest `json:"request"`
}

// SchedulerStart is the scheduler's input at its first start (the JSON of the first
// field of workflows.SchedulerState): the account's name.
type SchedulerStart struct {
	Account string `json:"account"`
}

// AcquireSlotResult is the scheduler that took the request.
type AcquireSlotResult struct {
	SchedulerID string `json:"scheduler_id"`
	Limit       int    `json:"limit"`
}

// AcquireSlot hands a slot request to the account's scheduler with signal-with-start:
// it starts the scheduler when none runs, and signals the running one otherwise, in one
// atomic call, so that two workers that start at once still share one scheduler. The
// grant comes back later as a signal to the Job. A retry may deliver the request twice;
// the scheduler takes a request it already holds as a re-ask.
func (a *Activities) AcquireSlot(ctx context.Context, in AcquireSlotInput) (AcquireSlotResult, error) {
	if a.account.Name == "" {
		return AcquireSlotResult{}, temporal.NewApplicationError("acquire slot: this worker has no HeyGen account configured", ErrTypeNoAccount)
	}
	c := activity.GetClient(ctx)
	if c == nil {
		return AcquireSlotResult{}, temporal.NewNonRetryableApplicationError(
			"acquire slot: the activity has no temporal client", ErrTypeTemporalRefused, nil)
	}
	id := SchedulerIDPrefix + a.account.Name
	req := in.Request
	req.Limit, req.MinBalance = a.account.Concurrency, a.account.MinBalance
	req.Worker = a.account.Worker
	if req.Worker == "" {
		req.Worker, _ = os.Hostname()
	}
	_, err := c.SignalWithStartWorkflow(ctx, id, in.Signal, req, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: in.TaskQueue,
		// A scheduler that ended (idle, or by an operator) is simply started again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Every grant waits on a scheduler's workflow task: it goes ahead of the
		// pipelines' and Jobs' tasks queued on the same task queue (a campaign starting,
		// thousands of Jobs asking again), and its runs after continue-as-new inherit it.
		Priority: SchedulerPriority,
	}, in.WorkflowType, SchedulerStart{Account: a.account.Name})
	if err != nil {
		return AcquireSlotResult{}, temporalError("signal-with-start "+id, err)
	}
	return AcquireSlotResult{SchedulerID: id, Limit: a.account.Concurrency}, nil
}

// SchedulerPriority is the account scheduler's Temporal task priority: the most urgent,
// above any pipeline's (1 to 5, 3 by default).
var SchedulerPriority = temporal.Priority{PriorityKey: 1}

// slotRequired answers a create that holds no slot of this worker's account's scheduler
// while the account is scheduled: the Job must ask that scheduler first. It returns nil
// when the create may go ahead.
func (a *Activities) slotRequired(in CreateJobInput) *SlotRequired {
	id := SchedulerIDPrefix + a.account.Name
	if !a.account.Scheduled() || in.Slot == id {
		return nil
	}
	return &SlotRequired{SchedulerID: id, Limit: a.account.Concurrency}
}

// SlotRequired is CreateJob's answer to a create that must first hold a slot of
// SchedulerID: nothing was sent to HeyGen.
type SlotRequired struct {
	SchedulerID string `json:"scheduler_id"`
	Limit       int    `json:"limit"`
}

// CheckHoldersInput lists a scheduler's slot holders.
type CheckHoldersInput struct {
	Holders []SlotRequest `json:"holders"`
}

// CheckHoldersResult lists the holders that are gone: their slots are free.
type CheckHoldersResult struct {
	Gone []SlotRequest `json:"gone,omitempty"`
}

// CheckHolders tells the scheduler which slot holders no longer run, so that the slot of
// a Job that was terminated, or whose workflow vanished, is freed at once instead of at
// its lease. A holder runs when its workflow ID's current run is running and is the
// holder's: the very run that asked, a run continued from it, or a Reset of it (whose
// original start predates the grant). A new run of the same ID started after the grant
// (a rerun of the step) is not the holder. Granted is when the slot was granted.
func (a *Activities) CheckHolders(ctx context.Context, in CheckHoldersInput) (CheckHoldersResult, error) {
	c := activity.GetClient(ctx)
	if c == nil {
		return CheckHoldersResult{}, temporal.NewNonRetryableApplicationError(
			"check holders: the activity has no temporal client", ErrTypeTemporalRefused, nil)
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
func holderRuns(ctx context.Context, c client.Client, h SlotRequest) (bool, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, h.WorkflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false, nil
	}
	if err != nil {
		return false, temporalError("describe holder "+h.WorkflowID, err)
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
	return !h.Granted.IsZero() && !start.AsTime().After(h.Granted), nil
}
