package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/worker"
)

// AckPayloadConfig sizes the benchmark of the ack path with payload encryption on and off.
type AckPayloadConfig struct {
	Workflows int           // waiting workflows the signals are spread over
	Senders   int           // concurrent senders, on both paths
	Duration  time.Duration // one timed round of one path
	Warmup    time.Duration // one untimed round of each path first
	Runs      int           // timed rounds of each path, alternating
	// Compress zlib-compresses before encrypting on the encrypted path.
	Compress bool
	Env      EnvConfig
}

// ackReceiver is a receiver served over HTTP in the benchmark's process, on a client of
// its own.
type ackReceiver struct {
	url   string
	close func()
}

// startAckReceiver serves a receiver whose client encodes payloads as p says, built
// as `reelflow receiver` builds it: the request-ID dial option, the Temporal signaler,
// health checker and job finder, and the receiver's own http.Server.
func startAckReceiver(ctx context.Context, env *Env, p payload.Options) (*ackReceiver, error) {
	opts := client.Options{
		HostPort:          env.Temporal.Address(),
		Namespace:         env.Temporal.Namespace(),
		Logger:            worker.SDKLogger(zap.NewNop()),
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{receiver.RequestIDDialOption()}},
	}
	if err := p.Apply(&opts); err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("receiver's client: %w", err)
	}
	rcv, err := receiver.New(receiver.Config{Secrets: []string{env.ReceiverSecret}, Finder: receiver.NewTemporalJobFinder(c)},
		receiver.NewTemporalSignaler(c, zap.NewNop()), receiver.NewTemporalHealthChecker(c))
	if err != nil {
		c.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Close()
		return nil, err
	}
	srv := rcv.Server(ln.Addr().String())
	go func() { _ = srv.Serve(ln) }()
	return &ackReceiver{
		url: "http://" + ln.Addr().String() + receiver.WebhookPath,
		close: func() {
			_ = srv.Close()
			c.Close()
		},
	}, nil
}

// RunAckPayload measures POST /webhooks/heygen (verify the HMAC, parse, signal, 200)
// through two receivers in this process, on the same Temporal server and the same
// waiting workflows: one whose client encrypts the signal's payload with AES-256-GCM,
// one whose client does not. Rounds alternate between them.
func RunAckPayload(ctx context.Context, cfg AckPayloadConfig) (Result, error) {
	res := Result{Name: "ack-payload", Title: "Ack path with payload encryption on vs off (issue 19)", Runs: cfg.Runs, Machine: Machine()}
	key, err := payload.GenerateKey("bench")
	if err != nil {
		return res, err
	}
	// The stack's own client, which the sinks' worker uses, holds the key: it reads the
	// encrypted signals and, since the codec passes other encodings through, the plain ones.
	cfg.Env.Payload = payload.Options{Keys: payload.Keys{key}}
	env, ids, stop, err := startSinkEnv(ctx, cfg.Env, cfg.Workflows)
	if err != nil {
		return res, err
	}
	defer stop()
	off, err := startAckReceiver(ctx, env, payload.Options{})
	if err != nil {
		return res, err
	}
	defer off.close()
	on, err := startAckReceiver(ctx, env, payload.Options{Keys: payload.Keys{key}, Compress: cfg.Compress})
	if err != nil {
		return res, err
	}
	defer on.close()

	a := newAckRun(env, ids, cfg.Senders)
	defer a.hc.CloseIdleConnections()
	offs, ons, err := a.payloadRounds(ctx, cfg, off.url, on.url)
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
	enc, plain, err := signalEncodings(ctx, env, ids[0])
	if err != nil {
		return res, err
	}
	res.fact("encrypted_signals", float64(enc))
	res.fact("plain_signals", float64(plain))

	compress := "no compression"
	if cfg.Compress {
		compress = "zlib before encryption"
	}
	res.Setup = fmt.Sprintf("%d SignalSink workflows wait on the dev stack's server; %d senders, each round %s after a %s warm-up of each path; rounds alternate off, on, each begun once the sinks have handled every earlier signal. Both paths are a receiver built as `reelflow receiver` builds it (HMAC check, parse, SignalWorkflow, 200), served over HTTP/1.1 keep-alive in this process, each on its own client of the same server; they differ only in the client's data converter: on = AES-256-GCM codec (%s), off = the SDK's default.",
		cfg.Workflows, cfg.Senders, cfg.Duration, cfg.Warmup, compress)
	res.Rows = ackPayloadRows(offs, ons)
	res.Notes = append(res.Notes, fmt.Sprintf("%d signals accepted in all. In the history of one sink, %d signals are sealed (%s) and %d are plain JSON.", accepted, enc, payload.Encoding, plain))
	res.Notes = append(res.Notes, roundErrors(offs, ons)...)
	return res, nil
}

