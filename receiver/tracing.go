package receiver

import (
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is the receiver's OpenTelemetry setup: the provider its server spans come
// from, and the propagator that reads an incoming traceparent.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
}

// traceRequests makes each request a server span named after its route. It runs first,
// so that every later middleware and the signal call see the span in the request's
// context: the signal's span, and the Job's handling of it, join the delivery's trace.
func (r *Receiver) traceRequests() gin.HandlerFunc {
	if r.tracing == nil || r.tracing.Provider == nil {
		return func(c *gin.Context) { c.Next() }
	}
	opts := []otelgin.Option{otelgin.WithTracerProvider(r.tracing.Provider)}
	if r.tracing.Propagator != nil {
		opts = append(opts, otelgin.WithPropagators(r.tracing.Propagator))
	}
	return otelgin.Middleware("reelflow-receiver", opts...)
}
