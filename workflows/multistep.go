package workflows

import (
	"cmp"
	"encoding/json"
	"net/url"
	"path"
	"regexp"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// Notification types, NotifyPayload.Type.
const (
	NotifyTypeCompleted = "pipeline.completed"
	NotifyTypeFailed    = "pipeline.failed"
)

// stepFailure is the first step that failed, for FailFast and the pipeline's error.
type stepFailure struct {
	step string
	err  error
}

// multistep runs a pipeline of versionMultistep.
func (p *pipelineRun) multistep(ctx workflow.Context) (PipelineResult, error) {
	in := p.in
	p.st.Steps = p.rows()
	if err := p.loadPlan(ctx); err != nil {
		return p.finish(ctx, &stepFailure{step: "rerun", err: err})
	}
	// runCtx carries every step; FailFast cancels it, and so does cancelling the pipeline.
	runCtx, cancelRun := workflow.WithCancel(ctx)
	defer cancelRun()
	var failed *stepFailure
	fail := func(step string, err error) {
		if failed == nil && !temporal.IsCanceledError(err) {
			failed = &stepFailure{step: step, err: err}
			if in.FailFast {
				p.logger.Info("fail_fast: cancelling the other steps", "Step", step)
				cancelRun()
			}
		}
	}
	wg := workflow.NewWaitGroup(ctx)
	jobs := 0 // Jobs running, to tell when only deliveries remain

	videoURL := ""
	if in.Source != nil {
		videoURL = in.Source.URL
	} else {
		url, failure := p.render(ctx, runCtx, wg, &jobs, fail)
		if failure != nil {
			return p.finish(ctx, failure)
		}
		videoURL = url
	}
	if in.Translate != nil {
		p.translate(ctx, runCtx, wg, videoURL, &jobs, fail)
	}
	// Every coroutine ends once its step ends, and a cancelled step ends promptly (its
	// Job records the cancellation, a delivery heartbeats), so this wait is bounded.
	wg.Wait(ctx)

	if in.FailFast {
		return p.finish(ctx, failed)
	}
	return p.finish(ctx, nil)
}

// render runs the render step and starts its delivery on wg. It returns the render's
// video, or the failure that ends the pipeline.
func (p *pipelineRun) render(ctx, runCtx workflow.Context, wg workflow.WaitGroup, jobs *int, fail func(string, error)) (string, *stepFailure) {
	p.setStage(ctx, StepRender)
	render, err := p.runStep(runCtx, 0, p.renderJob())
	p.st.Steps[0].Kind = renderKind(p.in)
	if err != nil {
		return "", &stepFailure{step: StepRender, err: err}
	}
	if render.HeyGenJobID != "" {
		if err := workflow.UpsertTypedSearchAttributes(ctx, heygenJobIDKey.ValueSet(render.HeyGenJobID)); err != nil {
			p.logger.Warn("upsert search attributes", "Error", err)
		}
	}
	if p.in.Deliver != nil {
		wg.Go(runCtx, func(gctx workflow.Context) {
			if err := p.deliver(gctx, 0, jobs); err != nil {
				fail(StepRender, err)
			}
		})
	}
	return render.VideoURL, nil
}

// translate starts one coroutine on wg per language: its Job, then its delivery.
func (p *pipelineRun) translate(ctx, runCtx workflow.Context, wg workflow.WaitGroup, videoURL string, jobs *int, fail func(string, error)) {
	p.setStage(ctx, StepTranslate)
	first := 0 // the row of the first language: after the render's, when there is one
	if p.in.Source == nil {
		first = 1
	}
	for i, lang := range p.in.Translate.Languages { // a slice: the same order on every replay
		row := first + i
		*jobs++
		wg.Go(runCtx, func(gctx workflow.Context) {
			_, err := p.runStep(gctx, row, p.translateJob(lang, videoURL))
			p.st.Steps[row].Kind, p.st.Steps[row].Language = KindTranslation, lang
			*jobs--
			if err != nil {
				fail(p.st.Steps[row].Step, err)
				return
			}
			if p.in.Deliver != nil {
				if err := p.deliver(gctx, row, jobs); err != nil {
					fail(p.st.Steps[row].Step, err)
				}
			}
		})
	}
}

// finish ends the pipeline: cancelled, failed (failure is set), or done. It notifies
// unless the pipeline was cancelled.
func (p *pipelineRun) finish(ctx workflow.Context, failure *stepFailure) (PipelineResult, error) {
	// Steps that never started (after a failed render, or FailFast) say so.
	for i := range p.st.Steps {
		row := &p.st.Steps[i]
		if row.State == StatePending && row.Step != StepNotify {
			row.State = StateCancelled
			row.FailureMessage = "not started"
		}
	}
	if ctx.Err() != nil || (failure != nil && temporal.IsCanceledError(failure.err)) {
		// The pipeline's context is done: record the end on a disconnected one.
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		for i := range p.st.Steps { // the notify row: no notification for a cancellation
			if p.st.Steps[i].State == StatePending {
				p.st.Steps[i].State = StateCancelled
			}
		}
		p.setStage(dctx, StageCancelled)
		p.logger.Info("pipeline cancelled")
		return PipelineResult{}, temporal.NewCanceledError(p.result())
	}
	stage := StageDone
	if failure != nil {
		stage = StageFailed
	}
	p.notify(ctx, stage)
	if ctx.Err() != nil {
		return p.finish(ctx, nil)
	}
	p.setStage(ctx, stage)
	if failure == nil {
		p.logger.Info("pipeline done")
		return p.result(), nil
	}
	return PipelineResult{}, p.stepError(failure.step, failure.err)
}

// result is the PipelineResult of the current state.
func (p *pipelineRun) result() PipelineResult {
	res := PipelineResult{ID: p.id, Title: p.in.Title, Steps: p.st.Steps, Stage: p.st.Stage}
	if p.in.Source == nil && len(p.st.Steps) > 0 && p.st.Steps[0].Step == StepRender {
		render := p.st.Steps[0]
		res.Render = &render
	}
	return res
}

// rows is the initial step table: the render unless the spec gives a source, one row
// per language, and notify.
func (p *pipelineRun) rows() []JobStatus {
	var rows []JobStatus
	add := func(step string) *JobStatus {
		rows = append(rows, JobStatus{Step: step, CallbackID: JobWorkflowID(p.id, step), State: StatePending})
		return &rows[len(rows)-1]
	}
	if p.in.Source == nil {
		add(StepRender).Kind = renderKind(p.in)
	}
	if p.in.Translate != nil {
		for _, lang := range p.in.Translate.Languages {
			r := add(TranslateStep(lang))
			r.Kind, r.Language = KindTranslation, lang
		}
	}
	if p.in.Notify != nil {
		rows = append(rows, JobStatus{Step: StepNotify, State: StatePending})
	}
	return rows
}

// renderKind is the job kind of the spec's render.
func renderKind(in PipelineInput) JobKind {
	switch {
	case in.Template != nil:
		return KindTemplate
	default:
		return KindVideo
	}
}

// renderJob is the render's Job input.
func (p *pipelineRun) renderJob() JobInput {
	in := JobInput{PipelineID: p.id, Step: StepRender, Kind: renderKind(p.in), Timeouts: p.in.Timeouts,
		Schedule: p.jobSchedule()}
	switch in.Kind {
	case KindTemplate:
		in.TemplateID, in.Body = p.in.Template.ID, p.in.Template.Body
	default:
		in.Body = p.in.Video
	}
	return in
}

// jobSchedule is the Schedule the pipeline's Jobs wait for a slot under: the spec's,
// with the default fairness key filled in (the campaign's, else the pipeline's ID), so
// that every Job of a pipeline or a campaign shares one key.
func (p *pipelineRun) jobSchedule() Schedule {
	s := p.in.Schedule
	s.FairnessKey = cmp.Or(s.FairnessKey, s.Campaign, p.id)
	return s
}

// translateJob is the Job input of the translation into lang: one language per request,
// so that the translation has its own callback_id.
func (p *pipelineRun) translateJob(lang, videoURL string) JobInput {
	body := TranslationBody(p.in, lang, videoURL)
	step := TranslateStep(lang)
	return JobInput{PipelineID: p.id, Step: step, Kind: KindTranslation, Body: body,
		Timeouts: p.in.Timeouts, Label: "translate " + lang, Schedule: p.jobSchedule()}
}

// output is one file of a finished step.
type output struct {
	name   string // activities.Output...
	base   string // object name without extension
	defExt string // extension when the link has none
	url    string
}

// outputs lists a finished step's files: video, then thumbnail and captions when present.
func outputs(row JobStatus) []output {
	links := activities.PollJobResult{VideoURL: row.VideoURL, ThumbnailURL: row.ThumbnailURL,
		CaptionURL: row.CaptionURL, VTTCaptionURL: row.VTTCaptionURL}
	var out []output
	for _, f := range activities.Outputs() {
		if url := activities.OutputLink(links, f.Output); url != "" {
			out = append(out, output{name: f.Output, base: f.Base, defExt: f.Ext, url: url})
		}
	}
	return out
}

// extPattern admits the extensions an object key may take from a link.
var extPattern = regexp.MustCompile(`^[a-z0-9]{1,5}$`)

// objectKey is "<pipeline id>/<step>/<name>.<ext>", the extension taken from the
// link's path when it has a plausible one.
func objectKey(pipelineID, step string, o output) string {
	ext := o.defExt
	if u, err := url.Parse(o.url); err == nil {
		if e := strings.ToLower(strings.TrimPrefix(path.Ext(u.Path), ".")); extPattern.MatchString(e) {
			ext = e
		}
	}
	// Both caption files are "captions"; their extensions keep them apart.
	if o.name == activities.OutputCaptionsVTT {
		ext = "vtt"
	} else if o.name == activities.OutputCaptionsSRT && ext == "vtt" {
		ext = "srt"
	}
	return pipelineID + "/" + step + "/" + o.base + "." + ext
}

// deliver copies every output of the finished step in row i to the deliver bucket,
// one activity per object, all at once. It returns the first error, after recording
// every outcome in the row. jobs counts the Jobs still running: when none is, the
// pipeline's stage becomes StageDeliver.
func (p *pipelineRun) deliver(ctx workflow.Context, i int, jobs *int) error {
	if *jobs == 0 {
		p.setStage(ctx, StageDeliver)
	}
	// The row is the Job's result, whose links the Job completed with its one details
	// fetch (job.go, conclude): the Pipeline trusts it and reads nothing again.
	row := &p.st.Steps[i]
	outs := outputs(*row)
	if len(outs) == 0 {
		row.DeliverError = "no outputs to deliver"
		return temporal.NewNonRetryableApplicationError(row.DeliverError, ErrTypeDeliverFailed, nil, *row)
	}
	type pending struct {
		o   output
		key string
		f   workflow.Future
	}
	var started []pending
	for _, o := range outs {
		key := objectKey(p.id, row.Step, o)
		actx := workflow.WithActivityOptions(ctx, deliverOptions("deliver "+strings.TrimPrefix(key, p.id+"/")))
		started = append(started, pending{o: o, key: key, f: workflow.ExecuteActivity(actx, acts().Deliver, activities.DeliverInput{
			To: p.in.Deliver.To, Key: key, URL: o.url, Output: o.name,
			Kind: string(row.Kind), HeyGenJobID: row.HeyGenJobID,
		})})
	}
	var firstErr error
	var msgs []string
	for _, s := range started {
		var res activities.DeliverResult
		if err := s.f.Get(ctx, &res); err != nil {
			firstErr = cmpErr(firstErr, err)
			msgs = append(msgs, s.key+": "+rootMessage(err))
			continue
		}
		row.Delivered = append(row.Delivered, Delivery{Output: s.o.name, Key: res.Key, URL: res.URL,
			Size: res.Size, SHA256: res.SHA256, Skipped: res.Skipped})
	}
	if firstErr != nil {
		row.DeliverError = strings.Join(msgs, "; ")
		if !temporal.IsCanceledError(firstErr) {
			firstErr = temporal.NewNonRetryableApplicationError("deliver: "+row.DeliverError, ErrTypeDeliverFailed, firstErr, *row)
		}
	}
	return firstErr
}

// cmpErr keeps the first error.
func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// notify posts the signed summary, and records the outcome in the notify row. Its
// failure fails that step only.
func (p *pipelineRun) notify(ctx workflow.Context, stage string) {
	if p.in.Notify == nil {
		return
	}
	row := &p.st.Steps[len(p.st.Steps)-1]
	p.setStage(ctx, StepNotify)
	row.State, row.StartedAt = StateRunning, workflow.Now(ctx)

	res := p.result()
	res.Stage = stage
	typ := NotifyTypeCompleted
	if stage == StageFailed {
		typ = NotifyTypeFailed
	}
	// encoding/json is deterministic for a struct: fields in declaration order, map keys
	// sorted. workflowcheck flags it only for the reflection caches it fills.
	body, err := json.Marshal(NotifyPayload{Type: typ, Timestamp: workflow.Now(ctx).UTC(), Data: res}) //workflowcheck:ignore
	if err != nil {                                                                                    // only for a value JSON cannot hold, which a PipelineResult is not
		row.State, row.FailureMessage, row.FinishedAt = StateFailed, "encode notification: "+err.Error(), workflow.Now(ctx)
		return
	}
	actx := workflow.WithActivityOptions(ctx, notifyOptions())
	var r activities.NotifyResult
	err = workflow.ExecuteActivity(actx, acts().Notify, activities.NotifyInput{
		URL:       p.in.Notify.URL,
		SecretEnv: p.in.Notify.SecretEnv,
		WebhookID: notifyWebhookID(ctx), // identity.go: a Reset keeps it
		Body:      body,
	}).Get(ctx, &r)
	row.FinishedAt = workflow.Now(ctx)
	switch {
	case err == nil:
		row.State = StateDone
	case temporal.IsCanceledError(err) || ctx.Err() != nil:
		row.State = StateCancelled
	default:
		row.State, row.FailureMessage = StateFailed, rootMessage(err)
		p.logger.Error("notify failed", "Error", err)
	}
}
