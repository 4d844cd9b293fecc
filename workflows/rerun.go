package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// Rerun.
//
// A pipeline that failed, was cancelled or was terminated may be started again under
// the same ID (the CLI starts it with WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY).
// Its Jobs keep their IDs, the callback_ids, so before it runs any the new run asks
// Temporal, through the PriorJobs activity, what the latest run of each left behind:
//
//   - a Job that completed is reused: its result becomes the step's row (Reused), and no
//     new Job, render or webhook follows. Its outputs are delivered again, which writes
//     nothing: Deliver skips an object the bucket already holds with the same bytes, and
//     writes one that the first run never got to;
//   - a Job that failed, was cancelled, terminated or timed out runs again: a new run,
//     so a new identity and a deliberate new render;
//   - a Job still running (its pipeline was stopped a moment ago) is waited for, then
//     treated as above: a render in flight is adopted, not paid for twice.
//
// Each Job carries in its memo (activities.MemoSpecHash) the hash of the part of the
// spec it renders (StepSpecs). A completed Job whose hash differs from the new spec's
// is a changed step: the pipeline fails at once with ErrTypeStepChanged naming it, unless
// PipelineInput.Fresh asks to render it again. A Job without a hash (older than this
// change) is reused.
//
// Adoption: a step whose Job could not start because a Job with its ID is still
// running (a Job of a run that was just terminated, cancelled or reset, still recording
// its cancellation) waits for that Job, then reuses it if it completed and starts it
// again otherwise.

// StepSpec is one Job step of a spec with the hash of what it renders.
type StepSpec struct {
	Step       string
	CallbackID string
	// Hash covers what decides the step's output, not how it is waited for
	// (timeouts, the concurrency limit): a change to it makes a completed step stale.
	Hash string
}

// StepSpecs lists the Job steps of in, the render first, then one per language. A
// translation's hash includes its source: the render's hash, or source.url.
func StepSpecs(in PipelineInput) []StepSpec {
	var out []StepSpec
	source := ""
	if in.Source != nil {
		source = "url:" + in.Source.URL
	} else {
		r := PipelineInput{Video: in.Video, Template: in.Template}
		h := specHash(map[string]any{"kind": renderKind(in), "render": r})
		out = append(out, StepSpec{Step: StepRender, CallbackID: JobWorkflowID(in.ID, StepRender), Hash: h})
		source = "render:" + h
	}
	if in.Translate == nil {
		return out
	}
	for _, lang := range in.Translate.Languages {
		step := TranslateStep(lang)
		h := specHash(map[string]any{"language": lang, "mode": in.Translate.Mode, "captions": in.Translate.Captions,
			"title": in.Title, "source": source})
		out = append(out, StepSpec{Step: step, CallbackID: JobWorkflowID(in.ID, step), Hash: h})
	}
	return out
}

