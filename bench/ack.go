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
	env, err := StartEnv(ctx, cfg.Env)
	if err != nil {
		return res, err
	}
	defer func() { _ = env.Close(context.Background()) }()

	w := sdkworker.New(env.Client, sinkTaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(SignalSink, workflow.RegisterOptions{Name: sinkWorkflow})
	if err := w.Start(); err != nil {
		return res, fmt.Errorf("start sink worker: %w", err)
	}
	defer w.Stop()

	ids := make([]string, cfg.Workflows)
	for i := range ids {
		ids[i] = workflows.JobWorkflowID(fmt.Sprintf("ack-%04d", i), "sink")
		if _, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: sinkTaskQueue}, sinkWorkflow); err != nil {
			return res, fmt.Errorf("start %s: %w", ids[i], err)
		}
	}
	defer func() {
		for _, id := range ids {
			_ = env.Client.CancelWorkflow(context.Background(), id, "")
		}
	}()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * cfg.Senders
	tr.MaxIdleConnsPerHost = 2 * cfg.Senders
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()

	var seq atomic.Int64
	raw := func(ctx context.Context) error {
		n := seq.Add(1)
		id := ids[int(n)%len(ids)]
		return env.Client.SignalWorkflow(ctx, id, "", workflows.SignalEvent, ackEvent(n, id))
	}
	hook := func(ctx context.Context) error {
		n := seq.Add(1)
		id := ids[int(n)%len(ids)]
		body := ackBody(n, id)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.WebhookURL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(heygen.SignatureHeader, heygen.Sign(env.ReceiverSecret, body))
		resp, err := hc.Do(req)
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

	warmRaw, err := load(ctx, raw, cfg.Senders, cfg.Warmup)
	if err != nil {
		return res, fmt.Errorf("warm-up, raw: %w", err)
	}
	warmHook, err := load(ctx, hook, cfg.Senders, cfg.Warmup)
	if err != nil {
		return res, fmt.Errorf("warm-up, webhook: %w", err)
	}
	var (
		raws, hooks []round
		sent        int
		failed      = warmRaw.failed + warmHook.failed
		drains      []float64
	)
	// Accepted is not handled: the sinks work off a round's signals for seconds after it.
	// Each round starts once the last one's signals are all handled, so that no round
	// pays for the backlog of the round before it.
	drain := func() error {
		at := time.Now()
		if _, err := waitHandled(ctx, env, ids, int(seq.Load())-failed); err != nil {
			return err
		}
		drains = append(drains, time.Since(at).Seconds())
		return nil
	}
	measure := func(send func(context.Context) error) (round, error) {
		if err := drain(); err != nil {
			return round{}, err
		}
		r, err := load(ctx, send, cfg.Senders, cfg.Duration)
		failed += r.failed
		return r, err
	}
	for range cfg.Runs {
		r, err := measure(raw)
		if err != nil {
			return res, fmt.Errorf("raw round: %w", err)
		}
		h, err := measure(hook)
		if err != nil {
			return res, fmt.Errorf("webhook round: %w", err)
		}
		raws, hooks = append(raws, r), append(hooks, h)
		cfg.Env.logf("ack: raw %.0f/s p99 %.0f ms; webhook %.0f/s p99 %.0f ms", r.rate(), Percentile(r.lat, 99), h.rate(), Percentile(h.lat, 99))
	}

	if err := drain(); err != nil {
		return res, err
	}
	sent = int(seq.Load())
	res.fact("accepted", float64(sent-failed))
	res.fact("failed", float64(failed))
	res.fact("accepted", float64(sent-failed))
	res.fact("failed", float64(failed))

	pick := func(rs []round, f func(round) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	rate := func(r round) float64 { return r.rate() }
	p50 := func(r round) float64 { return Percentile(r.lat, 50) }
	p99 := func(r round) float64 { return Percentile(r.lat, 99) }
	errs := func(r round) float64 { return float64(r.failed) }

	rateRatio := Summarize(Ratios(pick(hooks, rate), pick(raws, rate)))
	p99Ratio := Summarize(Ratios(pick(hooks, p99), pick(raws, p99)))
	res.Setup = fmt.Sprintf("%d SignalSink workflows wait on %q (a loop that receives and counts); %d senders, each round %s after a %s warm-up of each path; rounds alternate raw, webhook, each begun once the sinks have handled every earlier signal. Webhook: a signed avatar_video.success with its own video_id, POSTed over HTTP/1.1 keep-alive to the dev stack's receiver, which verifies, parses, signals through the workflow service and answers 200. Raw: client.SignalWorkflow of the same event from the same process.",
		cfg.Workflows, workflows.SignalEvent, cfg.Senders, cfg.Duration, cfg.Warmup)
	res.Rows = []Row{
		{Metric: "throughput, req/s", Reelflow: Summarize(pick(hooks, rate)), Baseline: sum(Summarize(pick(raws, rate))), Ratio: &rateRatio,
			Goal: "ratio >= 0.9", Met: goal(rateRatio.Median >= 0.9)},
		{Metric: "p50 latency, ms", Reelflow: Summarize(pick(hooks, p50)), Baseline: sum(Summarize(pick(raws, p50))), Ratio: sum(Summarize(Ratios(pick(hooks, p50), pick(raws, p50))))},
		{Metric: "p99 latency, ms", Reelflow: Summarize(pick(hooks, p99)), Baseline: sum(Summarize(pick(raws, p99))), Ratio: &p99Ratio,
			Goal: "ratio <= 1.5", Met: goal(p99Ratio.Median <= 1.5)},
		{Metric: "failed requests per round", Reelflow: Summarize(pick(hooks, errs)), Baseline: sum(Summarize(pick(raws, errs)))},
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d signals accepted in all. Each round began once the workflows had handled every signal before it; that took %s s after a round.", sent-failed, Summarize(drains[1:])))
	for i := range hooks {
		for _, r := range []round{raws[i], hooks[i]} {
			if r.firstErr != nil {
				res.Notes = append(res.Notes, fmt.Sprintf("first error of a round: %v", r.firstErr))
			}
		}
	}
	return res, nil
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

// waitHandled waits until the sinks have counted want signals in all, and returns when.
func waitHandled(ctx context.Context, env *Env, ids []string, want int) (time.Time, error) {
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
				return time.Time{}, err
			}
			total += n
		}
		if total >= want {
			return time.Now(), nil
		}
		last = max(last, total)
		if err := sleepCtx(deadline, 100*time.Millisecond); err != nil {
			return time.Time{}, fmt.Errorf("the sinks handled %d of %d signals: %w", last, want, err)
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
