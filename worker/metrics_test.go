package worker

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// sample returns the value of the series name{labels...} (a counter's value, or a
// histogram's count), summed over the series whose labels include labels.
func sample(t *testing.T, fams []*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// TestMetricsInterceptor runs a pipeline through Register with the metrics interceptor
// and the Prometheus-backed handler, and reads reelflow's metrics back: the names the
// interceptor matches (Job, PollJob) must be the ones Register gives.
func TestMetricsInterceptor(t *testing.T) {
	m, err := NewMetrics()
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.SetMetricsHandler(m.Handler())
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{MetricsInterceptor()}})
	Register(env, activities.New(&fakeHeyGen{}))
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "p1"})
	mockFirstRun(env)

	env.ExecuteWorkflow(workflows.Pipeline, workflows.PipelineInput{
		ID: "p1", Video: map[string]any{"type": "avatar"},
		Timeouts: workflows.Timeouts{PushWindow: time.Minute},
	})
	require.NoError(t, env.GetWorkflowError())

	fams, err := m.registry.Gather()
	require.NoError(t, err)
	assert.Equal(t, 1.0, sample(t, fams, "reelflow_jobs_total", map[string]string{"outcome": "done", "path": "poll"}))
	assert.Equal(t, 1.0, sample(t, fams, "reelflow_job_wait_seconds", map[string]string{"outcome": "done", "path": "poll"}))
	// The poll that found the video done: its single GET is the job's full record, so no
	// second status call follows for the details (one detail fetch per finished step).
	assert.Equal(t, 1.0, sample(t, fams, "reelflow_polls_total", map[string]string{"status": "completed"}))
	assert.Equal(t, 1.0, sample(t, fams, "reelflow_jobs_total", nil), "the Pipeline is not counted, only its Job")

	// The same, as /metrics serves it.
	rec := httptest.NewRecorder()
	m.HTTPHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	for _, want := range []string{"# TYPE reelflow_jobs_total counter", "# TYPE reelflow_job_wait_seconds histogram", "go_goroutines", `le="86400"`} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "otel_scope", "scope labels are left out")
}

func TestJobOutcome(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := workflows.JobStatus{FinishedBy: workflows.FinishedByWebhook, StartedAt: start, FinishedAt: start.Add(time.Minute)}
	tests := []struct {
		name    string
		res     any
		err     error
		outcome string
		hasSt   bool
	}{
		{"done", st, nil, OutcomeDone, true},
		{"done, pointer", &st, nil, OutcomeDone, true},
		{"heygen failed", nil, temporal.NewNonRetryableApplicationError("x", workflows.ErrTypeHeyGenJobFailed, nil, st), OutcomeFailed, true},
		{"still rendering", nil, temporal.NewNonRetryableApplicationError("x", workflows.ErrTypeStillRendering, nil, st), OutcomeDeadline, true},
		{"create unconfirmed", nil, temporal.NewNonRetryableApplicationError("x", workflows.ErrTypeCreateUnconfirmed, nil, st), OutcomeDeadline, true},
		{"no permit", nil, temporal.NewNonRetryableApplicationError("x", workflows.ErrTypeSlotWaitExpired, nil, st), OutcomeDeadline, true},
		{"create refused, no details", nil, temporal.NewNonRetryableApplicationError("x", "HeyGenPermanent", nil), OutcomeError, false},
		{"cancelled", nil, temporal.NewCanceledError(), OutcomeCancelled, false},
		{"other", nil, errors.New("boom"), OutcomeError, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outcome, got, ok := jobOutcome(tc.res, tc.err)
			assert.Equal(t, tc.outcome, outcome)
			assert.Equal(t, tc.hasSt, ok)
			if ok {
				assert.Equal(t, workflows.FinishedByWebhook, got.FinishedBy)
			}
		})
	}
}

func TestVersioningOptions(t *testing.T) {
	assert.False(t, Options{}.sdkOptions().DeploymentOptions.UseVersioning, "unversioned by default")
	require.NoError(t, Options{}.Validate())

	got := Options{DeploymentName: "reelflow", BuildID: "v2"}.sdkOptions().DeploymentOptions
	assert.True(t, got.UseVersioning)
	assert.Equal(t, sdkworker.WorkerDeploymentVersion{DeploymentName: "reelflow", BuildID: "v2"}, got.Version)
	assert.Equal(t, workflow.VersioningBehaviorAutoUpgrade, got.DefaultVersioningBehavior)

	require.ErrorIs(t, Options{DeploymentName: "reelflow"}.Validate(), ErrVersioningIncomplete)
	require.ErrorIs(t, Options{BuildID: "v2"}.Validate(), ErrVersioningIncomplete)

}
