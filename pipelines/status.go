package pipelines

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/workflows"
)

// Status reads the step table of pipeline id's run runID ("" for the latest) through
// its status query, which needs a running worker.
func Status(ctx context.Context, c client.Client, id, runID string) (workflows.PipelineStatus, error) {
	var st workflows.PipelineStatus
	v, err := c.QueryWorkflow(ctx, id, runID, workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// Live fills the running steps of a pipeline's table with their Jobs' own state
// (waiting for webhook, polling), which the pipeline does not track so that its
// history does not grow with every Job's progress. A Job that does not answer keeps
// its row as the pipeline has it.
func Live(ctx context.Context, c client.Client, st workflows.PipelineStatus) workflows.PipelineStatus {
	return st.WithLive(func(callbackID string) (workflows.JobStatus, bool) {
		var js workflows.JobStatus
		v, err := c.QueryWorkflow(ctx, callbackID, "", workflows.QueryStatus)
		if err != nil || v.Get(&js) != nil {
			return js, false
		}
		return js, true
	})
}

// ErrNotRunning is Cancel's error when the pipeline has no open run.
var ErrNotRunning = errors.New("no running pipeline")

// Cancel asks pipeline id to stop: it cancels its running Jobs, waits for them, and
// ends as cancelled. It returns ErrNotRunning (wrapped) when no run of id is open.
func Cancel(ctx context.Context, c client.Client, id string) error {
	err := c.CancelWorkflow(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%w %q: it has ended or never started (reelflow status %s)", ErrNotRunning, id, id)
	}
	if err != nil {
		return TemporalError("cancel "+id, err)
	}
	return nil
}

// FailureReason says in a few words why a pipeline's run ended without a result: the
// outermost application error's message (the pipeline's own, which quotes HeyGen's
// failure) without the SDK's "workflow execution error" wrapping, or how an operator
// ended it.
func FailureReason(err error) string {
	var (
		app        *temporal.ApplicationError
		terminated *temporal.TerminatedError
		timeout    *temporal.TimeoutError
		canceled   *temporal.CanceledError
	)
	switch {
	case errors.As(err, &app):
		return app.Message()
	case errors.As(err, &terminated):
		return "terminated from the Temporal UI or CLI"
	case errors.As(err, &timeout):
		return "timed out"
	case errors.As(err, &canceled):
		return "cancelled"
	}
	return err.Error()
}

// TemporalError turns an error from a Temporal call into one that says what happened
// and what to do, without the server's wording; what is the call's short context.
func TemporalError(what string, err error) error {
	var (
		unavailable *serviceerror.Unavailable
		deadline    *serviceerror.DeadlineExceeded
		denied      *serviceerror.PermissionDenied
		nsNotFound  *serviceerror.NamespaceNotFound
		exhausted   *serviceerror.ResourceExhausted
	)
	switch {
	case errors.As(err, &unavailable), errors.Is(err, context.DeadlineExceeded), errors.As(err, &deadline):
		return fmt.Errorf("%s: Temporal did not answer; is the server up (reelflow dev, or $TEMPORAL_ADDRESS)? Try again once it is", what)
	case errors.As(err, &denied):
		return fmt.Errorf("%s: Temporal refused the call; check $TEMPORAL_API_KEY and the namespace's permissions", what)
	case errors.As(err, &nsNotFound):
		return fmt.Errorf("%s: the namespace does not exist; check $TEMPORAL_NAMESPACE", what)
	case errors.As(err, &exhausted):
		return fmt.Errorf("%s: Temporal is overloaded (rate limited); try again in a minute", what)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: interrupted", what)
	}
	return fmt.Errorf("%s: %s", what, FailureReason(err))
}

// Unfinished names the steps of a completed pipeline that did not succeed, as "<step>
// failed", "<step> cancelled" or "<step> not delivered": a failed step (a translation,
// without fail_fast), or one whose outputs were not delivered.
func Unfinished(steps []workflows.JobStatus) []string {
	var out []string
	for _, s := range steps {
		switch {
		case s.State == workflows.StateFailed, s.State == workflows.StateCancelled:
			out = append(out, s.Step+" "+string(s.State))
		case s.DeliverError != "":
			out = append(out, s.Step+" not delivered")
		}
	}
	return out
}
