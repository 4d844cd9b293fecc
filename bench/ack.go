package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// AckConfig sizes the ack-path benchmark.
type AckConfig struct {
	Workflows int           // waiting workflows the signals are spread over; issue 6: 100
	Senders   int           // concurrent senders, on both paths; issue 6: 32
	Duration  time.Duration // one timed round of one path
	Warmup    time.Duration // one untimed round of each path first
	Runs      int           // timed rounds of each path, alternating
	Env       EnvConfig
}

// sinkTaskQueue and sinkWorkflow name the ack benchmark's waiting workflows, which run
// on a worker of the harness beside reelflow's.
const (
	sinkTaskQueue = "reelflow-bench-sink"
	sinkWorkflow  = "BenchSignalSink"
	sinkQuery     = "count"
)

// SignalSink is the waiting workflow of the ack benchmark: it receives heygen.event
// signals until it is cancelled and counts them (query "count"). Its ID is a
// callback_id, so that the receiver signals it like a Job.
func SignalSink(ctx workflow.Context) error {
	n := 0
	if err := workflow.SetQueryHandler(ctx, sinkQuery, func() (int, error) { return n, nil }); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, workflows.SignalEvent)
	for {
		var ev heygen.Event
		ch.Receive(ctx, &ev)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n++
	}
}

// round is what one timed round of one path saw.
type round struct {
	ok, failed int
	elapsed    time.Duration
	lat        []time.Duration
	firstErr   error
}

func (r round) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// RunAck measures POST /webhooks/heygen (signed, verified, parsed, signalled, 200) over
// real HTTP against the raw SDK SignalWorkflow loop, at the same concurrency, on the
// same server, in alternating rounds. Every delivery is a distinct event (its own
// video_id), so Temporal's request-ID dedupe never short-circuits one.
func RunAck(ctx context.Context, cfg AckConfig) (Result, error) {
	res := Result{Name: "ack", Title: "1. Ack path: POST /webhooks/heygen vs raw SignalWorkflow", Runs: cfg.Runs, Machine: Machine()}
	env, ids, stop, err := startSinkEnv(ctx, cfg.Env, cfg.Workflows)
	if err != nil {
		return res, err
	}
	defer stop()

	a := newAckRun(env, ids, cfg.Senders)
	defer a.hc.CloseIdleConnections()
	raws, hooks, err := a.rounds(ctx, cfg)
	if err != nil {
		return res, err
	}
	if err := a.drain(ctx); err != nil {
		return res, err
	}
	accepted := int(a.seq.Load()) - a.failed
	res.fact("accepted", float64(accepted))
	res.fact("failed", float64(a.failed))
	res.fact("handled", float64(a.handled))

	res.Setup = fmt.Sprintf("%d SignalSink workflows wait on %q (a loop that receives and counts); %d senders, each round %s after a %s warm-up of each path; rounds alternate raw, webhook, each begun once the sinks have handled every earlier signal. Webhook: a signed avatar_video.success with its own video_id, POSTed over HTTP/1.1 keep-alive to the dev stack's receiver, which verifies, parses, signals through the workflow service and answers 200. Raw: client.SignalWorkflow of the same event from the same process.",
		cfg.Workflows, workflows.SignalEvent, cfg.Senders, cfg.Duration, cfg.Warmup)
	res.Rows = ackRows(raws, hooks)
	res.Notes = append(res.Notes, fmt.Sprintf("%d signals accepted in all. Each round began once the workflows had handled every signal before it; that took %s s after a round.", accepted, Summarize(a.drains[1:])))
	res.Notes = append(res.Notes, roundErrors(raws, hooks)...)
	return res, nil
}

