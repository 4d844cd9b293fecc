package devstack

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/worker"
)

// clientOptions are the options of the stack's clients: payloads encoded as p says,
// traced when the stack is.
func (st *Stack) clientOptions(p payload.Options) (client.Options, error) {
	opts := client.Options{
		HostPort:  st.Temporal.Address(),
		Namespace: st.Temporal.Namespace(),
		Logger:    worker.SDKLogger(st.log.Named("sdk")),
		// The receiver's signals carry their delivery's request ID through it.
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{receiver.RequestIDDialOption()}},
	}
	if err := p.Apply(&opts); err != nil {
		return opts, err
	}
	ics, err := st.cfg.Tracing.TemporalInterceptors()
	if err != nil {
		return opts, err
	}
	opts.Interceptors = ics
	return opts, nil
}

// heygenClient is a HeyGen client for baseURL whose requests are traced when the
// stack is (heygen/ itself is stdlib only).
func (st *Stack) heygenClient(baseURL, apiKey string) *heygen.Client {
	return heygen.NewClient(baseURL, apiKey, st.cfg.Tracing.HTTPClient(&http.Client{Timeout: 30 * time.Second}))
}

// newActivities builds the worker's activities on the stack's HeyGen client.
func (st *Stack) newActivities() *activities.Activities {
	return activities.New(st.HeyGen, activities.WithHTTPTransport(st.cfg.Tracing.Transport), activities.WithAccount(st.cfg.Account))
}

// receiverTracing is the receiver's tracing, nil when the stack is not traced.
func (st *Stack) receiverTracing() *receiver.Tracing {
	if !st.cfg.Tracing.Enabled() {
		return nil
	}
	return &receiver.Tracing{Provider: st.cfg.Tracing.Provider(), Propagator: st.cfg.Tracing.Propagator()}
}

// StartWorkerWithPayload stops the stack's worker and starts one whose client encodes
// payloads as p says, as a redeploy with a new key list would: tests use it to rotate
// keys, and to run a worker that lacks a key. The stack's own Client keeps its options.
func (st *Stack) StartWorkerWithPayload(ctx context.Context, p payload.Options) error {
	st.StopWorker()
	opts, err := st.clientOptions(p)
	if err != nil {
		return err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to temporal: %w", err)
	}
	w := worker.New(c, st.newActivities(), st.cfg.Worker)
	if err := w.Start(); err != nil {
		c.Close()
		return fmt.Errorf("start worker: %w", err)
	}
	st.worker, st.workerClient = w, c
	return nil
}

// startCodecServer serves /encode and /decode with the stack's keys at CodecAddr, for
// the UI (whose origin it allows) and for CLIs that hold no key.
func (st *Stack) startCodecServer(uiOrigins []string) error {
	codecs, err := st.cfg.Payload.Codecs()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", st.cfg.CodecAddr)
	if err != nil {
		return fmt.Errorf("codec server %s: %w", st.cfg.CodecAddr, err)
	}
	st.codecURL = "http://" + ln.Addr().String()
	h := payload.Handler(payload.ServerOptions{Codecs: codecs, Origins: uiOrigins, Namespaces: []string{st.Temporal.Namespace()}})
	st.codecSrv = &http.Server{Handler: st.cfg.Tracing.Handler(h, "codec"), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = st.codecSrv.Serve(ln) }()
	return nil
}

// CodecURL is the codec server's base URL, or "" when it does not run.
func (st *Stack) CodecURL() string { return st.codecURL }
