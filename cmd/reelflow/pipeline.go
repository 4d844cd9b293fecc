package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/pipelines"
	"github.com/reelflow/reelflow/spec"
	"github.com/reelflow/reelflow/workflows"
)

// progressInterval is how often `start --wait` reads the step table.
const progressInterval = 500 * time.Millisecond

// startLong is start's help.
const startLong = `start validates the spec, then starts its Pipeline workflow, whose ID is the spec's id.
A pipeline that is running or has completed is not started again; with --wait, start
follows it instead. A pipeline that failed, was cancelled or was terminated is resumed:
steps that completed are reused (no new render, nothing delivered twice), the others run
again. The spec may change only in steps that did not complete; --fresh renders a
changed completed step again, which HeyGen bills again.

Exit codes: 0 every step succeeded (or, without --wait, the pipeline started); 1 failed
or cancelled; 2 usage, a missing or invalid spec, or a changed completed step without
--fresh; 3 completed with failed steps (a translation that failed, without fail_fast),
or a --rows batch with bad rows or pipelines that did not complete every step.

With --rows, start runs one pipeline per CSV row: {{column}} placeholders in the spec are
filled from the row. Each pipeline's ID is the spec's id, "-", and the row's key value
lowercased, with every run of characters other than letters, digits, '.', '_' and '-'
made one '-' ("campaign-q3" and "Ana@Example.com" give campaign-q3-ana-example.com).
Running the same command again starts only the rows not started yet. The rows form a
campaign: reelflow status <id> summarises it, reelflow list --campaign <id> lists its
pipelines, and --wait follows it (exit code 3 when a pipeline failed or completed with
failed steps).

` + stepTableLegend

// startFlags are start's flags.
type startFlags struct {
	wait, fresh bool
	rows, key   string
	priority    int
	acct        accountFlags
}

func (a *app) startCommand() *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:   "start FILE [--rows CSV [--key COLUMN]]",
		Short: "Start the pipeline a spec describes (YAML or JSON); --wait follows it to the end",
		Long:  startLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.priority != 0 && (f.priority < workflows.PriorityHighest || f.priority > workflows.PriorityLowest) {
				return &exitError{code: 2, err: fmt.Errorf("--priority %d: want 1 (most urgent) to 5", f.priority)}
			}
			if f.rows != "" {
				account, err := f.acct.account()
				if err != nil {
					return err
				}
				return a.startBatch(cmd.Context(), batchStart{spec: args[0], rows: f.rows, key: f.key, priority: f.priority, wait: f.wait, account: account})
			}
			if f.key != "" {
				return &exitError{code: 2, err: errors.New("--key needs --rows")}
			}
			return a.startOne(cmd.Context(), args[0], f)
		},
	}
	a.env.Bool(cmd.Flags(), &f.wait, "wait", "REELFLOW_WAIT", false, "show progress and wait for the result")
	a.env.String(cmd.Flags(), &f.rows, "rows", "REELFLOW_ROWS", "", "CSV file: start one pipeline per row")
	a.env.String(cmd.Flags(), &f.key, "key", "REELFLOW_KEY", "", "CSV column whose value names each row's pipeline (default: the first column)")
	a.env.Bool(cmd.Flags(), &f.fresh, "fresh", "REELFLOW_FRESH", false, "on a rerun, render again the completed steps whose spec changed (a new, paid render) instead of refusing")
	a.env.Int(cmd.Flags(), &f.priority, "priority", "REELFLOW_PRIORITY", 0, "1 (most urgent) to 5: the account's free slots go to the most urgent Jobs first; overrides the spec's priority, for every row of a batch (default: the spec's, else 3)")
	a.bindAccount(cmd, &f.acct)
	return cmd
}