// specHash is a short digest of v's JSON. encoding/json writes struct fields in
// declaration order and map keys sorted, so the same spec always hashes the same.
func specHash(v any) string {
	b, err := json.Marshal(v) //workflowcheck:ignore
	if err != nil {
		// Only for a value JSON cannot hold, which a validated spec never has.
		b = []byte(fmt.Sprintf("%#v", v))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// StepPlan is what a rerun does with one Job step.
type StepPlan struct {
	StepSpec
	// Prior is the latest earlier run of the step's Job.
	Prior activities.PriorJob
	// Reuse: the Job completed with this spec; its result is the step's.
	Reuse bool
	// Changed: the Job completed, but its spec differs from this one.
	Changed bool
}

// StepChangedError lists completed steps whose spec changed.
type StepChangedError struct {
	Steps []string
}

func (e *StepChangedError) Error() string {
	return fmt.Sprintf("%s completed in an earlier run with a different spec; restore it, or rerun with --fresh to render it again (a new, paid render)",
		strings.Join(e.Steps, ", "))
}

// PlanRerun pairs each step with its prior Job (prior[i] belongs to specs[i]) and says
// what to do with it. Changed completed steps are a *StepChangedError unless fresh.
func PlanRerun(specs []StepSpec, prior []activities.PriorJob, fresh bool) ([]StepPlan, error) {
	plans := make([]StepPlan, len(specs))
	var changed []string
	for i, s := range specs {
		p := StepPlan{StepSpec: s}
		if i < len(prior) {
			p.Prior = prior[i]
		}
		if p.Prior.Status == activities.JobCompleted {
			p.Changed = p.Prior.SpecHash != "" && p.Prior.SpecHash != s.Hash
			p.Reuse = !p.Changed
			if p.Changed {
				changed = append(changed, s.Step)
			}
		}
		plans[i] = p
	}
	if len(changed) > 0 && !fresh {
		return plans, &StepChangedError{Steps: changed}
	}
	return plans, nil
}

// loadPlan asks what earlier runs of this pipeline's Jobs left behind and plans the
// rerun.
func (p *pipelineRun) loadPlan(ctx workflow.Context) error {
	specs := StepSpecs(p.in)
	if len(specs) == 0 {
		p.plan = map[string]StepPlan{}
		return nil
	}
	ids := make([]string, 0, len(specs))
	for _, s := range specs {
		ids = append(ids, s.CallbackID)
	}
	prior, err := p.priorJobs(ctx, ids)
	if err != nil {
		return err
	}
	plans, err := PlanRerun(specs, prior, p.in.Fresh)
	if err != nil {
		return stepChanged(err)
	}
	p.plan = make(map[string]StepPlan, len(plans))
	reused := 0
	for _, pl := range plans {
		p.plan[pl.CallbackID] = pl
		if pl.Reuse {
			reused++
		}
	}
	if reused > 0 {
		p.logger.Info("resuming: completed steps are reused", "Reused", reused, "Steps", len(plans))
	}
	return nil
}

// priorJobs asks what the latest runs of the Jobs ids left behind, waiting for those
// that still run.
func (p *pipelineRun) priorJobs(ctx workflow.Context, ids []string) ([]activities.PriorJob, error) {
	deadline := p.in.Timeouts.WithDefaults().Deadline
	actx := workflow.WithActivityOptions(ctx, priorJobsOptions(deadline))
	var res activities.PriorJobsResult
	err := workflow.ExecuteActivity(actx, acts().PriorJobs, activities.PriorJobsInput{CallbackIDs: ids}).Get(ctx, &res)
	return res.Jobs, err
}

// adopt runs a step whose Job could not start because one with its ID still runs: it
// waits for that Job, then reuses its result if it completed, or starts the step's Job
// again. A changed completed Job is refused as in a rerun.
func (p *pipelineRun) adopt(ctx workflow.Context, row *JobStatus, in JobInput, opts workflow.ChildWorkflowOptions) (JobResult, error) {
	p.logger.Info("the step's Job is still running from an earlier run; waiting for it", "Step", row.Step)
	prior, err := p.priorJobs(ctx, []string{row.CallbackID})
	if err != nil {
		return JobResult{}, err
	}
	plans, err := PlanRerun([]StepSpec{p.plan[row.CallbackID].StepSpec}, prior, p.in.Fresh)
	if err != nil {
		return JobResult{}, stepChanged(err)
	}
	p.plan[row.CallbackID] = plans[0]
	if res, ok, err := p.reused(row); ok || err != nil {
		return res, err
	}
	if plans[0].Changed {
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	return p.startJob(ctx, row, in, opts)
}

// reused returns the prior result of the step in row, when the plan reuses it.
func (p *pipelineRun) reused(row *JobStatus) (JobResult, bool, error) {
	pl, ok := p.plan[row.CallbackID]
	if !ok || !pl.Reuse {
		return JobResult{}, false, nil
	}
	var res JobResult
	// Decoding JSON into a struct is deterministic; workflowcheck flags it only for the
	// reflection caches encoding/json fills.
	err := json.Unmarshal(pl.Prior.Result, &res) //workflowcheck:ignore
	if err != nil {
		return JobResult{}, false, priorResultUnreadable(row.Step, pl.Prior, err)
	}
	res.Step, res.CallbackID, res.Reused = row.Step, row.CallbackID, true
	return res, true, nil
}