// payloadRounds runs an untimed warm-up of each path, then cfg.Runs timed rounds of
// each, alternating off and on.
func (a *ackRun) payloadRounds(ctx context.Context, cfg AckPayloadConfig, offURL, onURL string) (offs, ons []round, err error) {
	send := func(url string) func(context.Context) error {
		return func(ctx context.Context) error { return a.hookTo(ctx, url) }
	}
	for _, url := range []string{offURL, onURL} {
		warm, err := load(ctx, send(url), cfg.Senders, cfg.Warmup)
		a.failed += warm.failed
		if err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	for range cfg.Runs {
		off, err := a.measure(ctx, send(offURL), cfg.Senders, cfg.Duration)
		if err != nil {
			return nil, nil, fmt.Errorf("round without encryption: %w", err)
		}
		on, err := a.measure(ctx, send(onURL), cfg.Senders, cfg.Duration)
		if err != nil {
			return nil, nil, fmt.Errorf("round with encryption: %w", err)
		}
		offs, ons = append(offs, off), append(ons, on)
		cfg.Env.logf("ack-payload: off %.0f/s p99 %.0f ms; on %.0f/s p99 %.0f ms", off.rate(), Percentile(off.lat, 99), on.rate(), Percentile(on.lat, 99))
	}
	return offs, ons, nil
}

// ackPayloadRows compares the encrypted rounds (reelflow's column) with the plain ones
// (the baseline): issue 19's goal is a throughput ratio of at least 0.9.
func ackPayloadRows(offs, ons []round) []Row {
	rateRatio := Summarize(Ratios(roundFigures(ons, roundRate), roundFigures(offs, roundRate)))
	return []Row{
		{Metric: "throughput, req/s", Reelflow: Summarize(roundFigures(ons, roundRate)), Baseline: sum(Summarize(roundFigures(offs, roundRate))), Ratio: &rateRatio,
			Goal: fmt.Sprintf("ratio >= %g", ackRateGoal), Met: goal(rateRatio.Median >= ackRateGoal)},
		{Metric: "p50 latency, ms", Reelflow: Summarize(roundFigures(ons, roundP50)), Baseline: sum(Summarize(roundFigures(offs, roundP50))), Ratio: sum(Summarize(Ratios(roundFigures(ons, roundP50), roundFigures(offs, roundP50))))},
		{Metric: "p99 latency, ms", Reelflow: Summarize(roundFigures(ons, roundP99)), Baseline: sum(Summarize(roundFigures(offs, roundP99))), Ratio: sum(Summarize(Ratios(roundFigures(ons, roundP99), roundFigures(offs, roundP99))))},
		{Metric: "failed requests per round", Reelflow: Summarize(roundFigures(ons, roundFailed)), Baseline: sum(Summarize(roundFigures(offs, roundFailed)))},
	}
}

// signalEncodings counts the heygen.event signals in a workflow's raw history (read
// without the data converter) by their payload's encoding: sealed, or anything else.
func signalEncodings(ctx context.Context, env *Env, id string) (encrypted, plain int, err error) {
	it := env.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, 0, fmt.Errorf("history of %s: %w", id, err)
		}
		a := ev.GetWorkflowExecutionSignaledEventAttributes()
		if a == nil {
			continue
		}
		ps := a.GetInput().GetPayloads()
		if len(ps) != 1 {
			return 0, 0, errors.New("a signal without its one payload")
		}
		if string(ps[0].GetMetadata()["encoding"]) == payload.Encoding {
			encrypted++
		} else {
			plain++
		}
	}
	return encrypted, plain, nil
}
