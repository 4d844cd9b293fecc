package devstack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/workflows"
)

// The account benchmarks' scenarios (bench/account.go, BENCHMARKS.md) at a small scale,
// each asserting its outcome: the urgent pipeline first, fair shares, no 429s, no
// failures, a pause for credit and the resume after a top-up.

// accountStack is a stack whose account has limit slots; the sandbox refuses creates
// past the same limit, so that any overrun shows as a 429.
func accountStack(t *testing.T, limit int, render time.Duration) *Stack {
	st := startStack(t, Config{RenderTime: render, Account: activities.Account{Concurrency: limit}})
	st.Sandbox.SetConcurrencyLimit(limit)
	return st
}

// heldAccountStack is accountStack with the account held: a reserve of 1 credit and none
// in the sandbox, so that the scheduler queues every Job and grants nothing until the
// test sets credits.
func heldAccountStack(t *testing.T, limit int, render time.Duration) *Stack {
	st := startStack(t, Config{RenderTime: render, Account: activities.Account{Concurrency: limit, MinBalance: 1}})
	st.Sandbox.SetConcurrencyLimit(limit)
	require.NoError(t, st.Sandbox.SetCredits(0))
	return st
}

// queuedWhileHeld holds when n Jobs wait on the held account and none holds a slot.
func queuedWhileHeld(ctx context.Context, st *Stack, n int) func() bool {
	return func() bool {
		s, ok := schedulerStatus(ctx, st)
		return ok && s.Paused && len(s.Held) == 0 && s.Waiting == n
	}
}

// campaignRows are n render-only pipelines of campaign.
func campaignRows(campaign string, n int) []workflows.PipelineInput {
	out := make([]workflows.PipelineInput, n)
	for i := range out {
		out[i] = welcome(fmt.Sprintf("%s-%02d", campaign, i))
		out[i].Schedule.Campaign = campaign
	}
	return out
}

func startAll(ctx context.Context, t *testing.T, st *Stack, ins []workflows.PipelineInput) []client.WorkflowRun {
	t.Helper()
	runs := make([]client.WorkflowRun, len(ins))
	for i, in := range ins {
		run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
		require.NoError(t, err)
		runs[i] = run
	}
	return runs
}

func requireAllComplete(ctx context.Context, t *testing.T, runs []client.WorkflowRun) {
	t.Helper()
	for _, run := range runs {
		require.NoError(t, run.Get(ctx, nil), "pipeline %s", run.GetID())
	}
}

func schedulerStatus(ctx context.Context, st *Stack) (workflows.SchedulerStatus, bool) {
	var s workflows.SchedulerStatus
	v, err := st.Client.QueryWorkflow(ctx, workflows.SchedulerWorkflowIDFor(workflows.SandboxAccount), "", workflows.QueryQueue)
	if err != nil || v.Get(&s) != nil {
		return s, false
	}
	return s, true
}

