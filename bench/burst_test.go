package bench

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/reelflow/reelflow/workflows"
)

// TestSweepBurst measures how long the stack takes to close a sweep's burst of Jobs
// whose webhooks are lost (issue 18): one lost round of the lost-webhook benchmark
// (REELFLOW_BURST_PIPELINES pipelines, default 200, 3 s renders, default timeouts),
// started at :50 so that the renders end just before a sweep, and per Job the legs of
// its closing path from its Job's history, each from the sweep instant that found it:
// the sweep timer fired, the poll scheduled, started and completed, and the close.
// Run under the heavy lock: REELFLOW_BURST=1 go test ./bench/ -run TestSweepBurst -v.
func TestSweepBurst(t *testing.T) {
	if os.Getenv("REELFLOW_BURST") == "" {
		t.Skip("REELFLOW_BURST not set")
	}
	n := 200
	if v := os.Getenv("REELFLOW_BURST_PIPELINES"); v != "" {
		_, _ = fmt.Sscan(v, &n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cfg := LostConfig{Pipelines: n, RenderTime: 3 * time.Second, Starters: 16, Env: benchEnv()}
	ecfg := cfg.Env
	ecfg.RenderTime = cfg.RenderTime
	env, err := StartEnv(ctx, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Close(context.Background()) }()
	cpu := ReadCPU()
	r, err := lostRound1(ctx, env, cfg, "burst", 1, 50*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(CPUNote(cpu))
	sweep := workflows.Timeouts{}.WithDefaults().Sweep
	legs := map[string][]time.Duration{}
	names := []string{"1 timer fired", "2 task started", "3 poll answered", "4 closed"}
	for _, id := range r.ids {
		end := r.ends[id]
		at := readInstant(end.Add(-cfg.RenderTime), end, sweep)
		iter := env.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var evs []*historypb.HistoryEvent
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		fired, started, done, closed := burstLegs(evs, at)
		for i, ts := range []time.Time{fired, started, done, closed} {
			if !ts.IsZero() {
				legs[names[i]] = append(legs[names[i]], ts.Sub(at))
				// And per sweep instant: the renders' burst, then the translations'.
				key := at.Format("15:04:05 ") + names[i]
				legs[key] = append(legs[key], ts.Sub(at))
			}
		}
	}
	t.Logf("%d Jobs, %d single + %d bulk status calls; lag p50 %.1f s p99 %.1f s max %.1f s",
		r.jobs, r.single, r.bulk, Percentile(r.lags, 50)/1000, Percentile(r.lags, 99)/1000, Percentile(r.lags, 100)/1000)
	names = slices.Sorted(maps.Keys(legs))
	for _, name := range names {
		ds := legs[name]
		t.Logf("after the sweep instant, %-26s n=%3d p50 %6.2f s  p99 %6.2f s  max %6.2f s", name, len(ds),
			Percentile(ds, 50)/1000, Percentile(ds, 99)/1000, Percentile(ds, 100)/1000)
	}
}

// burstLegs finds, in a Job's history, the first timer that fired at or after the
// sweep instant at, and what followed it: the workflow task it woke started, the poll
// activity completed, and the Job closed.
func burstLegs(evs []*historypb.HistoryEvent, at time.Time) (fired, started, done, closed time.Time) {
	for _, ev := range evs {
		ts := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			if !ts.Before(at) && fired.IsZero() {
				fired = ts
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if !fired.IsZero() && started.IsZero() {
				started = ts
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if !started.IsZero() && done.IsZero() {
				done = ts
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			closed = ts
		}
	}
	return fired, started, done, closed
}

// TestReadInstant: the read that finds a lost job is the first minute boundary after
// its end, except for a Job created in the 5 s before its first boundary whose job
// ended by the grace read 5 s after it.
func TestReadInstant(t *testing.T) {
	m := time.Date(2026, 12, 5, 12, 1, 0, 0, time.UTC)
	for _, tt := range []struct {
		created, end, want time.Time
	}{
		{m.Add(-30 * time.Second), m.Add(-27 * time.Second), m},                   // old at the boundary
		{m.Add(-3 * time.Second), m, m.Add(5 * time.Second)},                      // young, over by the grace read
		{m.Add(-3 * time.Second), m.Add(5 * time.Second), m.Add(5 * time.Second)}, // over just at it
		{m.Add(-3 * time.Second), m.Add(7 * time.Second), m.Add(time.Minute)},     // over after it: the next boundary
		{m.Add(-5 * time.Second), m.Add(-2 * time.Second), m},                     // 5 s old is not young
	} {
		assert.Equal(t, tt.want, readInstant(tt.created, tt.end, time.Minute), "created %s, ended %s", tt.created, tt.end)
	}
}