// startOne starts, resumes or follows the pipeline of the spec at path, and with --wait
// follows it to its end.
func (a *app) startOne(ctx context.Context, path string, f startFlags) error {
	in, err := spec.Load(path)
	if err != nil {
		// Invalid, or missing or unreadable: nothing started either way.
		return usageError(err)
	}
	if f.priority != 0 {
		in.Schedule.Priority = f.priority
	}
	in.Fresh = f.fresh
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	run, err := a.startOrResume(ctx, c, in)
	if err != nil {
		return err
	}
	if !f.wait {
		fmt.Fprintf(a.out, "follow it with: reelflow status %s\n", in.ID)
		return nil
	}
	return a.follow(ctx, c, run)
}

// startOrResume starts in's pipeline, or resumes it when an earlier run failed, was
// cancelled or was terminated, or completed with failed steps (a translation, without
// fail_fast), and says which. A running pipeline, or one that completed with every step
// done, is not started again: its run is returned, for --wait to follow. A resume that
// would reuse a changed completed step is refused with exit code 2.
func (a *app) startOrResume(ctx context.Context, c client.Client, in workflows.PipelineInput) (client.WorkflowRun, error) {
	latest, err := pipelines.Look(ctx, c, in)
	var changed *workflows.StepChangedError
	if errors.As(err, &changed) {
		return nil, usageError(err)
	}
	if err != nil {
		return nil, err
	}
	var (
		run     client.WorkflowRun
		started bool
	)
	switch latest.Next {
	case pipelines.NextFollow:
		if latest.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			fmt.Fprintf(a.out, "pipeline %s was already started and is running; not starting it twice\n", in.ID)
		} else {
			fmt.Fprintf(a.out, "pipeline %s was already started and completed; not starting it again\n", in.ID)
		}
		return c.GetWorkflow(ctx, in.ID, ""), nil
	case pipelines.NextResume:
		fmt.Fprintf(a.out, "resuming %s (it %s): %s\n", in.ID, latest.Ended(), resumeSummary(latest.Plans))
		run, started, err = pipelines.Resume(ctx, c, in, latest)
	default:
		run, started, err = pipelines.Start(ctx, c, in)
	}
	if err != nil {
		return nil, err
	}
	if started {
		fmt.Fprintf(a.out, "started pipeline %s (run %s)\n", in.ID, run.GetRunID())
	} else {
		fmt.Fprintf(a.out, "pipeline %s was already started; not starting it again\n", in.ID)
	}
	return run, nil
}

// resumeSummary says what a rerun does: "render done, 2 of 3 translations to redo".
func resumeSummary(plans []workflows.StepPlan) string {
	var parts []string
	translations, redo := 0, 0
	for _, p := range plans {
		if p.Step == workflows.StepRender {
			switch {
			case p.Reuse:
				parts = append(parts, "render done")
			case p.Changed:
				parts = append(parts, "render changed, to render again (--fresh)")
			default:
				parts = append(parts, "render to redo")
			}
			continue
		}
		translations++
		if !p.Reuse {
			redo++
		}
	}
	switch {
	case translations == 0:
	case redo == 0:
		parts = append(parts, fmt.Sprintf("all %d translations done", translations))
	default:
		parts = append(parts, fmt.Sprintf("%d of %d translations to redo", redo, translations))
	}
	if len(parts) == 0 {
		return "nothing to redo"
	}
	return strings.Join(parts, ", ")
}

// follow prints each step's changes until the pipeline ends, then its result.
func (a *app) follow(ctx context.Context, c client.Client, run client.WorkflowRun) error {
	type outcome struct {
		res workflows.PipelineResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		o.err = run.Get(ctx, &o.res)
		done <- o
	}()
	seen := map[string]string{}
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	started := time.Now()
	for {
		select {
		case o := <-done:
			if o.err != nil {
				return a.reportFailure(ctx, c, run, o.err)
			}
			a.printChanges(o.res.Steps, seen, started)
			took := time.Since(started).Round(100 * time.Millisecond)
			failed := pipelines.Unfinished(o.res.Steps)
			if len(failed) == 0 {
				fmt.Fprintf(a.out, "pipeline %s completed in %s\n", o.res.ID, took)
				printSteps(a.out, o.res.Steps)
				return nil
			}
			fmt.Fprintf(a.out, "pipeline %s completed in %s with %s\n", o.res.ID, took, countSteps(len(failed), "failed"))
			printSteps(a.out, o.res.Steps)
			return completedWithFailures(o.res.ID, failed)
		case <-tick.C:
			if st, err := pipelines.Status(ctx, c, run.GetID(), run.GetRunID()); err == nil {
				a.printChanges(pipelines.Live(ctx, c, st).Steps, seen, started)
			}
		case <-ctx.Done():
			fmt.Fprintf(a.out, "stopped waiting; the pipeline goes on. Follow it with: reelflow status %s\n", run.GetID())
			return ctx.Err()
		}
	}
}