// TestUrgentJumpsTheCampaign: a campaign fills the account's two slots and queues the
// rest; a priority-1 pipeline started then gets the next free slot: in the scheduler's
// history, the first grant after the urgent Job's request is its own, made while
// campaign rows still waited. The campaign's workflow counts every row done. (The check
// is on the scheduler's decisions, not on create counts, which also depend on how long
// the urgent pipeline takes to ask on a loaded machine.) The account is held until the
// whole campaign has queued, so that it runs with a backlog whatever the machine's load:
// its rows ask one by one as their pipelines start, and with slots turning over every
// second they never all waited at once.
func TestUrgentJumpsTheCampaign(t *testing.T) {
	const limit = 2
	st := heldAccountStack(t, limit, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	camp := campaignRows("camp", 12)
	_, err := st.Client.SignalWithStartWorkflow(ctx, workflows.CampaignWorkflowIDFor("camp"), workflows.SignalCampaignRows,
		campaignRowsOf(camp), client.StartWorkflowOptions{TaskQueue: workflows.TaskQueue}, workflows.Campaign, workflows.CampaignInput{ID: "camp"})
	require.NoError(t, err)
	runs := startAll(ctx, t, st, camp)
	waitUntil(ctx, t, "the campaign to queue", queuedWhileHeld(ctx, st, len(camp)))
	require.NoError(t, st.Sandbox.SetCredits(1000))
	waitUntil(ctx, t, "the campaign to run", func() bool {
		s, ok := schedulerStatus(ctx, st)
		return ok && !s.Paused && len(s.Held) == limit
	})

	urgent := welcome("urgent")
	urgent.Schedule.Priority = workflows.PriorityHighest
	runs = append(runs, startAll(ctx, t, st, []workflows.PipelineInput{urgent})...)
	render := workflows.JobWorkflowID(urgent.ID, workflows.StepRender)
	requireAllComplete(ctx, t, runs)
	require.Zero(t, st.Sandbox.Stats().ConcurrencyLimited, "no concurrency 429")
	require.Equal(t, 1, st.Sandbox.Stats().CreatesByCallbackID[render])
	log := readSchedulerLog(ctx, t, st)
	i, ok := log.asked[render]
	require.True(t, ok, "the urgent Job asked the scheduler")
	require.Less(t, i, len(log.grants))
	require.Equal(t, render, log.grants[i].to, "the first grant after the urgent Job asked is its own: %v", log.grantsTo())
	require.True(t, slices.ContainsFunc(log.grants[i].waiting, isRow("camp")),
		"campaign rows still waited: the urgent Job did not wait for the campaign to drain: %v", log.grantsTo())
	d, err := st.Client.DescribeWorkflowExecution(ctx, workflows.SchedulerWorkflowIDFor(workflows.SandboxAccount), "")
	require.NoError(t, err)
	require.Equal(t, int32(activities.SchedulerPriority.PriorityKey), d.GetWorkflowExecutionInfo().GetPriority().GetPriorityKey(),
		"the scheduler's tasks go ahead of the pipelines'")
	waitUntil(ctx, t, "the campaign to count every row", func() bool {
		v, err := st.Client.QueryWorkflow(ctx, workflows.CampaignWorkflowIDFor("camp"), "", workflows.QueryStatus)
		var cs workflows.CampaignStatus
		return err == nil && v.Get(&cs) == nil && cs.Rows == len(camp) && cs.Done == len(camp)
	})
}

func campaignRowsOf(ins []workflows.PipelineInput) workflows.CampaignRows {
	var rows workflows.CampaignRows
	for _, in := range ins {
		rows.Rows = append(rows.Rows, workflows.CampaignRow{ID: in.ID})
	}
	return rows
}

// TestCreditPauseAndResume: with credit for two renders, four pipelines: HeyGen (the
// sandbox) refuses a create with 402, the account pauses with a reason, the refused Job
// waits "waiting: account paused" and nothing fails. After a top-up all complete, with
// one create per callback_id, and no refused Idempotency-Key was ever sent again (a
// repeat would get HeyGen's stored 402: the resumed creates use fresh keys).
func TestCreditPauseAndResume(t *testing.T) {
	st := accountStack(t, 2, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, st.Sandbox.SetCredits(2))
	ins := campaignRows("credit", 4)
	runs := startAll(ctx, t, st, ins)
	var paused workflows.SchedulerStatus
	waitUntil(ctx, t, "the pause", func() bool {
		s, ok := schedulerStatus(ctx, st)
		paused = s
		return ok && s.Paused && len(s.Held) == 0 && s.Waiting >= 1
	})
	require.NotEmpty(t, paused.PauseReason, "the pause says why")
	require.Positive(t, st.Sandbox.Stats().InsufficientCredit, "the pause came from HeyGen's 402")
	waitUntil(ctx, t, "a refused Job to wait as paused", func() bool {
		return slices.ContainsFunc(ins, func(in workflows.PipelineInput) bool {
			return jobState(ctx, st, workflows.JobWorkflowID(in.ID, workflows.StepRender)) == workflows.StatePaused
		})
	})
	for _, in := range ins {
		d, err := st.Client.DescribeWorkflowExecution(ctx, in.ID, "")
		require.NoError(t, err)
		status := d.GetWorkflowExecutionInfo().GetStatus()
		require.Contains(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}, status, "%s did not fail", in.ID)
	}

	require.NoError(t, st.Sandbox.SetCredits(100))
	requireAllComplete(ctx, t, runs)
	stats := st.Sandbox.Stats()
	for _, in := range ins {
		require.Equal(t, 1, stats.JobsByCallbackID[workflows.JobWorkflowID(in.ID, workflows.StepRender)].Creates, "one create for %s", in.ID)
	}
	require.Zero(t, stats.InsufficientCreditReplays, "no refused key sent again")
	require.Zero(t, stats.ConcurrencyLimited, "no concurrency 429")
	s, ok := schedulerStatus(ctx, st)
	require.True(t, ok)
	require.False(t, s.Paused, "resumed")
}

