// Package tracing builds reelflow's OpenTelemetry tracing: one TracerProvider per
// process, and the pieces that use it, which cmd/ and devstack install: the Temporal
// SDK's tracing interceptor (client and workers: a start, a signal or an activity
// carries its trace in Temporal's headers, so a workflow's spans join its caller's
// trace), and the HTTP transport of the HeyGen and notification clients.
//
// The rules of the package: no global state is set here (the caller decides), the
// W3C trace context is the one propagation format, and a disabled Tracing installs
// nothing, so that tracing off costs nothing.
package tracing

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Exporters named by OTEL_TRACES_EXPORTER.
const (
	ExporterNone    = "none"
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"
)

// Config says where spans go. The zero value traces nothing.
type Config struct {
	// Exporter is none (default), otlp or console, as in OTEL_TRACES_EXPORTER.
	Exporter string
	// Protocol, for otlp, is grpc or http/protobuf (default, as the OTLP spec says).
	// The endpoint, headers and TLS come from the exporter's own OTEL_EXPORTER_OTLP_*
	// variables.
	Protocol string
	// ServiceName is the resource's service.name unless OTEL_SERVICE_NAME says otherwise.
	ServiceName string
	// Console receives the console exporter's spans, one JSON object a line.
	Console io.Writer
	// SpanExporter, when set, receives every span synchronously, whatever Exporter says:
	// tests pass an in-memory exporter (tracetest).
	SpanExporter sdktrace.SpanExporter
}

// Tracing is a process's tracing: enabled or not.
type Tracing struct {
	tp       trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when disabled
	prop     propagation.TextMapPropagator
	shutdown func(context.Context) error
}

// New builds the tracing cfg describes. Shutdown flushes it.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	t := &Tracing{tp: noop.NewTracerProvider(), prop: propagation.TraceContext{}, shutdown: func(context.Context) error { return nil }}
	var opts []sdktrace.TracerProviderOption
	switch {
	case cfg.SpanExporter != nil:
		opts = append(opts, sdktrace.WithSyncer(cfg.SpanExporter))
	case cfg.Exporter == "" || cfg.Exporter == ExporterNone:
		return t, nil
	case cfg.Exporter == ExporterConsole:
		w := cfg.Console
		if w == nil {
			w = io.Discard
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, fmt.Errorf("console span exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	case cfg.Exporter == ExporterOTLP:
		exp, err := otlpExporter(ctx, cfg.Protocol)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	default:
		return nil, fmt.Errorf("traces exporter %q: want otlp, console or none", cfg.Exporter)
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	t.sdk = sdktrace.NewTracerProvider(append(opts, sdktrace.WithResource(res))...)
	t.tp, t.shutdown = t.sdk, t.sdk.Shutdown
	return t, nil
}

func otlpExporter(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
	switch protocol {
	case "", "http/protobuf":
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp span exporter: %w", err)
		}
		return exp, nil
	case "grpc":
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp span exporter: %w", err)
		}
		return exp, nil
	}
	return nil, fmt.Errorf("otlp protocol %q: want grpc or http/protobuf", protocol)
}

// Enabled reports whether spans are recorded anywhere.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// Provider is the tracer provider: a no-op one when disabled.
func (t *Tracing) Provider() trace.TracerProvider { return t.tp }

// Propagator is the W3C trace-context propagator every piece uses.
func (t *Tracing) Propagator() propagation.TextMapPropagator { return t.prop }

// Shutdown flushes and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// TemporalInterceptors returns the SDK's tracing interceptor for client.Options'
// Interceptors: a client interceptor that is also a worker interceptor, so workers built
// from that client trace workflows and activities too. None when disabled.
func (t *Tracing) TemporalInterceptors() ([]interceptor.ClientInterceptor, error) {
	if !t.Enabled() {
		return nil, nil
	}
	i, err := opentelemetry.NewTracingInterceptor(opentelemetry.TracerOptions{
		Tracer:            t.tp.Tracer("go.temporal.io/sdk"),
		TextMapPropagator: t.prop,
	})
	if err != nil {
		return nil, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{i}, nil
}

// HTTPClient returns c (or a new client when nil) with its transport traced: each
// request is a client span under the caller's context, and carries traceparent. When
// disabled it returns c as it is.
func (t *Tracing) HTTPClient(c *http.Client) *http.Client {
	if !t.Enabled() {
		return c
	}
	if c == nil {
		c = &http.Client{}
	}
	cp := *c
	cp.Transport = t.Transport(cp.Transport)
	return &cp
}

// Transport wraps base (http.DefaultTransport when nil) so that each request is a
// client span that carries traceparent; base itself when disabled.
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if !t.Enabled() {
		return base
	}
	return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop))
}

// Handler wraps h so that each request is a server span named operation; h itself when
// disabled.
func (t *Tracing) Handler(h http.Handler, operation string) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, operation, otelhttp.WithTracerProvider(t.tp), otelhttp.WithPropagators(t.prop))
}
