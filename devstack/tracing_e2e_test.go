package devstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/reelflow/reelflow/tracing"
)

// TestOneTraceFromWebhookToJob: with an in-memory exporter, the receiver's span of a
// delivery is the parent of its signal, whose child is the Job's handling of it; and the
// Job's workflow span is an ancestor of its activities and of their HeyGen calls.
func TestOneTraceFromWebhookToJob(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := tracing.New(context.Background(), tracing.Config{SpanExporter: exp, ServiceName: "test"})
	require.NoError(t, err)
	st := startStack(t, Config{Tracing: tr})
	in := welcome("traced")
	in.Timeouts.PushWindow = time.Hour // the webhook finishes the Job
	in.Timeouts.Sweep = -1             // nor a sweep, which reads the job first when its render crosses a minute
	_, err = runPipeline(t, st, in)
	require.NoError(t, err)

	spans := exp.GetSpans()
	byID := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID().String()] = s
	}
	parent := func(s tracetest.SpanStub) (tracetest.SpanStub, bool) {
		p, ok := byID[s.Parent.SpanID().String()]
		return p, ok && s.Parent.IsValid()
	}
	hasAncestor := func(s tracetest.SpanStub, prefix string) bool {
		for p, ok := parent(s); ok; p, ok = parent(p) {
			if strings.HasPrefix(p.Name, prefix) {
				return true
			}
		}
		return false
	}
	var names []string
	var handled, httpUnderJob, activityUnderJob bool
	for _, s := range spans {
		names = append(names, s.Name)
		if strings.HasPrefix(s.Name, "HandleSignal:heygen.event") {
			sig, ok := parent(s)
			require.True(t, ok, "the Job's handling of the signal has a parent")
			require.True(t, strings.HasPrefix(sig.Name, "SignalWorkflow:heygen.event"), "its parent is the signal: %s", sig.Name)
			rcv, ok := parent(sig)
			require.True(t, ok, "the signal has a parent")
			require.Contains(t, rcv.Name, "/webhooks/heygen", "the signal's parent is the receiver's span")
			require.Equal(t, rcv.SpanContext.TraceID(), s.SpanContext.TraceID(), "one trace from the delivery to the Job")
			handled = true
		}
		if strings.HasPrefix(s.Name, "RunActivity:CreateJob") && hasAncestor(s, "RunWorkflow:Job") {
			activityUnderJob = true
		}
		if strings.HasPrefix(s.Name, "HTTP POST") || strings.HasPrefix(s.Name, "POST") {
			if hasAncestor(s, "RunActivity:CreateJob") && hasAncestor(s, "RunWorkflow:Job") {
				httpUnderJob = true
			}
		}
	}
	require.True(t, handled, "a HandleSignal span under a receiver span; spans: %v", names)
	require.True(t, activityUnderJob, "CreateJob under the Job's workflow; spans: %v", names)
	require.True(t, httpUnderJob, "HeyGen's create call under CreateJob and the Job; spans: %v", names)
}
