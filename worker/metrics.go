package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// Names of reelflow's own metrics, as handed to the SDK's metrics handler. The
// Prometheus exporter adds the suffixes: reelflow_jobs_total, reelflow_polls_total and
// reelflow_job_wait_seconds. They carry the SDK's tags (namespace, task_queue,
// workflow_type or activity_type) besides their own.
const (
	// MetricJobs counts finished Job workflows by outcome (done, failed, deadline,
	// cancelled, error) and path (webhook, poll, or none when no answer came).
	MetricJobs = "reelflow_jobs"
	// MetricPolls counts PollJob activity executions by the status HeyGen reported
	// (pending, processing, completed, failed) or "error". The one status call a Job
	// makes after a success webhook, for the URLs the webhook lacks, counts too.
	MetricPolls = "reelflow_polls"
	// MetricJobWait is the time from a Job's start to HeyGen's answer, by outcome and
	// path: the time spent waiting for HeyGen.
	MetricJobWait = "reelflow_job_wait"
)

// Tag values of MetricJobs and MetricJobWait besides the workflows.FinishedBy* paths.
const (
	OutcomeDone      = "done"
	OutcomeFailed    = "failed"   // HeyGen said the job failed
	OutcomeDeadline  = "deadline" // no answer within the job's deadline
	OutcomeCancelled = "cancelled"
	OutcomeError     = "error" // any other failure, such as a create HeyGen refused
	PathNone         = "none"  // the job ended without an answer from HeyGen
)

// pollActivityType is the name Register gives (*activities.Activities).PollJob;
// TestMetricsInterceptor proves they match.
const pollActivityType = "PollJob"

// latencyBuckets are the seconds buckets of the SDK's timers: latencies of milliseconds
// to seconds. A function, not a package variable, so that no caller can change them.
func latencyBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
}

// waitBuckets are the seconds buckets of MetricJobWait: a HeyGen render takes minutes,
// sometimes hours, and a Job's deadline is a day by default.
func waitBuckets() []float64 {
	return []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400}
}

// Metrics exports the Temporal SDK's metrics and reelflow's own in Prometheus' format.
// The SDK reports through the contrib OpenTelemetry handler; an OpenTelemetry meter
// provider with the Prometheus exporter turns that into a registry that /metrics serves.
type Metrics struct {
	handler  client.MetricsHandler
	registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
}

// NewMetrics builds the meter provider, its Prometheus registry (with the Go runtime
// and process collectors) and the SDK handler on top.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	if err := errors.Join(
		reg.Register(collectors.NewGoCollector()),
		reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
	); err != nil {
		return nil, fmt.Errorf("register runtime collectors: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(bucketView))
	handler := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: provider.Meter("reelflow"),
		// Counters only grow; monotonic ones are exported as Prometheus counters
		// (_total) rather than gauges.
		UseMonotonicCounters: true,
		// A metric that cannot be made is a programming error, but not one worth
		// stopping a worker for: the SDK falls back to a no-op instrument.
		OnError: func(error) {},
	})
	return &Metrics{handler: handler, registry: reg, provider: provider}, nil
}

// bucketView gives histograms buckets that fit what they measure.
func bucketView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Kind != sdkmetric.InstrumentKindHistogram {
		return sdkmetric.Stream{}, false
	}
	b := latencyBuckets()
	if i.Name == MetricJobWait {
		b = waitBuckets()
	}
	return sdkmetric.Stream{
		Name: i.Name, Description: i.Description, Unit: i.Unit,
		Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: b},
	}, true
}

// Handler is the SDK metrics handler: set it as client.Options.MetricsHandler.
func (m *Metrics) Handler() client.MetricsHandler { return m.handler }

// HTTPHandler serves the metrics in Prometheus' text format.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error { return m.provider.Shutdown(ctx) }

// metricsInterceptor records reelflow's metrics around the Job workflow and the PollJob
// activity. It lives in the worker, not in workflows/, so that the workflow code
// stays free of it; it records through the SDK's replay-aware metrics handlers, so a
// replayed workflow task records nothing. A Job's result is recorded by the workflow
// task that completes it; should that task fail and run again, the job counts twice.
type metricsInterceptor struct {
	interceptor.WorkerInterceptorBase
}

// MetricsInterceptor returns the worker interceptor behind reelflow's own metrics. New
// installs it; the metrics go wherever the client's MetricsHandler sends them.
func MetricsInterceptor() interceptor.WorkerInterceptor { return &metricsInterceptor{} }

func (*metricsInterceptor) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &jobMetrics{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

func (*metricsInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &pollMetrics{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type jobMetrics struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (j *jobMetrics) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	res, err := j.Next.ExecuteWorkflow(ctx, in)
	if workflow.GetInfo(ctx).WorkflowType.Name != workflows.WorkflowTypeJob || workflow.IsContinueAsNewError(err) {
		return res, err
	}
	outcome, st, ok := jobOutcome(res, err)
	path := PathNone
	if ok && st.FinishedBy != "" {
		path = st.FinishedBy
	}
	h := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": outcome, "path": path})
	h.Counter(MetricJobs).Inc(1)
	if ok && !st.StartedAt.IsZero() && st.FinishedAt.After(st.StartedAt) {
		h.Timer(MetricJobWait).Record(st.FinishedAt.Sub(st.StartedAt))
	}
	return res, err
}

// jobOutcome reads how a Job ended from its result or error, and its final status when
// it has one: the result, or the details of the Job's ApplicationError (a HeyGen
// failure, or one of the three ways its deadline passes: still rendering, create
// unconfirmed, no permit).
func jobOutcome(res any, err error) (string, workflows.JobStatus, bool) {
	if err == nil {
		switch st := res.(type) {
		case workflows.JobStatus:
			return OutcomeDone, st, true
		case *workflows.JobStatus:
			if st != nil {
				return OutcomeDone, *st, true
			}
		}
		return OutcomeDone, workflows.JobStatus{}, false
	}
	if temporal.IsCanceledError(err) {
		return OutcomeCancelled, workflows.JobStatus{}, false
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return OutcomeError, workflows.JobStatus{}, false
	}
	outcome := OutcomeError
	switch appErr.Type() {
	case workflows.ErrTypeHeyGenJobFailed:
		outcome = OutcomeFailed
	case workflows.ErrTypeStillRendering, workflows.ErrTypeCreateUnconfirmed, workflows.ErrTypeSlotWaitExpired:
		outcome = OutcomeDeadline
	}
	var st workflows.JobStatus
	if appErr.HasDetails() && appErr.Details(&st) == nil {
		return outcome, st, true
	}
	return outcome, workflows.JobStatus{}, false
}

type pollMetrics struct {
	interceptor.ActivityInboundInterceptorBase
}

func (p *pollMetrics) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := p.Next.ExecuteActivity(ctx, in)
	if activity.GetInfo(ctx).ActivityType.Name != pollActivityType {
		return res, err
	}
	status := "error"
	if err == nil {
		status = polledStatus(res)
	}
	activity.GetMetricsHandler(ctx).WithTags(map[string]string{"status": status}).Counter(MetricPolls).Inc(1)
	return res, err
}

// polledStatus is the HeyGen status a PollJob returned.
func polledStatus(res any) string {
	var st activities.PollJobResult
	switch r := res.(type) {
	case activities.PollJobResult:
		st = r
	case *activities.PollJobResult:
		if r != nil {
			st = *r
		}
	}
	if st.Status == "" {
		return "unknown"
	}
	return string(st.Status)
}