// printChanges prints one line for each step whose state changed since the last call.
func (a *app) printChanges(steps []workflows.JobStatus, seen map[string]string, started time.Time) {
	for _, s := range steps {
		line := string(s.State)
		if s.HeyGenJobID != "" {
			line += "  (HeyGen job " + s.HeyGenJobID + ")"
		}
		if s.FinishedBy != "" {
			line += "  by " + s.FinishedBy
		}
		if seen[s.Step] == line {
			continue
		}
		seen[s.Step] = line
		fmt.Fprintf(a.out, "  %6s  %-10s %s\n", time.Since(started).Round(100*time.Millisecond), s.Step, line)
	}
}

// reportFailure prints why a pipeline ended without a result and what to do, and
// returns exit code 1.
func (a *app) reportFailure(ctx context.Context, c client.Client, run client.WorkflowRun, err error) error {
	if st, qerr := pipelines.Status(ctx, c, run.GetID(), run.GetRunID()); qerr == nil {
		printSteps(a.out, st.Steps)
	}
	id := run.GetID()
	var (
		canceled   *temporal.CanceledError
		terminated *temporal.TerminatedError
		timeout    *temporal.TimeoutError
	)
	switch {
	case errors.As(err, &canceled):
		var res workflows.PipelineResult
		if canceled.HasDetails() && canceled.Details(&res) == nil && len(res.Steps) > 0 {
			printSteps(a.out, res.Steps)
		}
		return &exitError{code: 1, err: fmt.Errorf("pipeline %s was cancelled; start it again to resume it (completed steps are reused)", id)}
	case errors.As(err, &terminated):
		return &exitError{code: 1, err: fmt.Errorf("pipeline %s was terminated (from the Temporal UI or CLI); start it again to resume it (completed steps are reused)", id)}
	case errors.As(err, &timeout):
		return &exitError{code: 1, err: fmt.Errorf("pipeline %s timed out; start it again to resume it (completed steps are reused)", id)}
	}
	return &exitError{code: 1, err: fmt.Errorf("pipeline %s failed: %s; fix the cause, then start it again to resume it (completed steps are reused)", id, pipelines.FailureReason(err))}
}

// countSteps reads "1 failed step", "2 failed steps".
func countSteps(n int, adjective string) string {
	return fmt.Sprintf("%d %s %s", n, adjective, plural(n, "step", "steps"))
}

// completedWithFailures is exit code 3: the pipeline completed, and the steps in failed
// did not succeed.
func completedWithFailures(id string, failed []string) error {
	return &exitError{code: exitFailedSteps, err: fmt.Errorf("pipeline %s completed with %s (%s); start it again to redo them (completed steps are reused)",
		id, countSteps(len(failed), "failed"), strings.Join(failed, ", "))}
}

// stepTableLegend explains the columns of the step table, for --help.
const stepTableLegend = `The step table:
  STEP        render, translate/<language>, notify
  STATE       where the step is: pending, creating, waiting for webhook, polling,
              done, failed, cancelled ...; "(reused)": taken over from an earlier run
  HEYGEN JOB  HeyGen's video or translation ID
  BY          how reelflow learnt the outcome: webhook, or poll (no webhook came in time)
  TOOK        wall time of the step, from its Job's start (waiting for a HeyGen slot
              included) until HeyGen's answer reached reelflow
  DURATION    length of the finished video, in seconds, as HeyGen reports it: not time
              that reelflow took
  OUTPUT      where the video was delivered (deliver.to) when the spec delivers; else
              HeyGen's own link, which expires; for a failed step, why it failed`

