package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/pipelines"
	"github.com/reelflow/reelflow/workflows"
)

// accountFlags name the HeyGen account whose scheduler a command reads, as workers do:
// --heygen-account, else a keyed hash of HEYGEN_API_KEY, else the dev sandbox's account
// (workflows.AccountName).
type accountFlags struct {
	name, apiKey string
}

func (a *app) bindAccount(cmd *cobra.Command, f *accountFlags) {
	fs := cmd.Flags()
	a.env.String(fs, &f.name, "heygen-account", "REELFLOW_HEYGEN_ACCOUNT", "", "the HeyGen account's name, as the workers are given it (default: a hash of the API key, or the dev sandbox's account)")
	a.env.String(fs, &f.apiKey, "heygen-api-key", "HEYGEN_API_KEY", "", "HeyGen API key, only to name the account as the workers do (never sent anywhere)")
}

// account is the account's name, or a usage error.
func (f accountFlags) account() (string, error) {
	name, err := workflows.AccountName(f.name, f.apiKey)
	if err != nil {
		return "", &exitError{code: 2, err: fmt.Errorf("--heygen-account: %w", err)}
	}
	return name, nil
}

func (a *app) queueCommand() *cobra.Command {
	var acct accountFlags
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "Show the HeyGen account's scheduler: its limit, who holds the slots, who waits, whether it is paused",
		Long: `queue reads the account scheduler's queue query (the Temporal UI shows the same on the
workflow reelflow-account-<account>): the account's concurrency limit and any worker
that disagrees with it, the slots in use and by which Jobs, the waiting Jobs by priority
and fairness key, whether the account is paused for credit and HeyGen's message, and
each campaign's budget.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			account, err := acct.account()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := pipelines.Queue(ctx, c, account)
			if err != nil {
				return err
			}
			printQueue(a.out, st, time.Now())
			return nil
		},
	}
	a.bindAccount(cmd, &acct)
	return cmd
}

// printQueue prints the scheduler's state as `reelflow queue` shows it.
func printQueue(w io.Writer, st workflows.SchedulerStatus, now time.Time) {
	fmt.Fprintf(w, "account %s: %d of %d slots in use, %d waiting\n", st.Account, len(st.Held), st.Limit, st.Waiting)
	if st.Paused {
		fmt.Fprintf(w, "PAUSED since %s (%s ago): %s\n", st.PausedSince.Format(time.RFC3339), now.Sub(st.PausedSince).Round(time.Second), dash(st.PauseReason))
		fmt.Fprintln(w, "  nothing is granted until the balance is back; the worker rereads it and resumes by itself")
	}
	for _, m := range st.LimitMismatch {
		fmt.Fprintf(w, "LIMIT MISMATCH: %s\n", m)
	}
	if len(st.Held) > 0 {
		fmt.Fprintln(w, "\nslots in use:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  JOB\tPRIORITY\tFAIRNESS KEY\tCAMPAIGN\tHELD FOR")
		for _, h := range st.Held {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", h.WorkflowID, h.Priority, dash(h.FairnessKey), dash(h.Campaign), now.Sub(h.Since).Round(100*time.Millisecond))
		}
		_ = tw.Flush()
	}
	if len(st.Groups) > 0 {
		fmt.Fprintln(w, "\nwaiting, by priority and fairness key (granted in this order of priority, then in turn by weight):")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PRIORITY\tFAIRNESS KEY\tWEIGHT\tWAITING\tHOLDING")
		for _, g := range st.Groups {
			fmt.Fprintf(tw, "  %d\t%s\t%g\t%d\t%d\n", g.Priority, dash(g.FairnessKey), g.Weight, g.Waiting, g.Held)
		}
		_ = tw.Flush()
	}
	if len(st.Next) > 0 {
		n := min(len(st.Next), 10)
		fmt.Fprintf(w, "\nnext %d to be granted:\n", n)
		for _, x := range st.Next[:n] {
			over := ""
			if x.OverBudget {
				over = "  (over its campaign's budget)"
			}
			fmt.Fprintf(w, "  %s  priority %d, key %s, waiting %s%s\n", x.WorkflowID, x.Priority, dash(x.FairnessKey), now.Sub(x.Since).Round(100*time.Millisecond), over)
		}
	}
	if len(st.Campaigns) > 0 {
		fmt.Fprintln(w, "\ncampaigns:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CAMPAIGN\tSTARTED\tBUDGET\tHOLDING\tWAITING\tOVER BUDGET")
		for _, c := range st.Campaigns {
			budget := "-"
			if c.Budget > 0 {
				budget = fmt.Sprint(c.Budget)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%d\t%d\n", c.Campaign, c.Started, budget, c.Held, c.Waiting, c.OverBudget)
		}
		_ = tw.Flush()
	}
}

// campaignShare is the campaign's line of the scheduler's status, if the scheduler
// answers and knows it.
func campaignShare(st workflows.SchedulerStatus, campaign string) (workflows.CampaignShare, bool) {
	for _, c := range st.Campaigns {
		if c.Campaign == campaign {
			return c, true
		}
	}
	// A scheduler that lists no campaign line still names each holder's and waiter's.
	share := workflows.CampaignShare{Campaign: campaign}
	found := false
	for _, h := range st.Held {
		if h.Campaign == campaign {
			share.Held++
			found = true
		}
	}
	for _, x := range st.Next {
		if x.Campaign == campaign {
			share.Waiting++
			found = true
		}
	}
	return share, found
}

// printCampaign prints a campaign's summary: its pipelines by state, the failed ones
// with their reasons, the slots it holds and the Jobs it has waiting at the account,
// and an estimate of the time left.
func printCampaign(w io.Writer, st workflows.CampaignStatus, share *workflows.CampaignShare, now time.Time) {
	fmt.Fprintf(w, "campaign %s: %d %s, %d done, %d running, %d failed", st.ID, st.Rows, plural(st.Rows, "pipeline", "pipelines"), st.Done, st.Running, st.Failed)
	if st.Partial > 0 {
		fmt.Fprintf(w, ", %d done with failed steps", st.Partial)
	}
	if st.Cancelled > 0 {
		fmt.Fprintf(w, ", %d cancelled", st.Cancelled)
	}
	fmt.Fprintln(w)
	if share != nil {
		line := fmt.Sprintf("  at the account: %d slots held, %d jobs waiting", share.Held, share.Waiting)
		if share.OverBudget > 0 {
			line += fmt.Sprintf(", %d over budget (start it again with a larger budget to go on)", share.OverBudget)
		}
		if share.Budget > 0 {
			line += fmt.Sprintf("; %d of a budget of %d HeyGen jobs started", share.Started, share.Budget)
		}
		fmt.Fprintln(w, line)
	}
	switch left, ok := st.Left(now); {
	case st.Running == 0:
		fmt.Fprintf(w, "  ended: took %s\n", st.LastEndAt.Sub(st.StartedAt).Round(time.Second))
	case ok:
		fmt.Fprintf(w, "  %d of %d ended in %s; about %s left at that rate\n", st.Ended(), st.Rows, now.Sub(st.StartedAt).Round(time.Second), left.Round(time.Second))
	default:
		fmt.Fprintf(w, "  running for %s; no pipeline has ended yet, so no estimate\n", now.Sub(st.StartedAt).Round(time.Second))
	}
	if len(st.Failures) == 0 {
		return
	}
	fmt.Fprintln(w, "not completed:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, f := range st.Failures {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.ID, f.Outcome, dash(f.Reason))
	}
	_ = tw.Flush()
	if n := st.Failed + st.Partial + st.Cancelled; n > len(st.Failures) {
		fmt.Fprintf(w, "  ... and %d more\n", n-len(st.Failures))
	}
	fmt.Fprintln(w, "to redo them, run the same start --rows command again: only the rows that did not complete run again")
}

// campaignExit is `start --wait`'s verdict on an ended campaign: 3 when a pipeline
// failed, was cancelled, or completed with failed steps.
func campaignExit(st workflows.CampaignStatus) error {
	switch {
	case st.Failed+st.Cancelled > 0:
		// A batch is the unit here: some of its rows did not succeed, which is 3, as
		// for a pipeline with failed steps.
		return &exitError{code: exitFailedSteps, err: fmt.Errorf("campaign %s: %d of %d %s did not complete", st.ID, st.Failed+st.Cancelled, st.Rows, plural(st.Rows, "pipeline", "pipelines"))}
	case st.Partial > 0:
		return &exitError{code: exitFailedSteps, err: fmt.Errorf("campaign %s: %d of %d %s completed with failed steps", st.ID, st.Partial, st.Rows, plural(st.Rows, "pipeline", "pipelines"))}
	}
	return nil
}

// campaignProgress is one line of `start --wait`'s progress on a campaign.
func campaignProgress(st workflows.CampaignStatus, share *workflows.CampaignShare, paused string) string {
	parts := []string{fmt.Sprintf("%d/%d done", st.Done+st.Partial, st.Rows)}
	if n := st.Failed + st.Cancelled; n > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", n))
	}
	parts = append(parts, fmt.Sprintf("%d running", st.Running))
	if share != nil {
		parts = append(parts, fmt.Sprintf("slots %d, jobs waiting %d", share.Held, share.Waiting))
		if share.OverBudget > 0 {
			parts = append(parts, fmt.Sprintf("%d over budget", share.OverBudget))
		}
	}
	if paused != "" {
		parts = append(parts, "account PAUSED: "+paused)
	}
	return strings.Join(parts, ", ")
}

// followCampaign prints the campaign's progress whenever it changes, until every row has
// ended, then its summary; the exit code is campaignExit's.
func (a *app) followCampaign(ctx context.Context, c client.Client, id, account string) error {
	tick := time.NewTicker(progressInterval)
	defer tick.Stop()
	started := time.Now()
	last := ""
	for {
		st, found, err := pipelines.Campaign(ctx, c, id)
		if err == nil && !found {
			err = fmt.Errorf("campaign %s is gone (terminated?); its pipelines go on: reelflow status <pipeline id>", id)
		}
		if err != nil {
			return err
		}
		var share *workflows.CampaignShare
		paused := ""
		if sched, err := pipelines.Queue(ctx, c, account); err == nil {
			if s, ok := campaignShare(sched, id); ok {
				share = &s
			}
			if sched.Paused {
				paused = dash(sched.PauseReason)
			}
		}
		if line := campaignProgress(st, share, paused); line != last {
			fmt.Fprintf(a.out, "  %6s  %s\n", time.Since(started).Round(100*time.Millisecond), line)
			last = line
		}
		if st.Rows > 0 && st.Running == 0 {
			printCampaign(a.out, st, nil, time.Now())
			if err := campaignExit(st); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "all %d %s completed\n", st.Rows, plural(st.Rows, "pipeline", "pipelines"))
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			fmt.Fprintf(a.out, "stopped waiting; the campaign goes on. Follow it with: reelflow status %s\n", id)
			return ctx.Err()
		}
	}
}
