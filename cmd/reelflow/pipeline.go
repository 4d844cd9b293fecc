package main

import (
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

	"github.com/reelflow/reelflow/spec"
	"github.com/reelflow/reelflow/workflows"
)

// progressInterval is how often `start --wait` reads the step table.
const progressInterval = 500 * time.Millisecond

func (a *app) startCommand() *cobra.Command {
	var (
		wait      bool
		rows, key string
		limit     int
	)
	cmd := &cobra.Command{
		Use:   "start FILE [--rows CSV [--key COLUMN]]",
		Short: "Start the pipeline a spec describes (YAML or JSON); --wait follows it to the end",
		Long: `start validates the spec, then starts its Pipeline workflow, whose ID is the spec's id.
A pipeline that is running or has completed is not started again; with --wait, start
follows it instead. Exit codes: 0 done, 1 failed or cancelled, 2 invalid spec or usage.

With --rows, start runs one pipeline per CSV row: {{column}} placeholders in the spec are
filled from the row, and each pipeline's ID is <id>-<slug of the key column>. Running
the same command again starts only the rows not started yet.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return &exitError{code: 2, err: fmt.Errorf("--concurrency-limit %d: want 0 (off) or more", limit)}
			}
			if rows != "" {
				return a.startBatch(cmd.Context(), args[0], rows, key, limit, wait)
			}
			if key != "" {
				return &exitError{code: 2, err: errors.New("--key needs --rows")}
			}
			in, err := spec.Load(args[0])
			if err != nil {
				if errors.Is(err, spec.ErrInvalid) {
					return &exitError{code: 2, err: err}
				}
				return err
			}
			if limit > 0 {
				in.ConcurrencyLimit = limit
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			run, started, err := startPipeline(ctx, c, in)
			if err != nil {
				return err
			}
			if started {
				fmt.Fprintf(a.out, "started pipeline %s (run %s)\n", in.ID, run.GetRunID())
			} else {
				fmt.Fprintf(a.out, "pipeline %s was already started; not starting it again\n", in.ID)
			}
			if !wait {
				fmt.Fprintf(a.out, "follow it with: reelflow status %s\n", in.ID)
				return nil
			}
			return a.follow(ctx, c, run)
		},
	}
	a.env.Bool(cmd.Flags(), &wait, "wait", "REELFLOW_WAIT", false, "show progress and wait for the result")
	a.env.String(cmd.Flags(), &rows, "rows", "REELFLOW_ROWS", "", "CSV file: start one pipeline per row")
	a.env.String(cmd.Flags(), &key, "key", "REELFLOW_KEY", "", "CSV column whose value names each row's pipeline (default: the first column)")
	a.env.Int(cmd.Flags(), &limit, "concurrency-limit", "REELFLOW_CONCURRENCY_LIMIT", 0, "HeyGen jobs in flight at once across all workers (your plan's limit); extra jobs wait their turn instead of meeting 429s (0 = off)")
	return cmd
}

// startPipeline starts in's Pipeline, or finds the run that holds its ID. A failed
// pipeline may be started again; a running or completed one is never started twice.
func startPipeline(ctx context.Context, c client.Client, in workflows.PipelineInput) (client.WorkflowRun, bool, error) {
	opts := client.StartWorkflowOptions{
		ID:                                       in.ID,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            in.Title,
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.Pipeline, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		return c.GetWorkflow(ctx, in.ID, ""), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("start pipeline %s: %w", in.ID, err)
	}
	return run, true, nil
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
			fmt.Fprintf(a.out, "pipeline %s completed in %s\n", o.res.ID, time.Since(started).Round(100*time.Millisecond))
			printSteps(a.out, o.res.Steps)
			return nil
		case <-tick.C:
			if st, err := queryStatus(ctx, c, run.GetID(), run.GetRunID()); err == nil {
				a.printChanges(withLive(ctx, c, st).Steps, seen, started)
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

// reportFailure prints why a pipeline ended without a result and returns exit code 1.
func (a *app) reportFailure(ctx context.Context, c client.Client, run client.WorkflowRun, err error) error {
	if st, qerr := queryStatus(ctx, c, run.GetID(), run.GetRunID()); qerr == nil {
		printSteps(a.out, st.Steps)
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		var res workflows.PipelineResult
		if canceled.HasDetails() && canceled.Details(&res) == nil && len(res.Steps) > 0 {
			printSteps(a.out, res.Steps)
		}
		return &exitError{code: 1, err: fmt.Errorf("pipeline %s was cancelled", run.GetID())}
	}
	return &exitError{code: 1, err: fmt.Errorf("pipeline %s failed: %s", run.GetID(), rootMessage(err))}
}

// rootMessage is the first application error's message (the pipeline's own, which
// quotes HeyGen's failure) without the SDK's "workflow execution error" wrapping.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func queryStatus(ctx context.Context, c client.Client, id, runID string) (workflows.PipelineStatus, error) {
	var st workflows.PipelineStatus
	v, err := c.QueryWorkflow(ctx, id, runID, workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// withLive fills the running steps of a pipeline's table with their Jobs' own state
// (waiting for webhook, polling), which the pipeline does not track so that its
// history does not grow with every Job's progress.
func withLive(ctx context.Context, c client.Client, st workflows.PipelineStatus) workflows.PipelineStatus {
	return st.WithLive(func(callbackID string) (workflows.JobStatus, bool) {
		var js workflows.JobStatus
		v, err := c.QueryWorkflow(ctx, callbackID, "", workflows.QueryStatus)
		if err != nil || v.Get(&js) != nil {
			return js, false
		}
		return js, true
	})
}

// printSteps prints the step table.
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
		out := s.VideoURL
		if s.FailureMessage != "" {
			out = s.FailureMessage
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Step, s.State, dash(s.HeyGenJobID), dash(s.FinishedBy), took, dur, dash(out))
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) statusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Print a pipeline's step table, read through its status query",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			id := args[0]
			desc, err := c.DescribeWorkflowExecution(ctx, id, "")
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return fmt.Errorf("no pipeline %q", id)
			}
			if err != nil {
				return fmt.Errorf("describe %s: %w", id, err)
			}
			info := desc.GetWorkflowExecutionInfo()
			status := strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))
			st, err := queryStatus(ctx, c, id, "")
			if err != nil {
				return fmt.Errorf("query %s (is a worker running?): %w", id, err)
			}
			st = withLive(ctx, c, st)
			title := ""
			if st.Title != "" {
				title = "  " + st.Title
			}
			fmt.Fprintf(a.out, "pipeline %s%s: %s (stage %s)\n", id, title, status, st.Stage)
			printSteps(a.out, st.Steps)
			return nil
		},
	}
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
			if err := c.CancelWorkflow(ctx, args[0], ""); err != nil {
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					return fmt.Errorf("no running pipeline %q", args[0])
				}
				return fmt.Errorf("cancel %s: %w", args[0], err)
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
