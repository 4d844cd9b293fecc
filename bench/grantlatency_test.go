package bench

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

var (
	smokeGrantLatency = flag.Bool("bench.grantlat-smoke", false, "run TestGrantLatencySmoke (about 20-40 s)")
	grantLatencyRuns  = flag.Int("bench.grantlat-runs", 3, "runs of BenchmarkGrantLatency (about 10 min each)")
	grantLatencyTopUp = flag.Duration("bench.grantlat-topup-after", 0, "BenchmarkGrantLatency: hold the top-up until this long after the first start (5m30s: in the waiting Jobs' first re-ask)")
)

// TestGrantLatencySmoke runs the grant latency benchmark with a short queue, only when
// asked (-run GrantLatencySmoke): the held account's first balance reread comes 5 s or
// more after the pause, so even a small run takes longer than a smoke test should.
func TestGrantLatencySmoke(t *testing.T) {
	if testing.Short() || !*smokeGrantLatency {
		t.Skip("run with -run GrantLatencySmoke -args -bench.grantlat-smoke")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := RunGrantLatency(ctx, GrantLatencyConfig{Runs: 1, Waiting: 100, Measure: 30, Limit: 5, RenderTime: 500 * time.Millisecond,
		Keys: 4, Starters: 8, PhaseTimeout: time.Minute, Env: benchEnv()})
	require.NoError(t, err)
	t.Log(res.Text())
	require.Positive(t, res.Facts["pairs"], "releases paired with their grants")
	require.Zero(t, res.Facts["429s"], "no slot doubled")
	require.NotNil(t, res.Rows[2].Met, "the p99 row is judged against its goal")
}

// BenchmarkGrantLatency is issue 17's: p99 <= 1 s from a release to the next grant,
// with 5,000 Jobs waiting.
func BenchmarkGrantLatency(b *testing.B) {
	runBenchmark(b, func(ctx context.Context) (Result, error) {
		return RunGrantLatency(ctx, GrantLatencyConfig{Runs: *grantLatencyRuns, Waiting: 5000, Measure: 300, Limit: 10, RenderTime: time.Second,
			Keys: 4, Starters: 32, TopUpAfter: *grantLatencyTopUp, PhaseTimeout: 15 * time.Minute, Env: benchEnv()})
	})
}

// TestReadSchedulerChain pairs releases with grants on a made-up history of two runs:
// the depth rebuilt from the acquires, a grant resent to a holder skipped, the legs of
// a release taken in by a task already scheduled and by one after a task in flight, and
// a pair across the continue-as-new.
func TestReadSchedulerChain(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	h := &histBuilder{t: t}
	run1 := h.begin(ms(0), "").
		acquire(ms(1), "a", false).acquire(ms(2), "b", false).acquire(ms(3), "c", false).acquire(ms(4), "d", false).
		task(ms(5), ms(6), ms(10)).grant(ms(10), "a"). // the first grant: a free slot, no pair
		sched(ms(20)).release(ms(25), "a").started(ms(30)).completed(ms(40)).grant(ms(40), "b").
		grant(ms(41), "b"). // resent to a holder: no new grant
		release(ms(50), "b").task(ms(60), ms(70), ms(75)).grant(ms(75), "c").
		release(ms(80), "c").events
	run2 := h.reset().begin(ms(100), "run1").task(ms(100), ms(110), ms(120)).grant(ms(120), "d").events

	var gr grantRun
	readSchedulerChain([][]*historypb.HistoryEvent{run1, run2}, 2, &gr)
	require.Len(t, gr.pairs, 2, "a's and b's releases came in at depths 3 and 2, c's at 1")
	// a's release came in at depth 3 (b, c, d waiting), while a task was scheduled.
	a := gr.pairs[0]
	require.Equal(t, "a", a.releaser)
	require.Equal(t, "b", a.grantee)
	require.Equal(t, 3, a.depth)
	require.Equal(t, 15*time.Millisecond, a.grant.Sub(a.release))
	require.True(t, a.legs)
	require.Zero(t, a.inFlight)
	require.Equal(t, 5*time.Millisecond, a.queued)
	require.Equal(t, 10*time.Millisecond, a.taskRun)
	b := gr.pairs[1]
	require.Equal(t, "c", b.grantee)
	require.Equal(t, 2, b.depth)
	require.Equal(t, 10*time.Millisecond, b.inFlight)
	require.Equal(t, 10*time.Millisecond, b.queued)
	require.Equal(t, 5*time.Millisecond, b.taskRun)
	require.Zero(t, b.afterTask)

	gr = grantRun{}
	readSchedulerChain([][]*historypb.HistoryEvent{run1, run2}, 0, &gr)
	require.Len(t, gr.pairs, 3)
	c := gr.pairs[2]
	require.True(t, c.crossedCAN)
	require.Equal(t, "d", c.grantee)
	require.Equal(t, 40*time.Millisecond, c.grant.Sub(c.release))
	require.Equal(t, 1, gr.cansInWindow)
}

// histBuilder writes a scheduler history by hand.
type histBuilder struct {
	t      *testing.T
	events []*historypb.HistoryEvent
}

func (h *histBuilder) reset() *histBuilder { h.events = nil; return h }

func (h *histBuilder) add(at time.Time, ev *historypb.HistoryEvent) *histBuilder {
	ev.EventId = int64(len(h.events) + 1)
	ev.EventTime = timestamppb.New(at)
	h.events = append(h.events, ev)
	return h
}

// started is a workflow task's start.
func (h *histBuilder) started(at time.Time) *histBuilder {
	return h.add(at, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED})
}

// begin is the run's first event, continued from prev.
func (h *histBuilder) begin(at time.Time, prev string) *histBuilder {
	return h.add(at, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{ContinuedExecutionRunId: prev}}})
}

func (h *histBuilder) sched(at time.Time) *histBuilder {
	return h.add(at, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED})
}

func (h *histBuilder) completed(at time.Time) *histBuilder {
	return h.add(at, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED})
}

func (h *histBuilder) task(sched, start, done time.Time) *histBuilder {
	return h.sched(sched).started(start).completed(done)
}

func (h *histBuilder) signal(at time.Time, name, id string, refused bool) *histBuilder {
	in, err := converter.GetDefaultDataConverter().ToPayloads(activities.SlotRequest{WorkflowID: id, RunID: "r-" + id, Refused: refused})
	require.NoError(h.t, err)
	return h.add(at, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes{WorkflowExecutionSignaledEventAttributes: &historypb.WorkflowExecutionSignaledEventAttributes{SignalName: name, Input: in}}})
}

func (h *histBuilder) acquire(at time.Time, id string, refused bool) *histBuilder {
	return h.signal(at, workflows.SignalSlotAcquire, id, refused)
}

func (h *histBuilder) release(at time.Time, id string) *histBuilder {
	return h.signal(at, workflows.SignalSlotRelease, id, false)
}

func (h *histBuilder) grant(at time.Time, id string) *histBuilder {
	return h.add(at, &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
		Attributes: &historypb.HistoryEvent_SignalExternalWorkflowExecutionInitiatedEventAttributes{SignalExternalWorkflowExecutionInitiatedEventAttributes: &historypb.SignalExternalWorkflowExecutionInitiatedEventAttributes{
			SignalName: workflows.SignalSlotGrant, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: id}}}})
}
