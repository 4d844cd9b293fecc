package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/spec"
	"github.com/reelflow/reelflow/workflows"
)

// ExamplesConfig sizes the status-calls-per-Job measurement on the examples (issue 20
// item 4).
type ExamplesConfig struct {
	// Dir holds the examples: every *.yaml but campaign.yaml as a pipeline, and
	// campaign.yaml with contacts.csv (key email) as a batch.
	Dir  string
	Runs int
	Env  EnvConfig
}

// examplesRound is what one round of every example counted.
type examplesRound struct {
	jobs, calls, single, bulk int
	byHow                     map[string]int
}

// RunExamples runs every example at once on the dev stack with webhooks delivered (the
// stack's own, untouched), delivering to a temporary directory, and counts the HeyGen
// status calls of every kind per Job: the one detail fetch per finished step, plus the
// sweep's bulk calls when a minute's boundary falls while Jobs wait.
func RunExamples(ctx context.Context, cfg ExamplesConfig) (Result, error) {
	res := Result{Name: "examples", Title: "Issue 20: status calls per Job, every example, webhooks delivered", Runs: cfg.Runs, Machine: Machine()}
	var rounds []examplesRound
	for r := range cfg.Runs {
		rd, err := runExamplesOnce(ctx, cfg, r)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", r, err)
		}
		rounds = append(rounds, rd)
	}
	var per []float64
	for i, rd := range rounds {
		per = append(per, float64(rd.calls)/float64(max(rd.jobs, 1)))
		res.fact("jobs", float64(rd.jobs))
		res.fact("calls", float64(rd.calls))
		res.fact("single", float64(rd.single))
		res.fact("by_webhook", float64(rd.byHow[workflows.FinishedByWebhook]))
		res.Notes = append(res.Notes, fmt.Sprintf("Run %d: %d Jobs, %d single + %d bulk status calls; Jobs finished %v.", i, rd.jobs, rd.single, rd.bulk, rd.byHow))
	}
	s := Summarize(per)
	res.Setup = "Every example (examples/*.yaml, and campaign.yaml over contacts.csv) started at once on a fresh dev stack " +
		"(3 s renders, webhooks delivered by the sandbox to the stack's receiver), delivering to a temporary directory. " +
		"Status calls = the sandbox's count of every status read, single and bulk (Stats.Polls), over the Jobs " +
		"(steps with a HeyGen job). A bulk call comes only from the sweep, when a minute's boundary falls while Jobs wait."
	res.Rows = []Row{{Metric: "status calls per Job", Reelflow: s, Goal: "<= 1.0", Met: goal(s.Median <= 1)}}
	return res, nil
}

// runExamplesOnce runs every example once on a fresh stack.
func runExamplesOnce(ctx context.Context, cfg ExamplesConfig, r int) (examplesRound, error) {
	out, err := os.MkdirTemp("", "reelflow-examples-")
	if err != nil {
		return examplesRound{}, err
	}
	defer func() { _ = os.RemoveAll(out) }()
	ins, err := exampleInputs(cfg.Dir, fmt.Sprintf("ex%d-", r), "file://"+out)
	if err != nil {
		return examplesRound{}, err
	}
	env, err := StartEnv(ctx, cfg.Env)
	if err != nil {
		return examplesRound{}, err
	}
	defer func() { _ = env.Close(context.Background()) }()
	// The bench's tap carries the webhooks to the receiver unchanged.
	env.Tap.SetMode(TapForward)
	a0, s0, b0 := statusCalls(env.Sandbox.Stats())
	rd := examplesRound{byHow: map[string]int{}}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, in := range ins {
		wg.Go(func() {
			run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
			var res workflows.PipelineResult
			if err == nil {
				err = run.Get(ctx, &res)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", in.ID, err))
				return
			}
			for _, s := range res.Steps {
				if s.HeyGenJobID != "" {
					rd.jobs++
					rd.byHow[s.FinishedBy]++
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return rd, err
	}
	a1, s1, b1 := statusCalls(env.Sandbox.Stats())
	rd.calls, rd.single, rd.bulk = a1-a0, s1-s0, b1-b0
	cfg.Env.logf("examples run %d: %d Jobs, %d status calls", r, rd.jobs, rd.calls)
	return rd, nil
}

// exampleInputs loads every example in dir as pipelines whose IDs start with prefix and
// that deliver to to.
func exampleInputs(dir, prefix, to string) ([]workflows.PipelineInput, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var ins []workflows.PipelineInput
	for _, f := range files {
		if strings.HasSuffix(f, "campaign.yaml") {
			b, err := spec.LoadBatch(f, filepath.Join(dir, "contacts.csv"), "email")
			if err != nil {
				return nil, err
			}
			ins = append(ins, b.Inputs()...)
			continue
		}
		in, err := spec.Load(f)
		if err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("no examples in %s", dir)
	}
	for i := range ins {
		ins[i].ID = prefix + ins[i].ID
		if ins[i].Deliver != nil {
			ins[i].Deliver = &workflows.Deliver{To: to}
		}
	}
	return ins, nil
}
