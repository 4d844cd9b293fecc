package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/reelflow/reelflow/pipelines"
	"github.com/reelflow/reelflow/workflows"
)

// listFlags are the filters of `reelflow list`.
type listFlags struct {
	campaign, prefix, states string
	limit                    int
}

// listStates maps the states `list --state` takes to Temporal's ExecutionStatus names.
var listStates = map[string]string{
	"running":    "Running",
	"completed":  "Completed",
	"failed":     "Failed",
	"cancelled":  "Canceled",
	"terminated": "Terminated",
	"timed-out":  "TimedOut",
}

func (a *app) listCommand() *cobra.Command {
	var f listFlags
	cmd := &cobra.Command{
		Use:   "list [--campaign ID] [--state S,...] [--prefix P]",
		Short: "List pipelines, newest first, with their state; filter by campaign, state or ID prefix",
		Long: `list reads the pipelines from Temporal's visibility (the same search the Temporal UI
runs) and prints them newest first: ID, state (running, completed, failed, cancelled,
terminated, timed-out), stage (the step running, or how it ended), campaign, start
time and how long it ran. A completed pipeline may still have failed steps (a
translation, without fail_fast): "reelflow status ID" shows them.

--campaign ID keeps the pipelines of a --rows campaign, by the spec's id;
--state running,failed keeps those states; --prefix keeps IDs that start with it.
Visibility lags a moment behind a pipeline's start and end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			query, err := f.query()
			if err != nil {
				return usageError(err)
			}
			if f.limit < 0 {
				return usageError(fmt.Errorf("--limit %d: want 0 (all) or more", f.limit))
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			rows, err := listPipelines(ctx, c, query)
			if err != nil {
				return err
			}
			a.printPipelines(rows, f.limit)
			return nil
		},
	}
	fs := cmd.Flags()
	a.env.String(fs, &f.campaign, "campaign", "REELFLOW_LIST_CAMPAIGN", "", "only the pipelines of this --rows campaign (the spec's id)")
	a.env.String(fs, &f.states, "state", "REELFLOW_LIST_STATE", "", "only these states, comma-separated: running, completed, failed, cancelled, terminated, timed-out")
	a.env.String(fs, &f.prefix, "prefix", "REELFLOW_LIST_PREFIX", "", "only the pipelines whose ID starts with this")
	a.env.Int(fs, &f.limit, "limit", "REELFLOW_LIST_LIMIT", 50, "print at most this many, the newest (0: all)")
	return cmd
}

// query is the visibility query of the filters. Values are held to the pipeline ID's
// characters, so that none can break out of its quotes.
func (f listFlags) query() (string, error) {
	parts := []string{fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowTypePipeline)}
	if f.campaign != "" {
		if !workflows.ValidPipelineID(f.campaign) {
			return "", fmt.Errorf("--campaign %q: a campaign is a spec's id, [A-Za-z0-9._-]{1,128}", f.campaign)
		}
		parts = append(parts, fmt.Sprintf("%s = '%s'", workflows.SearchAttrCampaign, f.campaign))
	}
	if f.prefix != "" {
		if !workflows.ValidPipelineID(f.prefix) {
			return "", fmt.Errorf("--prefix %q: pipeline IDs are made of [A-Za-z0-9._-]", f.prefix)
		}
		parts = append(parts, fmt.Sprintf("WorkflowId STARTS_WITH '%s'", f.prefix))
	}
	if states := splitList(f.states); len(states) > 0 {
		var or []string
		for _, s := range states {
			status, ok := listStates[strings.ToLower(s)]
			if !ok {
				return "", fmt.Errorf("--state %q: want running, completed, failed, cancelled, terminated or timed-out", s)
			}
			or = append(or, fmt.Sprintf("ExecutionStatus = '%s'", status))
		}
		parts = append(parts, "("+strings.Join(or, " OR ")+")")
	}
	return strings.Join(parts, " AND "), nil
}

// pipelineRow is one line of `reelflow list`.
type pipelineRow struct {
	id, state, stage, campaign string
	start, close               time.Time
}

// listPage is how many executions one visibility call returns.
const listPage = 1000

// listPipelines reads every pipeline that query matches, newest start first. The SQL
// visibility of the dev server and of PostgreSQL clusters takes no ORDER BY, so the
// rows are sorted here.
func listPipelines(ctx context.Context, c client.Client, query string) ([]pipelineRow, error) {
	var rows []pipelineRow
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, PageSize: listPage, NextPageToken: token,
		})
		if err != nil {
			return nil, pipelines.TemporalError("list pipelines", err)
		}
		for _, e := range resp.GetExecutions() {
			rows = append(rows, newPipelineRow(e))
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	slices.SortStableFunc(rows, func(x, y pipelineRow) int {
		return cmp.Or(y.start.Compare(x.start), strings.Compare(x.id, y.id))
	})
	return rows, nil
}

func newPipelineRow(e *workflowpb.WorkflowExecutionInfo) pipelineRow {
	sa := e.GetSearchAttributes().GetIndexedFields()
	return pipelineRow{
		id:       e.GetExecution().GetWorkflowId(),
		state:    stateName(e.GetStatus()),
		stage:    keyword(sa[workflows.SearchAttrStage]),
		campaign: keyword(sa[workflows.SearchAttrCampaign]),
		start:    e.GetStartTime().AsTime(),
		close:    closeTime(e),
	}
}

func closeTime(e *workflowpb.WorkflowExecutionInfo) time.Time {
	if e.GetCloseTime() == nil {
		return time.Time{}
	}
	return e.GetCloseTime().AsTime()
}

// keyword decodes a keyword search attribute, "" when absent.
func keyword(p *commonpb.Payload) string {
	var s string
	if p == nil || converter.GetDefaultDataConverter().FromPayload(p, &s) != nil {
		return ""
	}
	return s
}

// stateName is the --state name of an execution status.
func stateName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed-out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "WORKFLOW_EXECUTION_STATUS_"))
}

// printPipelines prints the newest limit rows (all when limit is 0) and a count by state.
func (a *app) printPipelines(rows []pipelineRow, limit int) {
	if len(rows) == 0 {
		fmt.Fprintln(a.out, "no pipelines match")
		return
	}
	shown := rows
	if limit > 0 && len(rows) > limit {
		shown = rows[:limit]
	}
	tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTAGE\tCAMPAIGN\tSTARTED\tTOOK")
	now := time.Now()
	for _, r := range shown {
		took := "-"
		switch {
		case !r.close.IsZero():
			took = r.close.Sub(r.start).Round(100 * time.Millisecond).String()
		case r.state == "running":
			took = now.Sub(r.start).Round(time.Second).String() + " so far"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.id, r.state, dash(r.stage), dash(r.campaign),
			r.start.Local().Format("2006-01-02 15:04:05"), took)
	}
	_ = tw.Flush()
	counts := map[string]int{}
	for _, r := range rows {
		counts[r.state]++
	}
	var parts []string
	for _, s := range []string{"running", "completed", "failed", "cancelled", "terminated", "timed-out"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(a.out, "%d %s: %s", len(rows), plural(len(rows), "pipeline", "pipelines"), strings.Join(parts, ", "))
	if len(shown) < len(rows) {
		fmt.Fprintf(a.out, " (the newest %d shown; --limit 0 shows all)", len(shown))
	}
	fmt.Fprintln(a.out)
}
