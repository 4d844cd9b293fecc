package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/tracing"
)

// tracer builds the process's tracing once, from OpenTelemetry's standard variables:
// OTEL_TRACES_EXPORTER (otlp, console or none; none by default),
// OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL, and what the exporter and resource read
// themselves (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
// run flushes it when the command ends.
func (a *app) tracer() (*tracing.Tracing, error) {
	if a.tracing != nil {
		return a.tracing, nil
	}
	protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	tr, err := tracing.New(context.Background(), tracing.Config{
		Exporter:    strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")),
		Protocol:    protocol,
		ServiceName: "reelflow-" + a.command,
		// stdout carries the commands' answers (status tables, JSON).
		Console: a.errOut,
	})
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	a.tracing = tr
	return tr, nil
}

// flushTraces sends what is buffered before the process exits.
func (a *app) flushTraces() {
	if a.tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.tracing.Shutdown(ctx)
}

// instrument adds payload encryption and tracing to a Temporal client's options.
func (a *app) instrument(copts *client.Options) error {
	if err := a.applyPayload(copts); err != nil {
		return err
	}
	tr, err := a.tracer()
	if err != nil {
		return err
	}
	ics, err := tr.TemporalInterceptors()
	if err != nil {
		return err
	}
	copts.Interceptors = append(copts.Interceptors, ics...)
	return nil
}

// receiverTracing is the receiver's tracing, nil when off.
func receiverTracing(tr *tracing.Tracing) *receiver.Tracing {
	if !tr.Enabled() {
		return nil
	}
	return &receiver.Tracing{Provider: tr.Provider(), Propagator: tr.Propagator()}
}

// heygenHTTPClient is the HeyGen client's HTTP client: the heygen package's 30 s
// timeout, with a traced transport when tracing is on (heygen/ is stdlib only).
func heygenHTTPClient(tr *tracing.Tracing) *http.Client {
	return tr.HTTPClient(&http.Client{Timeout: 30 * time.Second})
}

// httpServer is a server for a small internal HTTP service.
func httpServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
}

// receiverTracingOf is the process's receiver tracing.
func (a *app) receiverTracingOf() (*receiver.Tracing, error) {
	tr, err := a.tracer()
	if err != nil {
		return nil, err
	}
	return receiverTracing(tr), nil
}
