package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/workflows"
)

// videoBody is the POST /v3/videos body of every benchmark job: the sandbox renders any
// avatar that is not one of its magic values.
func videoBody() map[string]any {
	return map[string]any{
		"type":      "avatar",
		"avatar_id": "Daisy-inskirt-20220818",
		"voice_id":  "2d5b0e6cf36f460aa7fc47e3eee4ba54",
		"script":    "Welcome to reelflow.",
	}
}

// jobID is the workflow ID (and callback_id) of a benchmark job.
func jobID(prefix string, i int) string {
	return workflows.JobWorkflowID(fmt.Sprintf("%s-%05d", prefix, i), workflows.StepRender)
}

// startJob starts one Job workflow, as a Pipeline would start its render step.
func startJob(ctx context.Context, env *Env, prefix string, i int, t workflows.Timeouts) (client.WorkflowRun, error) {
	id := jobID(prefix, i)
	pipelineID, _, _ := workflows.ParseJobWorkflowID(id)
	return env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.Job,
		workflows.JobInput{PipelineID: pipelineID, Step: workflows.StepRender, Kind: workflows.KindVideo, Body: videoBody(), Timeouts: t})
}

// startMany calls start(i) for i in [0,n) from the given number of goroutines and
// returns when every call has returned. It stops at the first error.
func startMany(ctx context.Context, n, starters int, start func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range starters {
		wg.Go(func() {
			for i := range next {
				if err := start(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// outcome is how one Job ended, as its client saw it.
type outcome struct {
	id         string
	done       time.Time // when Get returned
	finishedBy string
	polls      int
	err        error
}

// awaitJobs waits for every run, at most conc at once, for their results. Its done
// times are late for jobs that closed before their wait began: use awaitJob, started
// with the job, for timing.
func awaitJobs(ctx context.Context, runs []client.WorkflowRun, conc int) []outcome {
	out := make([]outcome, len(runs))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, run := range runs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = awaitJob(ctx, run)
		})
	}
	wg.Wait()
	return out
}

// awaitJob waits for one Job and notes when its result reached the client.
func awaitJob(ctx context.Context, run client.WorkflowRun) outcome {
	var res workflows.JobResult
	err := run.Get(ctx, &res)
	return outcome{id: run.GetID(), done: time.Now(), finishedBy: res.FinishedBy, polls: res.Polls, err: err}
}

// tally counts outcomes by how they finished; failures are keyed "error".
func tally(outs []outcome) (byHow map[string]int, firstErr error) {
	byHow = map[string]int{}
	for _, o := range outs {
		if o.err != nil {
			byHow["error"]++
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", o.id, o.err)
			}
			continue
		}
		byHow[o.finishedBy]++
	}
	return byHow, firstErr
}
