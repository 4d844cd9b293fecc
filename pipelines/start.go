package pipelines

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// Next is what starting a spec's pipeline does, given the pipeline's latest run.
type Next int

const (
	// NextStart: the pipeline has no run yet; Start starts it.
	NextStart Next = iota
	// NextFollow: the pipeline runs, or completed with every step done. It is not
	// started twice; its latest run is the one to follow.
	NextFollow
	// NextResume: the pipeline failed, was cancelled, terminated or timed out, or
	// completed with unfinished steps (Unfinished: failed, cancelled or not delivered);
	// Resume starts it again, reusing its completed steps and delivering again.
	NextResume
)

// Latest is a pipeline's latest run, as starting it again sees it.
type Latest struct {
	// Next is what starting the pipeline does.
	Next Next
	// Status is the latest run's, unspecified when there is none.
	Status enumspb.WorkflowExecutionStatus
	// Unfinished names the steps of a completed run that did not succeed, as Unfinished
	// does for the exit code: the same steps make `start` resume it.
	Unfinished []string
	// Plans say, for NextResume, what happens to each step: reused or run again.
	Plans []workflows.StepPlan
}

// Ended says how the latest run ended, for "resuming welcome-42 (it failed)": "failed",
// "was cancelled", "completed with 2 unfinished steps: translate/klingon failed, render
// not delivered".
func (l Latest) Ended() string {
	if n := len(l.Unfinished); l.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && n > 0 {
		return fmt.Sprintf("completed with %d unfinished %s: %s", n, plural(n, "step", "steps"), strings.Join(l.Unfinished, ", "))
	}
	return ExecutionStatus(l.Status)
}

// Look finds in's pipeline's latest run and decides what starting it does. A resume
// that would reuse a completed step whose spec changed is refused with a
// *workflows.StepChangedError (wrapped), unless in.Fresh: nothing has started then.
func Look(ctx context.Context, c client.Client, in workflows.PipelineInput) (Latest, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, in.ID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return Latest{Next: NextStart}, nil
	}
	if err != nil {
		return Latest{}, TemporalError("look up pipeline "+in.ID, err)
	}
	l := Latest{Next: NextResume, Status: desc.GetWorkflowExecutionInfo().GetStatus()}
	switch l.Status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		l.Next = NextFollow
		return l, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if l.Unfinished, err = unfinishedSteps(ctx, c, in.ID); err != nil {
			return Latest{}, err
		}
		if len(l.Unfinished) == 0 {
			l.Next = NextFollow
			return l, nil
		}
	}
	if l.Plans, err = plan(ctx, c, in); err != nil {
		return Latest{}, err
	}
	return l, nil
}

// plan says what a rerun of in does with each step. The Pipeline makes the same check
// itself (workflows.PlanRerun); this one answers before anything starts.
func plan(ctx context.Context, c client.Client, in workflows.PipelineInput) ([]workflows.StepPlan, error) {
	specs := workflows.StepSpecs(in)
	prior := make([]activities.PriorJob, 0, len(specs))
	for _, s := range specs {
		j, err := activities.LookupJob(ctx, c, s.CallbackID)
		if err != nil {
			return nil, TemporalError("look up step "+s.Step, err)
		}
		prior = append(prior, j)
	}
	plans, err := workflows.PlanRerun(specs, prior, in.Fresh)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", in.ID, err)
	}
	return plans, nil
}

// unfinishedSteps names the unfinished steps (Unfinished) in the result of the completed
// pipeline id.
func unfinishedSteps(ctx context.Context, c client.Client, id string) ([]string, error) {
	var res workflows.PipelineResult
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		return nil, TemporalError("read the result of pipeline "+id, err)
	}
	return Unfinished(res.Steps), nil
}

// Start starts in's Pipeline, or finds the run that holds its ID: started is false when
// a run was already there (another start won the race). A failed pipeline may be started
// again, a running or completed one never.
func Start(ctx context.Context, c client.Client, in workflows.PipelineInput) (run client.WorkflowRun, started bool, err error) {
	return start(ctx, c, in, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY)
}

// Resume starts in's Pipeline again after its latest run (Look's NextResume): the new
// run reuses the steps that completed. A run that completed with failed steps may be
// followed by another; started is false when a run was already there.
func Resume(ctx context.Context, c client.Client, in workflows.PipelineInput, latest Latest) (run client.WorkflowRun, started bool, err error) {
	policy := enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	if latest.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		policy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	return start(ctx, c, in, policy)
}

// start starts in's Pipeline under policy, never while a run of it is open.
func start(ctx context.Context, c client.Client, in workflows.PipelineInput, policy enumspb.WorkflowIdReusePolicy) (client.WorkflowRun, bool, error) {
	opts := client.StartWorkflowOptions{
		ID:                                       in.ID,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    policy,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            in.Title,
		// Temporal's Priority from the spec's schedule: its Jobs and activities inherit it.
		Priority: workflows.PipelinePriority(in),
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.Pipeline, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return c.GetWorkflow(ctx, in.ID, ""), false, nil
	}
	if err != nil {
		return nil, false, TemporalError("start pipeline "+in.ID, err)
	}
	return run, true, nil
}

// ExecutionStatus says how a run stands or ended, for "it failed", "it was cancelled".
func ExecutionStatus(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "was cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "was terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "is running"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// plural picks the word for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
