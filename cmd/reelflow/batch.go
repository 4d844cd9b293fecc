package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/pipelines"
	"github.com/reelflow/reelflow/spec"
	"github.com/reelflow/reelflow/workflows"
)

// batchStart is what `start --rows` was asked.
type batchStart struct {
	spec, rows, key string
	priority        int
	wait            bool
	// account names the scheduler that --wait reads the campaign's slots from.
	account string
}

// startBatch starts one pipeline per good CSV row, reports bad rows with their line
// numbers, and with wait follows the campaign (or, for rows of no campaign, every
// pipeline) to the end.
func (a *app) startBatch(ctx context.Context, b batchStart) error {
	batch, err := spec.LoadBatch(b.spec, b.rows, b.key)
	if err != nil {
		// Invalid, or a file missing or unreadable: nothing started either way.
		return usageError(err)
	}
	bad := batch.Bad()
	for _, r := range bad {
		fmt.Fprintf(a.out, "skipping row at %s:%d: %v\n", batch.CSV, r.Line, r.Err)
	}
	inputs := batch.Inputs()
	if len(inputs) == 0 {
		return usageError(fmt.Errorf("%s: no row to start", batch.CSV))
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	campaign := inputs[0].Schedule.Campaign
	if campaign != "" {
		// The campaign exists before its first pipeline can end and tell it.
		if err := pipelines.OpenCampaign(ctx, c, campaign, inputs); err != nil {
			return err
		}
	}
	runs, restarted, err := a.startRows(ctx, c, inputs, b)
	if err != nil {
		return err
	}
	already := len(inputs) - len(restarted)
	fmt.Fprintf(a.out, "%d %s: %d started now, %d already started before", len(inputs), plural(len(inputs), "pipeline", "pipelines"), len(inputs)-already, already)
	if len(bad) > 0 {
		fmt.Fprintf(a.out, ", %d bad %s skipped", len(bad), plural(len(bad), "row", "rows"))
	}
	fmt.Fprintln(a.out)
	if campaign != "" {
		if err := pipelines.SignalCampaign(ctx, c, campaign, restarted); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "campaign %s: follow it with reelflow status %s\n", campaign, campaign)
		a.printWhereToSee(campaign, inputs[0].ID)
	}
	var waitErr error
	switch {
	case b.wait && campaign != "":
		waitErr = a.followCampaign(ctx, c, campaign, b.account)
	case b.wait:
		waitErr = a.waitBatch(ctx, runs)
	}
	var ee *exitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return waitErr // interrupted, or Temporal unreachable
	}
	if len(bad) > 0 {
		waitErr = errors.Join(waitErr, fmt.Errorf("%d bad %s in %s skipped", len(bad), plural(len(bad), "row", "rows"), batch.CSV))
	}
	if waitErr != nil {
		return &exitError{code: exitFailedSteps, err: waitErr}
	}
	return nil
}

// printWhereToSee says how to find a campaign's pipelines again: the list command, the
// Temporal UI's search when the UI of a dev stack on this Temporal is known, and the
// status command of one of them.
func (a *app) printWhereToSee(campaign, oneID string) {
	fmt.Fprintf(a.out, "see its pipelines: reelflow list --campaign %s\n", campaign)
	if link := a.uiLink(fmt.Sprintf("%s=\"%s\"", workflows.SearchAttrCampaign, campaign)); link != "" {
		fmt.Fprintf(a.out, "               or: %s\n", link)
	}
	fmt.Fprintf(a.out, "one pipeline's steps: reelflow status %s\n", oneID)
}

// uiLink is the Temporal UI's search for query when this command talks to the Temporal
// of the reelflow dev whose --dir this is, and that dev runs a UI; "" otherwise.
func (a *app) uiLink(query string) string {
	st, ok, err := readDevState(a.devDir)
	if err != nil || !ok {
		return ""
	}
	opts, err := a.clientOptions(zap.NewNop())
	if err != nil || opts.HostPort != st.TemporalAddress || opts.Namespace != st.Namespace {
		return ""
	}
	return st.uiWorkflowsURL(query)
}

// startRows starts one pipeline per input, with b's priority when
// set, and returns the runs and the rows it started now (with their runs).
func (a *app) startRows(ctx context.Context, c client.Client, inputs []workflows.PipelineInput, b batchStart) ([]client.WorkflowRun, []workflows.CampaignRow, error) {
	runs := make([]client.WorkflowRun, 0, len(inputs))
	var restarted []workflows.CampaignRow
	bar := newProgress(a.out, "started", len(inputs))
	for _, in := range inputs {
		if b.priority != 0 {
			in.Schedule.Priority = b.priority
		}
		run, started, err := pipelines.Start(ctx, c, in)
		if err != nil {
			return nil, nil, err
		}
		if started {
			restarted = append(restarted, workflows.CampaignRow{ID: in.ID, RunID: run.GetRunID()})
		}
		runs = append(runs, run)
		bar.step()
	}
	bar.done()
	return runs, restarted, nil
}

// waitBatch follows every run to its end and reports those that did not complete.
func (a *app) waitBatch(ctx context.Context, runs []client.WorkflowRun) error {
	type outcome struct {
		id  string
		err error
	}
	results := make(chan outcome, len(runs))
	for _, run := range runs {
		go func() {
			var res workflows.PipelineResult
			err := run.Get(ctx, &res)
			if failed := pipelines.Unfinished(res.Steps); err == nil && len(failed) > 0 {
				err = fmt.Errorf("completed with %s (%s)", countSteps(len(failed), "failed"), strings.Join(failed, ", "))
			}
			results <- outcome{run.GetID(), err}
		}()
	}
	bar := newProgress(a.out, "finished", len(runs))
	var failed []string
	for range runs {
		select {
		case o := <-results:
			if o.err != nil {
				var canceled *temporal.CanceledError
				reason := pipelines.FailureReason(o.err)
				if errors.As(o.err, &canceled) {
					reason = "cancelled"
				}
				failed = append(failed, o.id+": "+reason)
			}
			bar.step()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	bar.done()
	if len(failed) > 0 {
		fmt.Fprintf(a.out, "%d of %d %s did not complete every step:\n  %s\n", len(failed), len(runs), plural(len(runs), "pipeline", "pipelines"), strings.Join(failed, "\n  "))
		return &exitError{code: exitFailedSteps, err: fmt.Errorf("%d of %d %s did not complete every step", len(failed), len(runs), plural(len(runs), "pipeline", "pipelines"))}
	}
	fmt.Fprintf(a.out, "all %d %s completed\n", len(runs), plural(len(runs), "pipeline", "pipelines"))
	return nil
}

// progress prints a bar of how many of total are done, one line per tenth, so that it
// reads the same in a terminal, a CI log or a file.
type progress struct {
	w          io.Writer
	label      string
	n, total   int
	lastTenths int
}

func newProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, label: label, total: total, lastTenths: -1}
	p.print()
	return p
}

func (p *progress) step() {
	p.n++
	if tenths := p.n * 10 / p.total; tenths != p.lastTenths {
		p.print()
	}
}

func (p *progress) done() {
	if p.n*10/p.total != p.lastTenths {
		p.print()
	}
}

func (p *progress) print() {
	p.lastTenths = p.n * 10 / p.total
	fmt.Fprintf(p.w, "[%-20s] %d/%d %s\n", strings.Repeat("#", p.n*20/p.total), p.n, p.total, p.label)
}
