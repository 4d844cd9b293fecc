package workflows

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

func newCampaignEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t)
	env.RegisterWorkflow(Campaign)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: CampaignWorkflowIDFor("spring")})
	return env
}

func queryCampaign(t *testing.T, env *testsuite.TestWorkflowEnvironment) CampaignStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st CampaignStatus
	require.NoError(t, v.Get(&st))
	return st
}

func rows(ids ...string) CampaignRows {
	var r CampaignRows
	for _, id := range ids {
		r.Rows = append(r.Rows, CampaignRow{ID: id})
	}
	return r
}

// TestCampaignCounts: four rows; one done, one failed, one done with a failed
// translation, one cancelled after a rerun of the failed one; the query counts them,
// lists the failures with reasons, and the campaign completes campaignLinger after the
// last end with its status and carry.
func TestCampaignCounts(t *testing.T) {
	env := newCampaignEnv(t)
	at := func(d time.Duration, f func()) { env.RegisterDelayedCallback(f, d) }
	signal := func(name string, v any) { env.SignalWorkflow(name, v) }
	var mid, rerun CampaignStatus
	at(0, func() { signal(SignalCampaignRows, rows("s-a", "s-b", "s-c", "s-d")) })
	at(time.Minute, func() {
		signal(SignalCampaignEnded, PipelineEnded{ID: "s-a", RunID: "r1", Outcome: OutcomeDone, At: env.Now()})
		signal(SignalCampaignEnded, PipelineEnded{ID: "s-b", RunID: "r1", Outcome: OutcomeFailed, Reason: "render: avatar gone", At: env.Now()})
	})
	at(2*time.Minute, func() { mid = queryCampaign(t, env) })
	at(3*time.Minute, func() {
		// A rerun of the failed row: it runs again.
		signal(SignalCampaignRows, CampaignRows{Rows: []CampaignRow{{ID: "s-a"}, {ID: "s-b", RunID: "r2"}}})
	})
	at(4*time.Minute, func() { rerun = queryCampaign(t, env) })
	at(5*time.Minute, func() {
		signal(SignalCampaignEnded, PipelineEnded{ID: "s-b", RunID: "r2", Outcome: OutcomeDone, At: env.Now()})
		signal(SignalCampaignEnded, PipelineEnded{ID: "s-c", RunID: "r1", Outcome: OutcomeFailedSteps, Reason: "translate/de: unsupported", At: env.Now()})
		signal(SignalCampaignEnded, PipelineEnded{ID: "s-d", RunID: "r1", Outcome: OutcomeCancelled, Reason: "cancelled", At: env.Now()})
	})
	env.ExecuteWorkflow(Campaign, CampaignInput{ID: "spring"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	assert.Equal(t, 4, mid.Rows)
	assert.Equal(t, 2, mid.Running)
	assert.Equal(t, 1, mid.Done)
	assert.Equal(t, 1, mid.Failed)
	require.Len(t, mid.Failures, 1)
	assert.Equal(t, CampaignItem{ID: "s-b", RunID: "r1", Outcome: OutcomeFailed, Reason: "render: avatar gone"}, mid.Failures[0])
	left, ok := mid.Left(mid.StartedAt.Add(2 * time.Minute))
	require.True(t, ok)
	assert.Equal(t, 2*time.Minute, left, "two rows ended in two minutes: two more take two more")

	assert.Equal(t, 3, rerun.Running, "the rerun row runs again")
	assert.Equal(t, 0, rerun.Failed)

	var res CampaignStatus
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, 0, res.Running)
	assert.Equal(t, 2, res.Done)
	assert.Equal(t, 1, res.Partial)
	assert.Equal(t, 1, res.Cancelled)
	assert.Equal(t, []string{"s-c", "s-d"}, []string{res.Failures[0].ID, res.Failures[1].ID})
	require.NotNil(t, res.Carry)
	assert.Len(t, res.Carry.Rows, 4)
	assert.GreaterOrEqual(t, env.Now().Sub(res.LastEndAt), campaignLinger)
	_, ok = res.Left(env.Now())
	assert.False(t, ok, "nothing left")
}

// TestCampaignEndBeforeItsRun: the end of a rerun's run overtakes the CLI's signal that
// names that run; the row stays ended.
func TestCampaignEndBeforeItsRun(t *testing.T) {
	env := newCampaignEnv(t)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalCampaignRows, rows("s-a"))
		env.SignalWorkflow(SignalCampaignEnded, PipelineEnded{ID: "s-a", RunID: "r2", Outcome: OutcomeDone})
		env.SignalWorkflow(SignalCampaignRows, CampaignRows{Rows: []CampaignRow{{ID: "s-a", RunID: "r2"}}})
	}, 0)
	env.ExecuteWorkflow(Campaign, CampaignInput{ID: "spring"})
	require.NoError(t, env.GetWorkflowError())
	var res CampaignStatus
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, 1, res.Done)
	assert.Equal(t, 0, res.Running)
}

// TestCampaignContinuesAsNew: a campaign of 300 rows, half of them ended, continues as
// new once its history passes the bound, and carries every row with its outcome.
func TestCampaignContinuesAsNew(t *testing.T) {
	env := newCampaignEnv(t)
	const n = 300
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("big-%04d", i)
	}
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalCampaignRows, rows(ids...)) }, 0)
	env.RegisterDelayedCallback(func() {
		for _, id := range ids[:n/2] {
			env.SignalWorkflow(SignalCampaignEnded, PipelineEnded{ID: id, RunID: "r1", Outcome: OutcomeDone})
		}
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		env.SetCurrentHistoryLength(campaignHistoryBound + 1)
		env.SignalWorkflow(SignalCampaignEnded, PipelineEnded{ID: ids[n/2], RunID: "r1", Outcome: OutcomeFailed, Reason: "boom"})
	}, 2*time.Second)
	env.ExecuteWorkflow(Campaign, CampaignInput{ID: "spring"})
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can, "it continued as new")
	var next CampaignInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Carry)
	require.Len(t, next.Carry.Rows, n)
	counts := map[string]int{}
	for _, r := range next.Carry.Rows {
		counts[r.Outcome]++
	}
	assert.Equal(t, map[string]int{OutcomeDone: n / 2, OutcomeFailed: 1, OutcomeRunning: n/2 - 1}, counts)
}
