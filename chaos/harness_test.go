package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/worker"
	"github.com/reelflow/reelflow/workflows"
)

// hostile is the fault mix of the issue, all at once: 50% of webhooks dropped, 30%
// duplicated, 10% late (held until a poll saw the job end), 10% 429, 5% 5xx, 5%
// ambiguous creates, 5% failed and 2% stuck renders. Delays and contradicting events
// come on top.
func hostile() sandbox.Faults {
	return sandbox.Faults{
		DropRate:            0.5,
		DuplicateRate:       0.3,
		LateRate:            0.1,
		DelayRate:           0.1,
		DelayMax:            3 * time.Second,
		ReorderRate:         0.05,
		RateLimitRate:       0.1,
		RetryAfter:          time.Second,
		ServerErrorRate:     0.05,
		AmbiguousCreateRate: 0.05,
		FailRate:            0.05,
		StuckRate:           0.02,
	}
}

// languages are the two translations of every pipeline: a function, so that the list
// is not a package variable a test could change under another.
func languages() []string { return []string{"Spanish (Spain)", "French"} }

// chaosConfig describes one chaos run.
type chaosConfig struct {
	Pipelines  int
	Restarts   int           // worker stops and replacements during the run
	Down       time.Duration // how long the worker stays stopped each time
	Faults     sandbox.Faults
	Timeouts   workflows.Timeouts
	RenderTime time.Duration
	Wait       time.Duration // bound on the whole run
	// Retries are the re-render budgets (retry: {renders: N}) of the pipelines in turn:
	// pipeline i gets Retries[i%len(Retries)]. Empty: none re-renders.
	Retries []int
}

// retryOf is pipeline i's re-render budget.
func (c chaosConfig) retryOf(i int) int {
	if len(c.Retries) == 0 {
		return 0
	}
	return c.Retries[i%len(c.Retries)]
}

// chaosReport is what a run measured.
type chaosReport struct {
	Pipelines, PipelinesDone, PipelinesFailed int
	Jobs, ByWebhook, ByPoll, JobsFailed       int
	// NeverCreated counts the jobs whose create was refused (429, 5xx) or lost with a
	// stopped worker until the Job's deadline passed: HeyGen made no job, and the Job
	// failed saying so. See renderUnconfirmed.
	NeverCreated int
	// LostAnswers counts the jobs HeyGen made whose create answer never reached the Job
	// before its deadline: the attempt was cut off in flight by a stopped worker, and the
	// server waited out its StartToClose (a minute, longer than the scaled deadline)
	// before a retry could replay it. The Job fails saying so. See lostAnswer.
	LostAnswers int
	Restarts    int
	// Retried counts the steps that were rendered again after a failed attempt, and
	// Rescued those of them that then completed.
	Retried, Rescued int
	Stats            sandbox.Stats
	// Renders is every job HeyGen made, per callback_id, in create order
	// (Sandbox.Renders): a step re-rendered has one per attempt. Nil in the verdict
	// tests that build a truth of one job per callback_id.
	Renders map[string][]sandbox.JobTruth
	Wall    time.Duration
	// Budgets is each pipeline's re-render budget, by pipeline ID; absent is 0.
	Budgets    map[string]int
	Mismatches []string
}

// startStack runs the dev stack on a temporary directory and free ports.
func startStack(t *testing.T, cfg devstack.Config) *devstack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.TemporalPort = -1
	cfg.UIPort = -1
	if cfg.SandboxAddr == "" {
		cfg.SandboxAddr = "127.0.0.1:0"
	}
	if cfg.ReceiverAddr == "" {
		cfg.ReceiverAddr = "127.0.0.1:0"
	}
	if cfg.Worker.StopTimeout == 0 {
		cfg.Worker.StopTimeout = 2 * time.Second
	}
	st, err := devstack.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = st.Stop(ctx)
	})
	return st
}

