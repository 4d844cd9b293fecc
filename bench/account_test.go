package bench

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAccountSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := RunAccount(ctx, AccountConfig{Runs: 1, Limit: 2, RenderTime: 400 * time.Millisecond,
		UrgentRows: 6, UrgentAt: time.Second, FairRows: 5, FairGap: 200 * time.Millisecond, OneOffs: 1,
		CreditRows: 5, CreditRenders: 2, PhaseTimeout: time.Minute})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Zero(t, res.Facts["urgent_429s"]+res.Facts["fair_429s"], "the scheduler never overruns the account")
	require.Zero(t, res.Facts["fair_failed"])
	require.Zero(t, res.Facts["credit_failed"], "running out of credit fails nothing")
	require.Equal(t, 2.0, res.Facts["credit_done_before_topup"], "the paid renders completed, the rest paused")
	require.Equal(t, 3.0, res.Facts["paused_waiting"])
	require.Equal(t, 5.0, res.Facts["credit_all"])
	require.Zero(t, res.Facts["credit_dupes"], "one create per callback_id")
	require.Positive(t, res.Rows[0].Reelflow.Median)
	require.False(t, math.IsNaN(res.Rows[2].Reelflow.Median), "Jain's index computed")
}

func TestJain(t *testing.T) {
	require.InDelta(t, 1, Jain([]float64{3, 3}), 1e-9)
	require.InDelta(t, 0.5, Jain([]float64{4, 0}), 1e-9)
	require.InDelta(t, 0.9, Jain([]float64{1, 2}), 1e-9)
}

// BenchmarkAccount is issue 17's account benchmark at its sizes, at its sizes; the render
// time is issue 17's 5 s unless $REELFLOW_BENCH_RENDER scales it (BENCHMARKS.md says which).
func BenchmarkAccount(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunAccount(ctx, AccountConfig{Runs: 3, Limit: 4, RenderTime: accountRender(),
			UrgentRows: 40, UrgentAt: 10 * time.Second, FairRows: 30, FairGap: time.Second, OneOffs: 4,
			CreditRows: 20, CreditRenders: 10, PhaseTimeout: 10 * time.Minute, Env: benchEnv()})
	})
}

// accountRender is the account benchmark's render time: $REELFLOW_BENCH_RENDER, else
// 5 s as issue 17 sets it.
func accountRender() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("REELFLOW_BENCH_RENDER")); err == nil && d > 0 {
		return d
	}
	return 5 * time.Second
}
