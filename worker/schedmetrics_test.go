package worker

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// TestSchedulerGauges runs the account's scheduler with the Prometheus-backed handler
// and reads its gauges back as /metrics would serve them: slots held, the limit, Jobs
// waiting and the pause, tagged with the account.
func TestSchedulerGauges(t *testing.T) {
	m, err := NewMetrics()
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.SetMetricsHandler(m.Handler())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.Scheduler)
	var a *activities.Activities
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.SchedulerWorkflowIDFor("acct")})
	// Grants reach their Jobs.
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil)

	// Read in the test environment's callbacks, which must not stop the goroutine they
	// run on: an error is kept for the end.
	var gatherErr error
	gauges := func() map[string]float64 {
		fams, err := m.registry.Gather()
		if err != nil {
			gatherErr = err
			return nil
		}
		out := map[string]float64{}
		for _, name := range workflows.SchedulerMetrics() {
			out[name] = sample(t, fams, name, map[string]string{"account": "acct"})
		}
		return out
	}
	want := func(held, limit, waiting, paused float64) map[string]float64 {
		return map[string]float64{
			workflows.MetricSchedulerSlotsHeld: held, workflows.MetricSchedulerSlotsLimit: limit,
			workflows.MetricSchedulerJobsWaiting: waiting, workflows.MetricSchedulerPaused: paused,
		}
	}
	req := func(id string) activities.SlotRequest {
		return activities.SlotRequest{WorkflowID: id, RunID: id + "-run", Limit: 2}
	}
	var seen []map[string]float64
	env.RegisterDelayedCallback(func() {
		for _, id := range []string{"j1", "j2", "j3"} {
			env.SignalWorkflow(workflows.SignalSlotAcquire, req(id))
		}
	}, time.Second)
	env.RegisterDelayedCallback(func() { seen = append(seen, gauges()) }, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		r := req("j3")
		r.Refused, r.Message = true, "Your account has 0 credits"
		env.SignalWorkflow(workflows.SignalSlotRelease, req("j1"))
		env.SignalWorkflow(workflows.SignalSlotAcquire, r) // j3 was granted j1's slot, then refused for credit
	}, 3*time.Second)
	env.RegisterDelayedCallback(func() { seen = append(seen, gauges()) }, 4*time.Second)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalSlotRelease, req("j2"))
		env.SignalWorkflow(workflows.SignalSlotRelease, req("j3")) // gives up waiting
	}, 5*time.Second)
	// The balance is back at the first read; every holder still runs.
	env.OnActivity(a.CheckBalance, mock.Anything, mock.Anything).Return(activities.CheckBalanceResult{Enough: true}, nil).Maybe()
	env.OnActivity(a.CheckHolders, mock.Anything, mock.Anything).Return(activities.CheckHoldersResult{}, nil).Maybe()

	env.ExecuteWorkflow(workflows.Scheduler, workflows.SchedulerState{Account: "acct"})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.NoError(t, gatherErr)
	require.Len(t, seen, 2)
	assert.Equal(t, want(2, 2, 1, 0), seen[0], "two granted, one waits")
	assert.Equal(t, want(1, 2, 1, 1), seen[1], "j3 refused for credit: waiting again, the account paused")
	assert.Equal(t, want(0, 2, 0, 0), gauges(), "idle and resumed when the scheduler ended")
}