// freeAddr returns a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// chaosInput is pipeline i: an avatar render and two translations.
func chaosInput(id string, to workflows.Timeouts) workflows.PipelineInput {
	return workflows.PipelineInput{
		ID:    id,
		Title: "Chaos " + id,
		Video: map[string]any{
			"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
			"script": "Proven under faults.",
		},
		Translate: &workflows.Translate{Languages: languages()},
		Timeouts:  to,
	}
}

// startPipelines starts the inputs, a few at a time.
func startPipelines(ctx context.Context, t *testing.T, c client.Client, ins []workflows.PipelineInput) []client.WorkflowRun {
	t.Helper()
	runs := make([]client.WorkflowRun, len(ins))
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, in := range ins {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			runs[i], errs[i] = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: in.ID, TaskQueue: workflows.TaskQueue,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
			}, workflows.Pipeline, in)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return runs
}

// outcome is how a pipeline ended, as reelflow reports it.
type outcome struct {
	id     string
	err    error
	steps  []workflows.JobStatus
	failed *temporal.ApplicationError
}

// wait collects every pipeline's outcome; it counts them in done as they end.
func wait(ctx context.Context, runs []client.WorkflowRun, done *atomic.Int64) []outcome {
	out := make([]outcome, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer done.Add(1)
			o := outcome{id: run.GetID()}
			var res workflows.PipelineResult
			o.err = run.Get(ctx, &res)
			o.steps = res.Steps
			var appErr *temporal.ApplicationError
			if errors.As(o.err, &appErr) {
				o.failed = appErr
				var st workflows.PipelineStatus
				if appErr.HasDetails() && appErr.Details(&st) == nil {
					o.steps = st.Steps
				}
			}
			out[i] = o
		}()
	}
	wg.Wait()
	return out
}

// runChaos runs cfg and checks every invariant; it returns the report.
func runChaos(t *testing.T, cfg chaosConfig) chaosReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Wait)
	defer cancel()
	st := startStack(t, devstack.Config{RenderTime: cfg.RenderTime, Worker: worker.Options{StopTimeout: 2 * time.Second},
		Logger: chaosLogger(t)})
	st.Sandbox.SetFaults(cfg.Faults)

	began := time.Now()
	ins := make([]workflows.PipelineInput, cfg.Pipelines)
	budgets := map[string]int{}
	for i := range ins {
		ins[i] = chaosInput(fmt.Sprintf("chaos-%03d", i), cfg.Timeouts)
		if n := cfg.retryOf(i); n > 0 {
			ins[i].Retry = &workflows.Retry{Renders: n}
			budgets[ins[i].ID] = n
		}
	}
	runs := startPipelines(ctx, t, st.Client, ins)

	// Stop and replace the worker as pipelines finish: after 1/(R+1) of them, 2/(R+1) ...
	var done atomic.Int64
	restarts := make(chan int, 1)
	go func() {
		n := 0
		for n < cfg.Restarts && ctx.Err() == nil {
			if done.Load() >= int64((n+1)*cfg.Pipelines/(cfg.Restarts+1)) {
				st.StopWorker()
				time.Sleep(cfg.Down) // the worker is dead; webhooks and timers pile up
				if err := st.StartWorker(); err != nil {
					t.Errorf("start worker: %v", err)
				}
				n++
				continue
			}
			time.Sleep(50 * time.Millisecond)
		}
		restarts <- n
	}()
	outs := wait(ctx, runs, &done)
	rep := chaosReport{Pipelines: cfg.Pipelines, Wall: time.Since(began), Restarts: <-restarts, Budgets: budgets}
	require.NoError(t, ctx.Err(), "the run did not end within %s", cfg.Wait)
	require.Equal(t, cfg.Restarts, rep.Restarts, "every restart happened mid-run")

	// Let the sandbox's last deliveries (late duplicates) go out before reading its truth.
	require.Eventually(t, func() bool { return st.Sandbox.PendingDeliveries() == 0 },
		time.Minute, 20*time.Millisecond, "sandbox deliveries still pending")
	rep.Stats = st.Sandbox.Stats()
	rep.Renders = st.Sandbox.Renders()
	rep.check(outs)
	requireNoneOpen(ctx, t, st)
	return rep
}

