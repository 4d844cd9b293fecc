package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

func TestMain(m *testing.M) {
	// As cmd/reelflow does: Gin's debug mode prints every route of every receiver.
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// reportPath, when set, makes every full benchmark that runs refresh its section of that
// file: go test -bench . -run '^$' -benchtime 1x -timeout 3h ./bench/ -args -bench.report=../BENCHMARKS.md
var reportPath = flag.String("bench.report", "", "refresh each benchmark's section of this markdown file (BENCHMARKS.md)")

// lostPhases overrides BenchmarkLostWebhook's start phases (one run each), for a shorter
// run: -bench.lost-phases=30s,56s.
var lostPhases = flag.String("bench.lost-phases", "0s,10s,20s,30s,40s,50s", "BenchmarkLostWebhook's start phases in the minute, one run each")

// Smoke versions: a few jobs each, in `go test ./...`, so that the harness cannot rot.
// They assert that everything ran and completed and that the figures are computed; the
// goals are for the full benchmarks, on a quiet machine.

func smokeCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestAckSmoke(t *testing.T) {
	res, err := RunAck(smokeCtx(t), AckConfig{Workflows: 10, Senders: 8, Duration: 500 * time.Millisecond, Warmup: 200 * time.Millisecond, Runs: 2})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Zero(t, res.Facts["failed"], "every signal and every webhook is accepted")
	require.Positive(t, res.Facts["accepted"])
	// Every accepted signal reaches one sink, once: the sinks' own count holds the
	// accepted fact to the signals that really went out.
	require.Equal(t, res.Facts["handled"], res.Facts["accepted"], "the sinks handled every accepted signal, and only those")
	rate := res.Rows[0]
	require.Positive(t, rate.Reelflow.Median)
	require.Positive(t, rate.Baseline.Median)
	require.Positive(t, rate.Ratio.Median)
	require.NotNil(t, rate.Met, "the throughput row is judged against its goal")
	require.NotNil(t, res.Rows[2].Met, "the p99 row is judged against its goal")
}

func TestAckPayloadSmoke(t *testing.T) {
	res, err := RunAckPayload(smokeCtx(t), AckPayloadConfig{Workflows: 10, Senders: 8, Duration: 500 * time.Millisecond, Warmup: 200 * time.Millisecond, Runs: 2})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Zero(t, res.Facts["failed"], "every webhook is accepted, on both paths")
	require.Equal(t, res.Facts["handled"], res.Facts["accepted"], "the sinks handled every accepted signal, and only those")
	// Each path really is what it says: the encrypted receiver's signals are sealed.
	require.Positive(t, res.Facts["encrypted_signals"])
	require.Positive(t, res.Facts["plain_signals"])
	rate := res.Rows[0]
	require.Positive(t, rate.Ratio.Median)
	require.NotNil(t, rate.Met, "the throughput row is judged against its goal")
}

func TestProgressSmoke(t *testing.T) {
	res, err := RunProgress(smokeCtx(t), ProgressConfig{Jobs: 8, Rate: 20, RenderTime: 300 * time.Millisecond, RenderTail: 200 * time.Millisecond, BaselinePoll: time.Second, Runs: 1})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Equal(t, res.Facts["jobs"], res.Facts["webhook_rounds_by_webhook"], "with webhooks on, every job finishes by its webhook")
	require.Equal(t, res.Facts["jobs"], res.Facts["baseline_rounds_by_poll"], "with webhooks swallowed, every job finishes by a poll")
	p50 := res.Rows[0]
	require.Positive(t, p50.Reelflow.Median)
	require.Greater(t, p50.Baseline.Median, p50.Reelflow.Median, "a 1 s poll is slower than a webhook")
	require.Positive(t, p50.Ratio.Median)
}

func TestCallsSmoke(t *testing.T) {
	res, err := RunCalls(smokeCtx(t), CallsConfig{Jobs: 20, Scale: 0.001, Starters: 8, BaselineAtOnce: 20, Runs: 1})
	require.NoError(t, err)
	t.Log(res.Text())
	jobs := res.Facts["jobs"]
	require.Equal(t, jobs, res.Facts["on_completed"])
	require.Equal(t, jobs, res.Facts["lost_completed"])
	// Webhooks on: one single GET per job, its details; the sweep adds only its bulk
	// share (the jobs rendering across a sweep instant, which here is every 60 ms).
	require.LessOrEqual(t, res.Facts["on_single"], jobs, "webhooks on: at most one single GET per job")
	require.LessOrEqual(t, res.Facts["on_calls"], 1.5*jobs, "webhooks on: the sweep's bulk share stays a share")
	require.Positive(t, res.Facts["lost_calls"], "webhooks lost: the jobs polled")
	require.Less(t, res.Facts["lost_calls"], res.Facts["baseline_calls"], "backoff polls less than a fixed interval")
	require.Positive(t, res.Rows[1].Ratio.Median)
}

func TestScaleSmoke(t *testing.T) {
	res, err := RunScale(smokeCtx(t), ScaleConfig{Jobs: 50, Runs: 1, Starters: 8, Senders: 32, RenderTime: 200 * time.Millisecond, PhaseTimeout: time.Minute})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Equal(t, res.Facts["jobs"], res.Facts["completed"], "every Job completed")
	require.Positive(t, res.Rows[0].Reelflow.Median, "peak RSS read")
	require.Positive(t, res.Rows[5].Reelflow.Median, "time to finish measured")
}

func TestRecoverySmoke(t *testing.T) {
	res, err := RunRecovery(smokeCtx(t), RecoveryConfig{Pipelines: 10, Runs: 1, Starters: 8, Senders: 32, RenderTime: 200 * time.Millisecond, PhaseTimeout: time.Minute})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Equal(t, res.Facts["pipelines"], res.Facts["completed"], "every Pipeline completed after the new worker started")
	require.Zero(t, res.Facts["closed_early"], "no Job closed while no worker ran")
	require.Positive(t, res.Rows[0].Reelflow.Median)
}

func TestLostSmoke(t *testing.T) {
	res, err := RunLost(smokeCtx(t), LostConfig{Pipelines: 3, RenderTime: 300 * time.Millisecond, Starters: 3,
		Timeouts: workflows.Timeouts{Sweep: time.Second}, RoundTimeout: time.Minute})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Equal(t, 6.0, res.Facts["lost_jobs"], "every Job of every pipeline completed")
	require.Equal(t, 6.0, res.Facts["lost_lags"], "a lag measured for each")
	require.Equal(t, 6.0, res.Facts["on_lags"])
	require.Positive(t, res.Facts["lost_calls"], "lost webhooks: the Jobs polled")
	require.NotNil(t, res.Rows[1].Met, "the p99 row is judged against its goal")
}

func TestExamplesSmoke(t *testing.T) {
	res, err := RunExamples(smokeCtx(t), ExamplesConfig{Dir: "../examples", Runs: 1})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Positive(t, res.Facts["jobs"])
	require.Equal(t, res.Facts["jobs"], res.Facts["by_webhook"], "webhooks delivered: every Job finished by its webhook")
	require.Equal(t, res.Facts["jobs"], res.Facts["single"], "one detail fetch per finished step, the Job's; none from the Pipeline")
}

// The full benchmarks. Each runs once per `go test -bench` (its runs are inside), prints
// its table, reports its medians as metrics and, with -bench.report, refreshes its
// section of BENCHMARKS.md.

func BenchmarkAckPath(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunAck(ctx, AckConfig{Workflows: 100, Senders: 32, Duration: 10 * time.Second, Warmup: 3 * time.Second, Runs: 3, Env: benchEnv()})
	})
}

