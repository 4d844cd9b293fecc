package workflows

import (
	"cmp"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// Pipeline runs a spec's steps: the render, then the translations, each as a child Job
// workflow whose ID is the step's callback_id, then the deliveries of every output, and
// at the end the notification.
//
//   - The render (step "render") runs unless the spec gives source.url.
//   - Each translation (step "translate/<slug>") is its own Job, all at once, from the
//     render's video or source.url.
//   - Each finished step's outputs are delivered as soon as it finishes, before their
//     links expire, one Deliver activity per object.
//   - Notify posts a signed summary, whether the pipeline succeeded or failed.
//
// Only a failed render fails the pipeline, unless FailFast: then the first failed step
// cancels the others and fails it. A failed translation, delivery or notification is
// recorded in its row of the result, and the others go on.
//
// When the pipeline fails, it fails with a non-retryable ApplicationError whose type and
// message are the failed step's (for a failed render, ErrTypeHeyGenJobFailed and
// HeyGen's failure message), prefixed with the step name, whose cause is the step's
// error and whose details are the PipelineStatus. When it is cancelled, it cancels its
// Jobs, waits for them to record it, and ends cancelled with the PipelineResult (Stage
// StageCancelled) as the CanceledError's details.
func Pipeline(ctx workflow.Context, in PipelineInput) (PipelineResult, error) {
	id := in.ID
	if id == "" {
		id = workflow.GetInfo(ctx).WorkflowExecution.ID
	}
	p := &pipelineRun{
		id:     id,
		in:     in,
		logger: log.With(workflow.GetLogger(ctx), "PipelineID", id),
		st: PipelineStatus{
			ID:    id,
			Title: in.Title,
			Stage: StepRender,
			Steps: []JobStatus{{Step: StepRender, CallbackID: JobWorkflowID(id, StepRender), State: StatePending}},
		},
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PipelineStatus, error) { return p.st, nil }); err != nil {
		return PipelineResult{}, fmt.Errorf("set status query handler: %w", err)
	}
	if !ValidPipelineID(id) {
		p.setStage(ctx, StageFailed)
		return PipelineResult{}, invalidPipelineID(id)
	}
	res, err := p.multistep(ctx)
	p.tellCampaign(ctx, res, err)
	return res, err
}

// pipelineRun is the state of one Pipeline execution. Its coroutines share it safely:
// workflow coroutines never run at the same time.
type pipelineRun struct {
	id     string
	in     PipelineInput
	logger log.Logger
	st     PipelineStatus
	// plan says, per callback_id, what earlier runs left behind (rerun.go).
	plan map[string]StepPlan
}

// runStep runs the Job of step row i as a child workflow and keeps the row current. A
// step that completed in an earlier run of the pipeline is reused instead (rerun.go).
func (p *pipelineRun) runStep(ctx workflow.Context, i int, in JobInput) (JobResult, error) {
	row := &p.st.Steps[i]
	if res, ok, err := p.reused(row); ok || err != nil {
		if err != nil {
			p.failRow(ctx, row, err)
			return JobResult{}, err
		}
		*row = res
		return res, nil
	}
	row.State = StateCreating
	// The Job's renders are named after this Pipeline run (identity.go), so that a Reset
	// of the Pipeline, which starts its unfinished Jobs again, meets their first renders.
	in.RunIdentity = pipelineRunIdentity(ctx)
	opts := workflow.ChildWorkflowOptions{
		WorkflowID: row.CallbackID,
		TaskQueue:  TaskQueue,
		// A step that completed is never rendered again: starting the pipeline again
		// after a crash or a failure of a later step must not spend a second render. A
		// step that failed, timed out or was cancelled may run again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		// Cancelling the pipeline cancels the Job, which records that it was cancelled;
		// waiting for it keeps the step table true to the end.
		ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
		WaitForCancellation: true,
		StaticSummary:       cmp.Or(in.Label, in.Step),
		// Temporal's Priority, so that a busy worker runs urgent Jobs (and, inherited,
		// their activities) first, and rotates between fairness keys.
		Priority: jobPriority(in.Schedule, in.Schedule.FairnessKey),
	}
	if pl, ok := p.plan[row.CallbackID]; ok {
		opts.Memo = map[string]any{activities.MemoSpecHash: pl.Hash}
		if pl.Changed {
			// --fresh: the completed Job's spec changed, and a new render is asked for.
			opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
		}
	}
	// Each attempt (attempts.go) is a new run of the Job under the same workflow ID.
	res, err := p.attempts(ctx, row, in, func(in JobInput) (JobResult, error) {
		res, err := p.startJob(ctx, row, in, opts)
		var started *temporal.ChildWorkflowExecutionAlreadyStartedError
		if errors.As(err, &started) {
			res, err = p.adopt(ctx, row, in, opts)
		}
		return res, err
	})
	if err != nil {
		err = alreadyStarted(row, err)
		p.failRow(ctx, row, err)
		return JobResult{}, err
	}
	*row = res
	return res, nil
}