// check compares every outcome with the sandbox's ground truth and counts.
//
// A step of a pipeline with a re-render budget may have several HeyGen jobs, one per
// attempt: its outcome is judged against the last one (finalTruth), and checkAttempts
// holds the attempts themselves to the truth.
func (r *chaosReport) check(outs []outcome) {
	truth := r.finalTruth()
	bad := func(format string, args ...any) { r.Mismatches = append(r.Mismatches, fmt.Sprintf(format, args...)) }
	for cb, tr := range truth {
		pipeline, _, _ := workflows.ParseJobWorkflowID(cb)
		if budget := r.Budgets[pipeline]; tr.Creates != tr.Jobs || tr.Creates < 1 || tr.Creates > 1+budget {
			bad("%s: %d creates, %d jobs; want one job per create, at most %d (1 + its re-render budget)", cb, tr.Creates, tr.Jobs, 1+budget)
		}
	}
	for _, o := range outs {
		for _, row := range o.steps {
			if row.CallbackID != "" {
				r.checkAttempts(o.id, row, bad)
			}
		}
		if o.err == nil {
			r.PipelinesDone++
		} else {
			r.PipelinesFailed++
		}
		rows := map[string]workflows.JobStatus{}
		for _, s := range o.steps {
			rows[s.Step] = s
			if s.CallbackID != "" && (s.State == workflows.StateDone || s.State == workflows.StateFailed) {
				r.Jobs++
				switch s.FinishedBy {
				case workflows.FinishedByWebhook:
					r.ByWebhook++
				case workflows.FinishedByPoll:
					r.ByPoll++
				}
				if s.State == workflows.StateFailed {
					r.JobsFailed++
				}
			}
		}
		renderCB := workflows.JobWorkflowID(o.id, workflows.StepRender)
		rt, ok := truth[renderCB]
		switch {
		case renderUnconfirmed(o, rows[workflows.StepRender], renderCB):
			if r.attemptMade(rows[workflows.StepRender], renderCB) {
				r.lostAnswer(renderCB, rt, rows[workflows.StepRender], bad)
			} else {
				r.NeverCreated++
			}
			r.checkNotStarted(o, rows, bad)
			continue
		case !ok:
			bad("%s: no render was created; pipeline ended with %v", o.id, o.err)
			continue
		case o.err != nil && temporal.IsCanceledError(o.err):
			bad("%s: cancelled", o.id)
			continue
		case rt.Stuck:
			if o.failed == nil || o.failed.Type() != workflows.ErrTypeStillRendering || rows[workflows.StepRender].HeyGenJobID != rt.VideoID {
				bad("%s: render %s stuck; want a deadline failure naming it, got %v", o.id, rt.VideoID, o.err)
			}
			r.checkNotStarted(o, rows, bad)
			continue
		case rt.Status == "failed":
			if o.failed == nil || o.failed.Type() != workflows.ErrTypeHeyGenJobFailed {
				bad("%s: render failed at HeyGen; want HeyGenJobFailed, got %v", o.id, o.err)
			}
			r.checkNotStarted(o, rows, bad)
			continue
		case rt.Status != "completed":
			bad("%s: render truth %q", o.id, rt.Status)
			continue
		case o.err != nil:
			bad("%s: render completed, but the pipeline failed: %v", o.id, o.err)
			continue
		}
		if row := rows[workflows.StepRender]; row.State != workflows.StateDone || row.HeyGenJobID != rt.VideoID {
			bad("%s: render row %s/%s, truth %s", o.id, row.State, row.HeyGenJobID, rt.VideoID)
		}
		for _, lang := range languages() {
			step := workflows.TranslateStep(lang)
			cb := workflows.JobWorkflowID(o.id, step)
			tt, ok := truth[cb]
			row := rows[step]
			switch {
			case !r.attemptMade(row, cb) && row.State == workflows.StateFailed && row.HeyGenJobID == "" && row.FailureMessage != "":
				// A row keeps the create's last error (HeyGen's 429 or 5xx text, or the
				// lost attempt's timeout) as its message.
				r.NeverCreated++
			case !ok:
				bad("%s/%s: never created; row %s: %s", o.id, step, row.State, row.FailureMessage)
			case row.State == workflows.StateFailed && row.HeyGenJobID == "" && row.FailureMessage != "":
				r.lostAnswer(workflows.JobWorkflowID(o.id, step), tt, row, bad)
			case row.HeyGenJobID != tt.VideoID:
				bad("%s/%s: row has job %q, truth %q (%s at HeyGen, %d creates); row %s: %s",
					o.id, step, row.HeyGenJobID, tt.VideoID, tt.Status, tt.Creates, row.State, row.FailureMessage)
			case tt.Stuck:
				if row.State != workflows.StateFailed || row.HeyGenStatus == heygen.StatusCompleted || row.HeyGenStatus == heygen.StatusFailed {
					bad("%s/%s: stuck; want a deadline failure, got %s %q", o.id, step, row.State, row.FailureMessage)
				}
			case tt.Status == "failed":
				if row.State != workflows.StateFailed {
					bad("%s/%s: failed at HeyGen, row %s", o.id, step, row.State)
				}
			case tt.Status == "completed":
				if row.State != workflows.StateDone || row.VideoURL == "" {
					bad("%s/%s: completed at HeyGen, row %s (heygen %s, %d polls, %d events): %s",
						o.id, step, row.State, row.HeyGenStatus, row.Polls, row.Events, row.FailureMessage)
				}
			default:
				bad("%s/%s: truth %q", o.id, step, tt.Status)
			}
		}
	}
	// No acknowledged webhook lost: every job whose webhook HeyGen saw acked ended, in
	// the state the webhook told (checked above, row by row, against the truth).
	for cb, jobs := range r.jobsByCallbackID() {
		for _, tr := range jobs {
			if tr.WebhooksAcked > 0 && tr.Status != "completed" && tr.Status != "failed" {
				bad("%s: webhook of %s acked, but the job is %s", cb, tr.VideoID, tr.Status)
			}
		}
	}
	sort.Strings(r.Mismatches)
}

