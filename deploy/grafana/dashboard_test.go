// Package grafana holds reelflow's Grafana dashboard (reelflow.json) and its
// provisioning; this test keeps the dashboard true to the metrics the code exports.
package grafana

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/worker"
	"github.com/reelflow/reelflow/workflows"
)

// promqlName finds the metric names of a PromQL expression: identifiers that start with
// reelflow_ or temporal_ (the functions and labels used here never do).
var promqlName = regexp.MustCompile(`\b(?:reelflow|temporal)_[a-z0-9_]+\b`)

// exported lists every metric the code exports: the receiver's registered collectors,
// gathered from a real receiver; reelflow's worker metrics, with the suffixes the
// Prometheus exporter adds, and the account scheduler's gauges; and the SDK's metric names, read from the pinned SDK's
// source (internal, so not importable).
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	reg := prometheus.NewRegistry()
	rcv, err := receiver.New(receiver.Config{Secrets: []string{"whsec_dGVzdA=="}, Registry: reg}, unusedSignaler{}, nil)
	require.NoError(t, err)
	// One unsigned delivery observes the labelled series (outcome, latency, reason).
	rec := httptest.NewRecorder()
	rcv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, receiver.WebhookPath, strings.NewReader(`{}`)))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		addHistogram(names, mf.GetName())
	}
	for _, n := range []string{worker.MetricJobs + "_total", worker.MetricPolls + "_total", worker.MetricJobWait + "_seconds"} {
		addHistogram(names, n)
	}
	// The account scheduler's gauges (worker's TestSchedulerGauges reads them back).
	for _, n := range workflows.SchedulerMetrics() {
		names[n] = true
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	require.NoError(t, err)
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go"))
	require.NoError(t, err)
	// Constants are "prefix + suffix" chains: Name = Other + "_suffix".
	consts := map[string]string{"TemporalMetricsPrefix": "temporal_"}
	defs := regexp.MustCompile(`(\w+)\s*=\s*(\w+) \+ "([a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1)
	for range 3 {
		for _, m := range defs {
			if base, ok := consts[m[2]]; ok {
				consts[m[1]] = base + m[3]
			}
		}
	}
	for name, base := range consts {
		if name == "TemporalMetricsPrefix" {
			continue
		}
		// The Prometheus exporter names counters _total and latencies _seconds.
		for _, n := range []string{base, base + "_total", base + "_seconds"} {
			addHistogram(names, n)
		}
	}
	require.Greater(t, len(names), 50)
	return names
}

// unusedSignaler is never called: the one delivery sent is unsigned, and refused.
type unusedSignaler struct{}

func (unusedSignaler) Signal(context.Context, string, string, heygen.Event) error { return nil }

func addHistogram(names map[string]bool, n string) {
	for _, s := range []string{"", "_bucket", "_sum", "_count"} {
		names[n+s] = true
	}
}

// TestDashboardQueriesExportedMetrics fails when a panel queries a metric that no code
// exports: a renamed metric, or a panel written for one that does not exist yet.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("reelflow.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.Panels)
	names := exported(t)
	queried := 0
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			ms := promqlName.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, ms, "%s: %s names no metric", p.Title, tg.Expr)
			for _, m := range ms {
				require.True(t, names[m], "panel %q queries %s, which the code does not export", p.Title, m)
				queried++
			}
		}
	}
	t.Logf("%d panels, %d metric references, all exported", len(d.Panels), queried)
}