// printSteps prints the step table; stepTableLegend explains it.
func printSteps(w io.Writer, steps []workflows.JobStatus) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATE\tHEYGEN JOB\tBY\tTOOK\tDURATION\tOUTPUT")
	for _, s := range steps {
		took := "-"
		if !s.StartedAt.IsZero() && !s.FinishedAt.IsZero() {
			took = s.FinishedAt.Sub(s.StartedAt).Round(100 * time.Millisecond).String()
		}
		dur := "-"
		if s.Duration > 0 {
			dur = fmt.Sprintf("%.1fs", s.Duration)
		}
		out := stepOutput(s)
		state := string(s.State)
		if s.Reused {
			state += " (reused)"
		}
		if s.Attempts > 0 {
			state += fmt.Sprintf(" (attempt %d of %d)", s.Attempt, s.Attempts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Step, state, dash(s.HeyGenJobID), dash(s.FinishedBy), took, dur, dash(out))
	}
	_ = tw.Flush()
	// Every failed attempt's reason, under the table: a re-rendered step keeps them.
	for _, s := range steps {
		for _, f := range s.FailedAttempts {
			fmt.Fprintf(w, "%s: %s\n", s.Step, f)
		}
	}
}

// stepOutput is a row's OUTPUT: why it failed, or the delivered video (the object
// the spec's deliver bucket holds), or else HeyGen's link, which expires.
func stepOutput(s workflows.JobStatus) string {
	if s.FailureMessage != "" {
		return s.FailureMessage
	}
	var delivered string
	for _, d := range s.Delivered {
		if d.Output == activities.OutputVideo {
			delivered = d.URL
			break
		}
		delivered = cmp.Or(delivered, d.URL)
	}
	out := cmp.Or(delivered, s.VideoURL, s.AudioURL)
	if s.DeliverError != "" {
		out = strings.TrimSpace(out + " (not delivered: " + s.DeliverError + ")")
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) statusCommand() *cobra.Command {
	var (
		onlyPipeline bool
		acct         accountFlags
	)
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Print a pipeline's step table, or a campaign's summary, read through their status queries",
		Long: `status ID prints the pipeline ID's state and step table; running steps show their
Job's own live state. When ID is the id of a spec started with --rows, it prints the
campaign's summary instead: its pipelines by state, the failed ones with their reasons,
the slots it holds at the account and the Jobs it has waiting, and an estimate of the
time left.

A spec started both ways has a pipeline and a campaign under the same id: the campaign
wins, and status says so; --pipeline shows the pipeline.

Exit codes: 0 the pipeline is running, or completed with every step done; 1 it failed,
was cancelled, terminated or timed out, or there is no such pipeline; 3 it completed
with failed steps (for a campaign: a pipeline of it did not complete every step).

` + stepTableLegend,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if !onlyPipeline {
				shown, err := a.printCampaignStatus(ctx, c, args[0], acct)
				if shown || err != nil {
					return err
				}
			}
			return a.printStatus(ctx, c, args[0])
		},
	}
	a.env.Bool(cmd.Flags(), &onlyPipeline, "pipeline", "REELFLOW_STATUS_PIPELINE", false, "show the pipeline ID even when a campaign has the same id")
	a.bindAccount(cmd, &acct)
	return cmd
}