// jobsByCallbackID is every job HeyGen made per callback_id, in create order: r.Renders,
// or one job per callback_id from the Stats when the verdict tests give no Renders.
func (r *chaosReport) jobsByCallbackID() map[string][]sandbox.JobTruth {
	if r.Renders != nil {
		return r.Renders
	}
	out := map[string][]sandbox.JobTruth{}
	for cb, tr := range r.Stats.JobsByCallbackID {
		out[cb] = []sandbox.JobTruth{tr}
	}
	return out
}

// attemptMade reports whether HeyGen made a job for the step's last attempt: as many
// jobs as attempts (checkAttempts holds them to at most one each).
func (r *chaosReport) attemptMade(row workflows.JobStatus, cb string) bool {
	return len(r.jobsByCallbackID()[cb]) >= max(row.Attempt, 1)
}

// finalTruth is the truth each step's outcome is judged by: per callback_id, the counts
// of every job made for it (Stats.JobsByCallbackID) with the identity, status and
// failure of the last one, the job of the step's last attempt.
func (r *chaosReport) finalTruth() map[string]sandbox.JobTruth {
	out := map[string]sandbox.JobTruth{}
	for cb, tr := range r.Stats.JobsByCallbackID {
		if jobs := r.Renders[cb]; len(jobs) > 0 {
			last := jobs[len(jobs)-1]
			tr.VideoID, tr.Status, tr.Stuck = last.VideoID, last.Status, last.Stuck
			tr.FailureCode, tr.FailureMessage, tr.Polled = last.FailureCode, last.FailureMessage, last.Polled
		}
		out[cb] = tr
	}
	return out
}