// BenchmarkAckEncryption is issue 19's: the ack path with payload encryption on vs off,
// in alternating rounds of one run. Many short rounds, so that the machine's changing
// load falls on both paths of a pair alike.
func BenchmarkAckEncryption(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunAckPayload(ctx, AckPayloadConfig{Workflows: 100, Senders: 32, Duration: 4 * time.Second, Warmup: 2 * time.Second, Runs: 12, Env: benchEnv()})
	})
}

func BenchmarkEventToProgress(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunProgress(ctx, ProgressConfig{Jobs: 300, Rate: 20, RenderTime: 2 * time.Second, RenderTail: time.Second, BaselinePoll: 5 * time.Second, Runs: 3, Env: benchEnv()})
	})
}

func BenchmarkAPICalls(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunCalls(ctx, CallsConfig{Jobs: 1000, Scale: 0.01, Starters: 32, BaselineAtOnce: 100, Runs: 3, Env: benchEnv()})
	})
}

func BenchmarkScale(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunScale(ctx, ScaleConfig{Jobs: 5000, Runs: 3, Starters: 32, Senders: 32, RenderTime: time.Second, PhaseTimeout: 15 * time.Minute, Env: benchEnv()})
	})
}

func BenchmarkRecovery(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunRecovery(ctx, RecoveryConfig{Pipelines: 500, Runs: 3, Starters: 32, Senders: 32, RenderTime: time.Second, PhaseTimeout: 10 * time.Minute, Env: benchEnv()})
	})
}

// BenchmarkLostWebhook is issue 18's: 200 pipelines (a render and a translation each),
// every webhook dropped, 3 s renders, default timeouts; six runs started at phases
// spread evenly over the minute (every 10 s), so that where the jobs end relative to
// the sweep is as random over all the runs' Jobs as in production. The lag's p99 is
// judged over all of them together (lost.go).
func BenchmarkLostWebhook(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		var phases []time.Duration
		for _, p := range strings.Split(*lostPhases, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(p))
			if err != nil {
				return Result{}, fmt.Errorf("-bench.lost-phases: %w", err)
			}
			phases = append(phases, d)
		}
		return RunLost(ctx, LostConfig{Pipelines: 200, RenderTime: 3 * time.Second, Starters: 16,
			Phases: phases, Env: benchEnv()})
	})
}

// BenchmarkExamples is issue 20 item 4's: status calls per Job on a webhook-only run of
// every example.
func BenchmarkExamples(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunExamples(ctx, ExamplesConfig{Dir: "../examples", Runs: 5, Env: benchEnv()})
	})
}

func runBenchmark(b *testing.B, run func(context.Context) (Result, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	b.ResetTimer()
	cpu := ReadCPU()
	res, err := run(ctx)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	res.Notes = append(res.Notes, CPUNote(cpu))
	fmt.Print(res.Text())
	for _, row := range res.Rows {
		b.ReportMetric(row.Reelflow.Median, metricUnit(row.Metric))
		if row.Ratio != nil {
			b.ReportMetric(row.Ratio.Median, metricUnit(row.Metric)+"_ratio")
		}
	}
	if *reportPath != "" {
		if err := WriteSection(*reportPath, res); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEnv is the stack of a full benchmark: the dev stack's defaults, with a line on
// stderr per phase so that a long run can be followed.
func benchEnv() EnvConfig {
	return EnvConfig{Logf: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}}
}

// metricUnit turns a row's name into a go test metric unit, which has no spaces.
func metricUnit(name string) string {
	r := strings.NewReplacer(" ", "_", ",", "", "(", "", ")", "", "%", "pct")
	return r.Replace(name)
}
