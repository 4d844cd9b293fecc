package devstack

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

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

func renderCreates(st *Stack, ins []workflows.PipelineInput) int {
	stats := st.Sandbox.Stats()
	n := 0
	for _, in := range ins {
		n += stats.CreatesByCallbackID[workflows.JobWorkflowID(in.ID, workflows.StepRender)]
	}
	return n
}

// TestUrgentJumpsTheCampaign: a campaign fills the account's two slots and queues the
// rest; a priority-1 pipeline started then gets the next free slot: no more campaign
// renders are created before it than were already granted. The campaign's workflow
// counts every row done.
func TestUrgentJumpsTheCampaign(t *testing.T) {
	const limit = 2
	st := accountStack(t, limit, 600*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	camp := campaignRows("camp", 8)
	_, err := st.Client.SignalWithStartWorkflow(ctx, workflows.CampaignWorkflowIDFor("camp"), workflows.SignalCampaignRows,
		campaignRowsOf(camp), client.StartWorkflowOptions{TaskQueue: workflows.TaskQueue}, workflows.Campaign, workflows.CampaignInput{ID: "camp"})
	require.NoError(t, err)
	runs := startAll(ctx, t, st, camp)
	waitUntil(ctx, t, "the campaign to queue", func() bool {
		s, ok := schedulerStatus(ctx, st)
		return ok && len(s.Held) == limit && s.Waiting >= 4
	})

	before := renderCreates(st, camp)
	urgent := welcome("urgent")
	urgent.Schedule.Priority = workflows.PriorityHighest
	runs = append(runs, startAll(ctx, t, st, []workflows.PipelineInput{urgent})...)
	render := workflows.JobWorkflowID(urgent.ID, workflows.StepRender)
	waitUntil(ctx, t, "the urgent render's create", func() bool { return st.Sandbox.Stats().CreatesByCallbackID[render] == 1 })
	jumped := renderCreates(st, camp) - before
	require.LessOrEqual(t, jumped, limit, "only grants already made before the urgent Job asked may come first")
	require.Less(t, renderCreates(st, camp), len(camp), "the urgent render did not wait for the campaign to drain")

	requireAllComplete(ctx, t, runs)
	require.Zero(t, st.Sandbox.Stats().ConcurrencyLimited, "no concurrency 429")
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

// TestCreditPauseAndResume: with credit for two renders, four pipelines: two complete,
// the account pauses with HeyGen's message and the others wait; nothing fails. After a
// top-up all complete, with one create per callback_id.
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
	for _, in := range ins {
		d, err := st.Client.DescribeWorkflowExecution(ctx, in.ID, "")
		require.NoError(t, err)
		status := d.GetWorkflowExecutionInfo().GetStatus()
		require.Contains(t, []enumspb.WorkflowExecutionStatus{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}, status, "%s did not fail", in.ID)
	}

	require.NoError(t, st.Sandbox.SetCredits(100))
	requireAllComplete(ctx, t, runs)
	truth := st.Sandbox.Stats().JobsByCallbackID
	for _, in := range ins {
		require.Equal(t, 1, truth[workflows.JobWorkflowID(in.ID, workflows.StepRender)].Creates, "one create for %s", in.ID)
	}
	s, ok := schedulerStatus(ctx, st)
	require.True(t, ok)
	require.False(t, s.Paused, "resumed")
}