// checkAttempts holds a step's attempts to the truth: at most one HeyGen job per attempt
// (the row's Attempt, 1 without a budget); every job but the last failed, for a reason
// not known to be permanent (only that re-renders); a row that failed on a failed render
// had no budget left or a permanent reason; and the row lists one reason per earlier
// attempt. A completed step whose jobs are more than one was rescued by a re-render.
func (r *chaosReport) checkAttempts(pipeline string, row workflows.JobStatus, bad func(string, ...any)) {
	cb := row.CallbackID
	jobs := r.jobsByCallbackID()[cb]
	attempt := max(row.Attempt, 1)
	budget := r.Budgets[pipeline]
	if len(jobs) > attempt {
		bad("%s: %d HeyGen jobs for %d attempt(s): an attempt paid for twice", cb, len(jobs), attempt)
	}
	if attempt > 1+budget {
		bad("%s: attempt %d beyond the budget of %d re-renders", cb, attempt, budget)
	}
	for i, j := range jobs[:max(len(jobs)-1, 0)] {
		if j.Status != "failed" || workflows.PermanentFailure(j.FailureCode, j.FailureMessage) {
			bad("%s: job %d of %d (%s) is %s %q, yet the step rendered again", cb, i+1, len(jobs), j.VideoID, j.Status, j.FailureMessage)
		}
	}
	if attempt > 1 {
		r.Retried++
		if row.State == workflows.StateDone {
			r.Rescued++
		}
	}
	if n := len(row.FailedAttempts); attempt > 1 && n != attempt-1 && !(row.State == workflows.StateFailed && n == attempt) {
		bad("%s: attempt %d, but %d failed attempts listed: %q", cb, attempt, n, row.FailedAttempts)
	}
	if len(jobs) == 0 || row.State != workflows.StateFailed {
		return
	}
	last := jobs[len(jobs)-1]
	if last.Status == "failed" && len(jobs) == attempt && attempt <= budget &&
		!workflows.PermanentFailure(last.FailureCode, last.FailureMessage) {
		bad("%s: its render %s failed (%q) with %d of %d re-renders left, and the step failed instead of rendering again",
			cb, last.VideoID, last.FailureMessage, 1+budget-attempt, budget)
	}
}

// renderUnconfirmed reports whether the pipeline failed because its render's create, for
// callback ID cb, did not get through before the deadline (ErrTypeCreateUnconfirmed,
// with the render's row, from the Job's details, naming cb). With a truth that holds no
// job for cb, that is the right outcome, not a mismatch: the deadline bounds the Job,
// create included, and a create can meet 429s and 5xx, or lose its attempt to a stopped
// worker (the server then waits out the attempt's StartToClose, a minute), until it
// passes. How often that happens depends on timing; whether the Job says so truthfully
// does not. Chaos-155 of a full run ended so: its render create met 429s until its
// scaled 60 s deadline passed.
func renderUnconfirmed(o outcome, row workflows.JobStatus, cb string) bool {
	return o.failed != nil && o.failed.Type() == workflows.ErrTypeCreateUnconfirmed &&
		row.State == workflows.StateFailed && row.CallbackID == cb
}

// lostAnswer checks a job that HeyGen made but whose Job failed without its ID: right
// only when HeyGen made it once, and the Job learned nothing of it (no ID, no state) and
// failed, at its deadline, for want of the create's answer. A run with no worker stop
// cannot lose an answer this way.
func (r *chaosReport) lostAnswer(cb string, tr sandbox.JobTruth, row workflows.JobStatus, bad func(string, ...any)) {
	switch {
	case r.Restarts == 0:
		bad("%s: HeyGen made %s, but the Job failed without it, in a run with no worker stop; row %s: %s",
			cb, tr.VideoID, row.State, row.FailureMessage)
	case row.HeyGenJobID != "" || row.HeyGenStatus != "" || row.Events > 0 || row.Polls > 0:
		bad("%s: the Job knew of a job (%q, %s, %d events, %d polls) and still failed as never answered",
			cb, row.HeyGenJobID, row.HeyGenStatus, row.Events, row.Polls)
	default:
		r.LostAnswers++
	}
}

