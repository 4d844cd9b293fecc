package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/spec"
	"github.com/reelflow/reelflow/workflows"
)

// startBatch starts one pipeline per good CSV row, reports bad rows with their line
// numbers, and with wait follows them all to the end.
func (a *app) startBatch(ctx context.Context, specPath, csvPath, key string, limit int, wait bool) error {
	batch, err := spec.LoadBatch(specPath, csvPath, key)
	if err != nil {
		if errors.Is(err, spec.ErrInvalid) {
			return &exitError{code: 2, err: err}
		}
		return err
	}
	bad := batch.Bad()
	for _, r := range bad {
		fmt.Fprintf(a.out, "skipping row at %s:%d: %v\n", batch.CSV, r.Line, r.Err)
	}
	inputs := batch.Inputs()
	if len(inputs) == 0 {
		return &exitError{code: 2, err: fmt.Errorf("%s: no row to start", batch.CSV)}
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	runs, already, err := a.startRows(ctx, c, inputs, limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "%d pipelines: %d started now, %d already started before", len(inputs), len(inputs)-already, already)
	if len(bad) > 0 {
		fmt.Fprintf(a.out, ", %d bad rows skipped", len(bad))
	}
	fmt.Fprintln(a.out)
	if !wait {
		return nil
	}

	return a.waitBatch(ctx, runs)
}

// startRows starts one pipeline per input, with limit as its concurrency limit when
// set, and counts those that had been started before.
func (a *app) startRows(ctx context.Context, c client.Client, inputs []workflows.PipelineInput, limit int) ([]client.WorkflowRun, int, error) {
	runs := make([]client.WorkflowRun, 0, len(inputs))
	bar := newProgress(a.out, "started", len(inputs))
	already := 0
	for _, in := range inputs {
		if limit > 0 {
			in.ConcurrencyLimit = limit
		}
		run, started, err := startPipeline(ctx, c, in, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY)
		if err != nil {
			return nil, 0, err
		}
		if !started {
			already++
		}
		runs = append(runs, run)
		bar.step()
	}
	bar.done()
	return runs, already, nil
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
			results <- outcome{run.GetID(), run.Get(ctx, &res)}
		}()
	}
	bar := newProgress(a.out, "finished", len(runs))
	var failed []string
	for range runs {
		select {
		case o := <-results:
			if o.err != nil {
				var canceled *temporal.CanceledError
				reason := rootMessage(o.err)
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
		fmt.Fprintf(a.out, "%d of %d pipelines did not complete:\n  %s\n", len(failed), len(runs), strings.Join(failed, "\n  "))
		return &exitError{code: 1, err: fmt.Errorf("%d pipelines did not complete", len(failed))}
	}
	fmt.Fprintf(a.out, "all %d pipelines completed\n", len(runs))
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
