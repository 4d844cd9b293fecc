package pipelines

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/workflows"
)

// campaignSignalRows is how many rows one campaign signal carries, far under
// Temporal's 2 MB payload limit.
const campaignSignalRows = 1000

// OpenCampaign signal-with-starts the campaign's workflow with every row's pipeline,
// before any of them starts. A campaign that completed (all its rows had ended a day
// before) starts a new run that carries what the last one knew.
func OpenCampaign(ctx context.Context, c client.Client, campaign string, inputs []workflows.PipelineInput) error {
	wid := workflows.CampaignWorkflowIDFor(campaign)
	in := workflows.CampaignInput{ID: campaign}
	desc, err := c.DescribeWorkflowExecution(ctx, wid, "")
	if err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		var last workflows.CampaignStatus
		if err := c.GetWorkflow(ctx, wid, "").Get(ctx, &last); err == nil {
			in.Carry = last.Carry
		}
	}
	rows := make([]workflows.CampaignRow, len(inputs))
	for i, p := range inputs {
		rows[i] = workflows.CampaignRow{ID: p.ID}
	}
	first := rows[:min(len(rows), campaignSignalRows)]
	opts := client.StartWorkflowOptions{
		ID:                    wid,
		TaskQueue:             workflows.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         "campaign " + campaign,
	}
	if _, err := c.SignalWithStartWorkflow(ctx, wid, workflows.SignalCampaignRows, workflows.CampaignRows{Rows: first}, opts, workflows.Campaign, in); err != nil {
		return TemporalError("start campaign "+campaign, err)
	}
	return SignalCampaign(ctx, c, campaign, rows[len(first):])
}

// SignalCampaign tells the campaign about rows, in signals of campaignSignalRows.
func SignalCampaign(ctx context.Context, c client.Client, campaign string, rows []workflows.CampaignRow) error {
	for len(rows) > 0 {
		n := min(len(rows), campaignSignalRows)
		if err := c.SignalWorkflow(ctx, workflows.CampaignWorkflowIDFor(campaign), "", workflows.SignalCampaignRows, workflows.CampaignRows{Rows: rows[:n]}); err != nil {
			return TemporalError("tell campaign "+campaign+" its rows", err)
		}
		rows = rows[n:]
	}
	return nil
}

// Campaign reads a campaign's status: its query while it runs, its result once it has
// completed. found is false when there is no campaign of that id.
func Campaign(ctx context.Context, c client.Client, id string) (st workflows.CampaignStatus, found bool, err error) {
	wid := workflows.CampaignWorkflowIDFor(id)
	desc, err := c.DescribeWorkflowExecution(ctx, wid, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, false, nil
	}
	if err != nil {
		return st, false, TemporalError("look up campaign "+id, err)
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		err = c.GetWorkflow(ctx, wid, "").Get(ctx, &st)
		st.Carry = nil
		return st, true, err
	}
	v, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
	if err != nil {
		return st, true, TemporalError("read the status of campaign "+id+" (it needs a running worker)", err)
	}
	return st, true, v.Get(&st)
}

// Queue reads the account's scheduler through its queue query.
func Queue(ctx context.Context, c client.Client, account string) (workflows.SchedulerStatus, error) {
	var st workflows.SchedulerStatus
	id := workflows.SchedulerWorkflowIDFor(account)
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryQueue)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, fmt.Errorf("no scheduler for HeyGen account %q (workflow %s): no Job of this account has asked for a slot yet, or the account is named differently (--heygen-account, $HEYGEN_API_KEY)", account, id)
	}
	if err != nil {
		return st, TemporalError("read the queue of account "+account+" (it needs a running worker)", err)
	}
	return st, v.Get(&st)
}