// checkNotStarted: after a failed render, no translation was created.
func (r *chaosReport) checkNotStarted(o outcome, rows map[string]workflows.JobStatus, bad func(string, ...any)) {
	for _, lang := range languages() {
		step := workflows.TranslateStep(lang)
		if _, ok := r.Stats.JobsByCallbackID[workflows.JobWorkflowID(o.id, step)]; ok {
			bad("%s/%s: created although the render failed", o.id, step)
		}
		if row := rows[step]; row.State != workflows.StateCancelled {
			bad("%s/%s: row %s after a failed render; want cancelled (not started)", o.id, step, row.State)
		}
	}
}

// requireNoneOpen waits until visibility lists no open workflow: no pipeline, no Job.
func requireNoneOpen(ctx context.Context, t *testing.T, st *devstack.Stack) {
	t.Helper()
	var open []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := st.Client.ListOpenWorkflow(ctx, &workflowservice.ListOpenWorkflowExecutionsRequest{
			Namespace: st.Temporal.Namespace(), MaximumPageSize: 100,
		})
		require.NoError(t, err)
		open = open[:0]
		for _, e := range resp.GetExecutions() {
			open = append(open, e.GetExecution().GetWorkflowId())
		}
		if len(open) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.Empty(t, open, "workflows left running")
}

// print writes the summary table.
func (r chaosReport) print(t *testing.T, title string) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	s := r.Stats
	fmt.Fprintf(w, "%s\t\n", title)
	rows := [][2]any{
		{"pipelines (done / failed)", fmt.Sprintf("%d (%d / %d)", r.Pipelines, r.PipelinesDone, r.PipelinesFailed)},
		{"jobs ended (by webhook / by poll / failed)", fmt.Sprintf("%d (%d / %d / %d)", r.Jobs, r.ByWebhook, r.ByPoll, r.JobsFailed)},
		{"renders failed / stuck (truth)", fmt.Sprintf("%d / %d", s.RendersFailed, s.RendersStuck)},
		{"webhooks delivered (attempts / acked)", fmt.Sprintf("%d / %d", s.Deliveries, s.DeliveriesAcked)},
		{"webhooks dropped / duplicated / late / delayed / contradicted", fmt.Sprintf("%d / %d / %d / %d / %d",
			s.DeliveriesDropped, s.DeliveriesDuplicated, s.DeliveriesLate, s.DeliveriesDelayed, s.ContradictionsSent)},
		{"polls (status reads / of them bulk)", fmt.Sprintf("%d / %d", s.Polls, s.BulkStatusCalls+s.TranslationBulkStatusCalls)},
		{"create requests / creates", fmt.Sprintf("%d / %d", s.CreateRequests, s.Creates)},
		{"429 / 5xx / ambiguous creates", fmt.Sprintf("%d / %d / %d", s.RateLimited, s.ServerErrors, s.AmbiguousCreates)},
		{"idempotent replays / list lookups", fmt.Sprintf("%d / %d", s.IdempotentReplays, s.ListCalls)},
		{"max creates per callback_id", maxCreates(s)},
		{"steps re-rendered / of them completed", fmt.Sprintf("%d / %d", r.Retried, r.Rescued)},
		{"jobs never created: creates refused until the deadline", r.NeverCreated},
		{"jobs made, their create answer lost with a stopped worker", r.LostAnswers},
		{"worker restarts", r.Restarts},
		{"mismatches with the ground truth", len(r.Mismatches)},
		{"wall time", r.Wall.Round(100 * time.Millisecond)},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "%v\t%v\n", row[0], row[1])
	}
	_ = w.Flush()
	t.Log("\n" + b.String())
	fmt.Fprintln(os.Stdout, b.String())
}

func maxCreates(s sandbox.Stats) int {
	m := 0
	for _, tr := range s.JobsByCallbackID {
		m = max(m, tr.Creates)
	}
	return m
}

// chaosLogger writes every component's logs, info and above, to the file CHAOS_LOG
// names, for the post-mortem of a failed run; without it, logs are discarded.
func chaosLogger(t *testing.T) *zap.Logger {
	path := os.Getenv("CHAOS_LOG")
	if path == "" {
		return nil
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	cfg.OutputPaths = []string{path}
	cfg.Sampling = nil
	l, err := cfg.Build()
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Sync() })
	return l
}