// grantRecord is one grant of the account's scheduler, as the scheduler saw it: the Job
// granted, the Jobs waiting when it was made (the granted one included), and the Jobs
// holding a slot then, as far as their requests and releases tell (a slot freed by the
// holder check or a lapsed lease still shows as held).
type grantRecord struct {
	to      string
	waiting []string
	held    []string
}

// schedulerLog is the account scheduler's run as its history tells it.
type schedulerLog struct {
	grants []grantRecord
	// asked is, for each Job, how many grants had been made before its first request.
	asked map[string]int
}

// readSchedulerLog replays the sandbox account's scheduler history in event order,
// which is the order the scheduler took them in (signals that arrive during a workflow
// task are written after its commands), with the scheduler's rules: a request queues a
// Job (one from another run identity replaces the Job's place or slot), a release under
// the Job's run identity frees its slot or takes it off the queue, a grant moves it from
// the queue to the holders. The test's scheduler must not have continued as new (its
// first events would be in another run).
func readSchedulerLog(ctx context.Context, t *testing.T, st *Stack) schedulerLog {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	log := schedulerLog{asked: map[string]int{}}
	waiting, holders := map[string]string{}, map[string]string{} // workflow ID -> run identity
	it := st.Client.GetWorkflowHistory(ctx, workflows.SchedulerWorkflowIDFor(workflows.SandboxAccount), "", false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			require.Empty(t, a.GetContinuedExecutionRunId(), "the scheduler's whole history is in one run")
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			var req activities.SlotRequest
			require.NoError(t, dc.FromPayloads(a.GetInput(), &req))
			id := req.WorkflowID
			switch a.GetSignalName() {
			case workflows.SignalSlotAcquire:
				if _, ok := log.asked[id]; !ok {
					log.asked[id] = len(log.grants)
				}
				if run, ok := holders[id]; ok && (run != req.RunID || req.Refused) {
					delete(holders, id)
				}
				if _, ok := holders[id]; !ok {
					waiting[id] = req.RunID
				}
			case workflows.SignalSlotRelease:
				if holders[id] == req.RunID {
					delete(holders, id)
				} else if waiting[id] == req.RunID {
					delete(waiting, id)
				}
			}
		}
		if a := ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes(); a != nil && a.GetSignalName() == workflows.SignalSlotGrant {
			id := a.GetWorkflowExecution().GetWorkflowId()
			if _, ok := holders[id]; ok {
				continue // a grant sent again to a holder that asked again
			}
			run, ok := waiting[id]
			require.True(t, ok, "%s granted without waiting", id)
			log.grants = append(log.grants, grantRecord{to: id, waiting: slices.Sorted(maps.Keys(waiting)),
				held: slices.Sorted(maps.Keys(holders))})
			delete(waiting, id)
			holders[id] = run
		}
	}
	return log
}

// grantsTo are the Jobs granted, in order.
func (l schedulerLog) grantsTo() []string {
	out := make([]string, len(l.grants))
	for i, g := range l.grants {
		out[i] = g.to
	}
	return out
}