// startSinkWorker runs the harness's worker of SignalSink workflows, beside reelflow's;
// the returned func stops it.
// startSinkEnv starts a dev stack, the sinks' worker and n sinks; stop cancels the
// sinks, stops the worker and closes the stack. On an error, what started is stopped.
func startSinkEnv(ctx context.Context, cfg EnvConfig, n int) (env *Env, ids []string, stop func(), err error) {
	env, err = StartEnv(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	stopSinks, err := startSinkWorker(env)
	if err != nil {
		_ = env.Close(context.Background())
		return nil, nil, nil, err
	}
	ids, err = startSinks(ctx, env, n)
	stop = func() {
		cancelSinks(env, ids)
		stopSinks()
		_ = env.Close(context.Background())
	}
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return env, ids, stop, nil
}

func startSinkWorker(env *Env) (stop func(), err error) {
	w := sdkworker.New(env.Client, sinkTaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(SignalSink, workflow.RegisterOptions{Name: sinkWorkflow})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start sink worker: %w", err)
	}
	return w.Stop, nil
}

// startSinks starts n SignalSink workflows, each under a Job's workflow ID, and returns
// the IDs of those it started, also on an error, so that they can be cancelled.
func startSinks(ctx context.Context, env *Env, n int) ([]string, error) {
	ids := make([]string, 0, n)
	for i := range n {
		id := workflows.JobWorkflowID(fmt.Sprintf("ack-%04d", i), "sink")
		if _, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: sinkTaskQueue}, sinkWorkflow); err != nil {
			return ids, fmt.Errorf("start %s: %w", id, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// cancelSinks cancels the sinks, so that the stack closes with no workflow waiting.
func cancelSinks(env *Env, ids []string) {
	for _, id := range ids {
		_ = env.Client.CancelWorkflow(context.Background(), id, "")
	}
}

// ackRun is the state of one ack benchmark: the sinks, the sequence that makes every
// event distinct, and what the rounds have counted so far.
type ackRun struct {
	env *Env
	ids []string
	hc  *http.Client
	seq atomic.Int64
	// failed counts the calls of every round, warm-up included, that were not accepted.
	failed int
	// handled is what the sinks had counted at the last drain.
	handled int
	// drains are the seconds each drain took, in order.
	drains []float64
}

// newAckRun keeps enough idle connections for every sender of the webhook path.
func newAckRun(env *Env, ids []string, senders int) *ackRun {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * senders
	tr.MaxIdleConnsPerHost = 2 * senders
	return &ackRun{env: env, ids: ids, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// next returns a new event number and the sink it goes to, round robin.
func (a *ackRun) next() (int64, string) {
	n := a.seq.Add(1)
	return n, a.ids[int(n)%len(a.ids)]
}

// raw signals the next event straight through the SDK.
func (a *ackRun) raw(ctx context.Context) error {
	n, id := a.next()
	return a.env.Client.SignalWorkflow(ctx, id, "", workflows.SignalEvent, ackEvent(n, id))
}

// hook POSTs the next event, signed, to the receiver, and wants its 200 "signalled".
func (a *ackRun) hook(ctx context.Context) error { return a.hookTo(ctx, a.env.WebhookURL) }

// hookTo POSTs the next event, signed, to the receiver at url (its webhook route).
func (a *ackRun) hookTo(ctx context.Context, url string) error {
	n, id := a.next()
	body := ackBody(n, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(heygen.SignatureHeader, heygen.Sign(a.env.ReceiverSecret, body))
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(answer, []byte(`"signalled"`)) {
		return fmt.Errorf("receiver answered %d %s", resp.StatusCode, answer)
	}
	return nil
}

// drain waits until the sinks have handled every signal accepted so far. Accepted is
// not handled: the sinks work off a round's signals for seconds after it. Each round
// starts once the last one's signals are all handled, so that no round pays for the
// backlog of the round before it.
func (a *ackRun) drain(ctx context.Context) error {
	at := time.Now()
	handled, err := waitHandled(ctx, a.env, a.ids, int(a.seq.Load())-a.failed)
	if err != nil {
		return err
	}
	a.handled = handled
	a.drains = append(a.drains, time.Since(at).Seconds())
	return nil
}

// measure drains, then loads send from senders goroutines for d.
func (a *ackRun) measure(ctx context.Context, send func(context.Context) error, senders int, d time.Duration) (round, error) {
	if err := a.drain(ctx); err != nil {
		return round{}, err
	}
	r, err := load(ctx, send, senders, d)
	a.failed += r.failed
	return r, err
}

// rounds runs an untimed warm-up of each path, then cfg.Runs timed rounds of each,
// alternating raw and webhook.
func (a *ackRun) rounds(ctx context.Context, cfg AckConfig) (raws, hooks []round, err error) {
	for _, p := range []struct {
		name string
		send func(context.Context) error
	}{{"raw", a.raw}, {"webhook", a.hook}} {
		warm, err := load(ctx, p.send, cfg.Senders, cfg.Warmup)
		a.failed += warm.failed
		if err != nil {
			return nil, nil, fmt.Errorf("warm-up, %s: %w", p.name, err)
		}
	}
	for range cfg.Runs {
		r, err := a.measure(ctx, a.raw, cfg.Senders, cfg.Duration)
		if err != nil {
			return nil, nil, fmt.Errorf("raw round: %w", err)
		}
		h, err := a.measure(ctx, a.hook, cfg.Senders, cfg.Duration)
		if err != nil {
			return nil, nil, fmt.Errorf("webhook round: %w", err)
		}
		raws, hooks = append(raws, r), append(hooks, h)
		cfg.Env.logf("ack: raw %.0f/s p99 %.0f ms; webhook %.0f/s p99 %.0f ms", r.rate(), Percentile(r.lat, 99), h.rate(), Percentile(h.lat, 99))
	}
	return raws, hooks, nil
}

// roundFigures returns f of every round.
func roundFigures(rs []round, f func(round) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// The figures of a round that the ack table shows.
func roundRate(r round) float64   { return r.rate() }
func roundP50(r round) float64    { return Percentile(r.lat, 50) }
func roundP99(r round) float64    { return Percentile(r.lat, 99) }
func roundFailed(r round) float64 { return float64(r.failed) }

// Goals of the ack table: the webhook path keeps 90% of the raw path's throughput, and
// its p99 stays within 1.5 times the raw path's.
const (
	ackRateGoal = 0.9
	ackP99Goal  = 1.5
)

// ackRows compares the webhook rounds with the raw ones.
func ackRows(raws, hooks []round) []Row {
	rateRatio := Summarize(Ratios(roundFigures(hooks, roundRate), roundFigures(raws, roundRate)))
	p99Ratio := Summarize(Ratios(roundFigures(hooks, roundP99), roundFigures(raws, roundP99)))
	return []Row{
		{Metric: "throughput, req/s", Reelflow: Summarize(roundFigures(hooks, roundRate)), Baseline: sum(Summarize(roundFigures(raws, roundRate))), Ratio: &rateRatio,
			Goal: fmt.Sprintf("ratio >= %g", ackRateGoal), Met: goal(rateRatio.Median >= ackRateGoal)},
		{Metric: "p50 latency, ms", Reelflow: Summarize(roundFigures(hooks, roundP50)), Baseline: sum(Summarize(roundFigures(raws, roundP50))), Ratio: sum(Summarize(Ratios(roundFigures(hooks, roundP50), roundFigures(raws, roundP50))))},
		{Metric: "p99 latency, ms", Reelflow: Summarize(roundFigures(hooks, roundP99)), Baseline: sum(Summarize(roundFigures(raws, roundP99))), Ratio: &p99Ratio,
			Goal: fmt.Sprintf("ratio <= %g", ackP99Goal), Met: goal(p99Ratio.Median <= ackP99Goal)},
		{Metric: "failed requests per round", Reelflow: Summarize(roundFigures(hooks, roundFailed)), Baseline: sum(Summarize(roundFigures(raws, roundFailed)))},
	}
}

// roundErrors notes the first error of every round that had one.
func roundErrors(raws, hooks []round) []string {
	var out []string
	for i := range hooks {
		for _, r := range []round{raws[i], hooks[i]} {
			if r.firstErr != nil {
				out = append(out, fmt.Sprintf("first error of a round: %v", r.firstErr))
			}
		}
	}
	return out
}

// load runs send from senders goroutines for d and times every call.
func load(ctx context.Context, send func(context.Context) error, senders int, d time.Duration) (round, error) {
	var (
		mu sync.Mutex
		r  round
		wg sync.WaitGroup
	)
	start := time.Now()
	stop := start.Add(d)
	for range senders {
		wg.Go(func() {
			var (
				lat          []time.Duration
				ok, failed   int
				firstErr     error
				callCtx, cnl = context.WithTimeout(ctx, d+time.Minute)
			)
			defer cnl()
			for time.Now().Before(stop) && ctx.Err() == nil {
				t := time.Now()
				if err := send(callCtx); err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(t))
				ok++
			}
			mu.Lock()
			defer mu.Unlock()
			r.lat = append(r.lat, lat...)
			r.ok += ok
			r.failed += failed
			if r.firstErr == nil {
				r.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	if r.ok == 0 {
		return r, fmt.Errorf("no call succeeded: %w", errors.Join(r.firstErr, ctx.Err()))
	}
	return r, ctx.Err()
}

// waitHandled waits until the sinks have counted want signals in all, and returns
// how many they had counted then.
func waitHandled(ctx context.Context, env *Env, ids []string, want int) (int, error) {
	deadline, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	last := 0
	for {
		total := 0
		for _, id := range ids {
			v, err := env.Client.QueryWorkflow(deadline, id, "", sinkQuery)
			if err != nil {
				total = -1
				break
			}
			var n int
			if err := v.Get(&n); err != nil {
				return 0, err
			}
			total += n
		}
		if total >= want {
			return total, nil
		}
		last = max(last, total)
		if err := sleepCtx(deadline, 100*time.Millisecond); err != nil {
			return 0, fmt.Errorf("the sinks handled %d of %d signals: %w", last, want, err)
		}
	}
}

// ackBody is a signed-to-be HeyGen success webhook for a distinct video.
func ackBody(n int64, callbackID string) []byte {
	return fmt.Appendf(nil, `{"event_type":"avatar_video.success","event_data":{"video_id":"ackv-%d","url":"https://files.example/ackv-%d.mp4","callback_id":%q}}`, n, n, callbackID)
}

// ackEvent is the event the receiver would signal for ackBody(n, callbackID).
func ackEvent(n int64, callbackID string) heygen.Event {
	return heygen.Event{
		Type:       heygen.EventAvatarVideoSuccess,
		CallbackID: callbackID,
		JobID:      fmt.Sprintf("ackv-%d", n),
		URL:        fmt.Sprintf("https://files.example/ackv-%d.mp4", n),
		Data:       fmt.Appendf(nil, `{"video_id":"ackv-%d","url":"https://files.example/ackv-%d.mp4","callback_id":%q}`, n, n, callbackID),
	}
}