// startJob starts the step's Job and waits for its result.
func (p *pipelineRun) startJob(ctx workflow.Context, row *JobStatus, in JobInput, opts workflow.ChildWorkflowOptions) (JobResult, error) {
	fut := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, opts), Job, in)
	var exec workflow.Execution
	if err := fut.GetChildWorkflowExecution().Get(ctx, &exec); err == nil {
		// The Job is running; it creates the HeyGen job and then waits for its webhook.
		// The row does not follow the Job's inner state (creating, waiting, polling):
		// the Job's own status query does, and PipelineStatus.WithLive merges it in.
		row.State = StateWaiting
		row.StartedAt = workflow.Now(ctx)
	}
	var res JobResult
	err := fut.Get(ctx, &res)
	return res, err
}

// alreadyStarted turns the SDK's "child workflow execution already started" into an
// error that says what happened and what to do; other errors pass unchanged.
func alreadyStarted(row *JobStatus, err error) error {
	var started *temporal.ChildWorkflowExecutionAlreadyStartedError
	if !errors.As(err, &started) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"the Job %s is already running or completed outside this pipeline run; wait until it ends "+
			"(reelflow status or the Temporal UI), then start the pipeline again, which reuses it if it completed",
		row.CallbackID), ErrTypeJobAlreadyStarted, err, *row)
}

// failRow records a failed or cancelled step, from the Job's final status when its error
// carries one.
func (p *pipelineRun) failRow(ctx workflow.Context, row *JobStatus, err error) {
	var js JobStatus
	var appErr *temporal.ApplicationError
	var canceledErr *temporal.CanceledError
	switch {
	case errors.As(err, &appErr) && appErr.HasDetails() && appErr.Details(&js) == nil && js.Step != "":
		*row = js
	case errors.As(err, &canceledErr) && canceledErr.HasDetails() && canceledErr.Details(&js) == nil && js.Step != "":
		*row = js
	}
	if temporal.IsCanceledError(err) {
		row.State = StateCancelled
	} else {
		row.State = StateFailed
		if row.FailureMessage == "" {
			row.FailureMessage = stepMessage(err)
		}
		if appErr != nil {
			row.FailureType = appErr.Type()
		}
	}
	if row.FinishedAt.IsZero() {
		row.FinishedAt = workflow.Now(ctx)
	}
	var ae *attemptsError
	if errors.As(err, &ae) && !temporal.IsCanceledError(err) {
		row.Attempt, row.Attempts = ae.attempt, ae.attempts
		row.FailedAttempts = append(ae.failed[:len(ae.failed):len(ae.failed)],
			fmt.Sprintf("attempt %d: %s", ae.attempt, row.FailureMessage))
	}
}

// stepMessage says why a step's Job failed, in words for the step table: HeyGen's or
// reelflow's message, or what an operator did to the Job.
func stepMessage(err error) string {
	var (
		terminated *temporal.TerminatedError
		timeout    *temporal.TimeoutError
	)
	switch {
	case errors.As(err, &terminated):
		return "its Job was terminated (from the Temporal UI or CLI); start the pipeline again to redo this step"
	case errors.As(err, &timeout):
		return "its Job timed out; start the pipeline again to redo this step"
	}
	return rootMessage(err)
}

// end finishes a pipeline whose step failed with err, and returns the pipeline's error.
func (p *pipelineRun) end(ctx workflow.Context, err error) error {
	if ctx.Err() != nil || temporal.IsCanceledError(err) {
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		p.setStage(dctx, StageCancelled)
		p.logger.Info("pipeline cancelled")
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	p.setStage(ctx, StageFailed)
	return p.stepError(p.failedStep(), err)
}

// stepError is the pipeline's error for step's failure err: a non-retryable
// ApplicationError with the step's type and message (ErrTypeStepFailed and stepMessage when err
// is no ApplicationError), prefixed with the step name, err as its cause and the
// PipelineStatus as its details. It is returned, not logged: the pipeline's failure is
// where it is handled.
func (p *pipelineRun) stepError(step string, err error) error {
	typ, msg := ErrTypeStepFailed, stepMessage(err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		typ, msg = appErr.Type(), appErr.Message()
	}
	return temporal.NewNonRetryableApplicationError(step+": "+msg, typ, err, p.st)
}

// failedStep names the first step that did not finish.
func (p *pipelineRun) failedStep() string {
	for _, s := range p.st.Steps {
		if s.State != StateDone {
			return s.Step
		}
	}
	return "pipeline"
}

// setStage records the pipeline's stage and upserts it for the Temporal UI, with the
// campaign of a --rows pipeline. The campaign rides along in every stage's upsert rather
// than a command of its own, so that it is set from the first stage on and a history
// recorded without it replays unchanged (the SDK matches an upsert by its type only).
func (p *pipelineRun) setStage(ctx workflow.Context, stage string) {
	p.st.Stage = stage
	updates := []temporal.SearchAttributeUpdate{stageKey.ValueSet(stage)}
	if c := p.in.Schedule.Campaign; c != "" {
		updates = append(updates, campaignKey.ValueSet(c))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		p.logger.Warn("upsert search attributes", "Error", err)
	}
}