// printCampaignStatus prints the campaign id's summary, with its share of the account
// from the scheduler, and reports false when there is no such campaign.
func (a *app) printCampaignStatus(ctx context.Context, c client.Client, id string, acct accountFlags) (bool, error) {
	st, found, err := pipelines.Campaign(ctx, c, id)
	if !found || err != nil {
		return found, err
	}
	var share *workflows.CampaignShare
	if account, err := acct.account(); err == nil {
		if sched, err := pipelines.Queue(ctx, c, account); err == nil {
			s, _ := campaignShare(sched, id)
			share = &s
			if sched.Paused {
				fmt.Fprintf(a.out, "account %s is PAUSED: %s\n", account, dash(sched.PauseReason))
			}
		}
	}
	printCampaign(a.out, st, share, time.Now())
	if _, err := c.DescribeWorkflowExecution(ctx, id, ""); err == nil {
		fmt.Fprintf(a.out, "(a pipeline %s exists too: reelflow status --pipeline %s)\n", id, id)
	}
	if st.Rows > 0 && st.Running == 0 {
		// Every row has ended: the exit code says how, as start --wait's does.
		return true, campaignExit(st)
	}
	return true, nil
}

// printStatus prints a pipeline's state, its step table and, when it did not complete,
// what to do next.
func (a *app) printStatus(ctx context.Context, c client.Client, id string) error {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("no pipeline %q: start one with reelflow start SPEC", id)
	}
	if err != nil {
		return pipelines.TemporalError("look up pipeline "+id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	status := pipelines.ExecutionStatus(info.GetStatus())
	st, err := pipelines.Status(ctx, c, id, "")
	if err != nil {
		fmt.Fprintf(a.out, "pipeline %s: %s\n", id, status)
		if payload.IsMissingKey(err) {
			return fmt.Errorf("read the step table of %s: %w", id, err)
		}
		return pipelines.TemporalError("read the step table of "+id+" (it needs a running worker: reelflow worker, or reelflow dev)", err)
	}
	st = pipelines.Live(ctx, c, st)
	title := ""
	if st.Title != "" {
		title = "  " + st.Title
	}
	fmt.Fprintf(a.out, "pipeline %s%s: %s (stage %s)\n", id, title, status, st.Stage)
	printSteps(a.out, st.Steps)
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		for _, s := range st.Steps {
			if s.State == workflows.StateQueued {
				fmt.Fprintf(a.out, "%s waits for a slot of the HeyGen account: other jobs hold them all (reelflow queue shows the scheduler); see docs/operations.md\n", s.Step)
				break
			}
		}
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if failed := pipelines.Unfinished(st.Steps); len(failed) > 0 {
			return completedWithFailures(id, failed)
		}
	default:
		fmt.Fprintf(a.out, "to resume it, start the same spec again: reelflow start SPEC (completed steps are reused)\n")
		return &exitError{code: exitFailed, err: fmt.Errorf("pipeline %s %s", id, status)}
	}
	return nil
}

func (a *app) cancelCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a pipeline and its HeyGen jobs' workflows",
		Long: `cancel asks the pipeline to stop: it cancels its running Jobs, waits for them, and
ends as cancelled. HeyGen renders already started are not refunded; their results are
not delivered. With --wait it prints the final step table.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := pipelines.Cancel(ctx, c, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "cancellation of %s requested\n", args[0])
			if !wait {
				return nil
			}
			run := c.GetWorkflow(ctx, args[0], "")
			var res workflows.PipelineResult
			err = run.Get(ctx, &res)
			if err == nil {
				fmt.Fprintf(a.out, "pipeline %s finished before the cancellation reached it\n", args[0])
				printSteps(a.out, res.Steps)
				return nil
			}
			var canceled *temporal.CanceledError
			if !errors.As(err, &canceled) {
				return a.reportFailure(ctx, c, run, err)
			}
			if canceled.HasDetails() && canceled.Details(&res) == nil {
				printSteps(a.out, res.Steps)
			}
			fmt.Fprintf(a.out, "pipeline %s cancelled\n", args[0])
			return nil
		},
	}
	a.env.Bool(cmd.Flags(), &wait, "wait", "REELFLOW_WAIT", false, "wait until the pipeline has stopped and print its steps")
	return cmd
}

// plural picks the word for n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
