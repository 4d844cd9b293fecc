package workflows

import (
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// A campaign is a spec started with --rows: one Pipeline per CSV row, all with the
// spec's id as Schedule.Campaign. Its Campaign workflow counts what its pipelines did,
// so that `reelflow status <spec id>` and the Temporal UI read one query instead of
// thousands:
//
//   - `start --rows` signal-with-starts it with the rows (SignalCampaignRows) before it
//     starts any pipeline, and again with the run of each pipeline it started;
//   - each Pipeline of the campaign signals it when it ends (SignalCampaignEnded), with
//     its outcome and, if it failed, why;
//   - its status query (QueryStatus) answers a CampaignStatus.
//
// Slots held and Jobs waiting are the account scheduler's to say (its QueryQueue, by
// campaign); the CLI shows both side by side. The workflow holds one small entry per
// row, continues as new when Temporal suggests it, and completes campaignLinger after
// its last row ended with its CampaignStatus, which a later `start --rows` of the same
// campaign carries into a new run.

// CampaignWorkflowIDFor is the workflow ID of the campaign of the spec id: a prefix that
// no pipeline ID has (it is longer than a spec id's own ID when the id is short, and a
// pipeline of a batch is "<id>-<row>"), so that both can be looked up by the same id.
func CampaignWorkflowIDFor(id string) string { return "reelflow-campaign-" + id }

// Signals of the Campaign workflow.
const (
	// SignalCampaignRows carries CampaignRows from `start --rows`.
	SignalCampaignRows = "campaign.rows"
	// SignalCampaignEnded carries a PipelineEnded from a Pipeline of the campaign.
	SignalCampaignEnded = "campaign.ended"
)

// campaignLinger is how long a campaign whose rows have all ended stays open for a rerun
// of its failed rows before it completes with its status.
const campaignLinger = 24 * time.Hour

// campaignHistoryBound is the history length past which a campaign continues as new,
// well below Temporal's 10,240-event warning; each ended row costs about three events.
const campaignHistoryBound = 6000

// maxCampaignFailures caps the failed pipelines a CampaignStatus lists; the counts
// stay exact.
const maxCampaignFailures = 200

// Outcomes of a campaign's pipeline.
const (
	OutcomeRunning     = "running"
	OutcomeDone        = "done"
	OutcomeFailedSteps = "done with failed steps"
	OutcomeFailed      = "failed"
	OutcomeCancelled   = "cancelled"
)

// CampaignInput starts a Campaign workflow.
type CampaignInput struct {
	ID string `json:"id"`
	// Carry is what an earlier run (continued as new, or completed and started again by
	// `start --rows`) knew: every row with its outcome.
	Carry *CampaignCarry `json:"carry,omitempty"`
}

// CampaignCarry is the state a Campaign workflow hands its next run.
type CampaignCarry struct {
	StartedAt time.Time      `json:"started_at"`
	LastEndAt time.Time      `json:"last_end_at,omitzero"`
	Rows      []CampaignItem `json:"rows"`
}

// CampaignItem is one row's pipeline and what it did.
type CampaignItem struct {
	ID      string `json:"id"`
	RunID   string `json:"run_id,omitempty"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// CampaignRows tells a campaign about its pipelines. A row with a RunID was (re)started
// by this call, and runs again unless that run's end is already known; a row without
// one is added as running when the campaign does not know it yet.
type CampaignRows struct {
	Rows []CampaignRow `json:"rows"`
}

// CampaignRow names one row's pipeline.
type CampaignRow struct {
	ID    string `json:"id"`
	RunID string `json:"run_id,omitempty"`
}

// PipelineEnded is what a Pipeline tells its campaign when it ends.
type PipelineEnded struct {
	ID      string    `json:"id"`
	RunID   string    `json:"run_id"`
	Outcome string    `json:"outcome"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// CampaignStatus is the answer to a Campaign's status query, and its result.
type CampaignStatus struct {
	ID        string    `json:"id"`
	Rows      int       `json:"rows"`
	Running   int       `json:"running"`
	Done      int       `json:"done"`
	Partial   int       `json:"done_with_failed_steps"`
	Failed    int       `json:"failed"`
	Cancelled int       `json:"cancelled"`
	StartedAt time.Time `json:"started_at"`
	LastEndAt time.Time `json:"last_end_at,omitzero"`
	// Failures are the failed, cancelled and partly failed pipelines with their reasons,
	// at most maxCampaignFailures of them, by pipeline ID.
	Failures []CampaignItem `json:"failures,omitempty"`
	// Carry is the state for a next run; only the workflow's result has it.
	Carry *CampaignCarry `json:"carry,omitempty"`
}

// Ended counts the pipelines that ended, however.
func (s CampaignStatus) Ended() int { return s.Rows - s.Running }

// Left estimates the time until every row has ended, at the rate rows have ended since
// the campaign started; false before the first end or after the last.
func (s CampaignStatus) Left(now time.Time) (time.Duration, bool) {
	ended := s.Ended()
	if ended == 0 || s.Running == 0 || !now.After(s.StartedAt) {
		return 0, false
	}
	perRow := now.Sub(s.StartedAt) / time.Duration(ended)
	return perRow * time.Duration(s.Running), true
}

// campaignRun is the state of one Campaign execution.
type campaignRun struct {
	id        string
	startedAt time.Time
	lastEndAt time.Time
	// rows are kept in arrival order, with index by pipeline ID: iterating over a slice
	// keeps replays identical without a map's random order.
	rows  []CampaignItem
	index map[string]int
}

// row returns the row of id, and false when the campaign does not know it.
func (c *campaignRun) row(id string) (*CampaignItem, bool) {
	i, ok := c.index[id]
	if !ok {
		return nil, false
	}
	return &c.rows[i], true
}

// put sets the row of item.ID, adding it when new.
func (c *campaignRun) put(item CampaignItem) {
	if r, ok := c.row(item.ID); ok {
		*r = item
		return
	}
	c.index[item.ID] = len(c.rows)
	c.rows = append(c.rows, item)
}

// Campaign counts the pipelines of a --rows campaign: see the comment at the top.
func Campaign(ctx workflow.Context, in CampaignInput) (CampaignStatus, error) {
	c := &campaignRun{id: in.ID, index: map[string]int{}, startedAt: workflow.Now(ctx)}
	if in.Carry != nil {
		c.startedAt, c.lastEndAt = in.Carry.StartedAt, in.Carry.LastEndAt
		for _, r := range in.Carry.Rows {
			c.put(r)
		}
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (CampaignStatus, error) { return c.status(), nil }); err != nil {
		return CampaignStatus{}, err
	}
	rowsCh := workflow.GetSignalChannel(ctx, SignalCampaignRows)
	endedCh := workflow.GetSignalChannel(ctx, SignalCampaignEnded)
	for {
		// A fresh selector per wait: a selector keeps its futures, and a fired or
		// cancelled linger timer must not be selected again.
		sel := c.selector(ctx, rowsCh, endedCh)
		expired := false
		tctx, cancelTimer := workflow.WithCancel(ctx)
		if c.running() == 0 && len(c.rows) > 0 {
			sel.AddFuture(workflow.NewTimer(tctx, campaignLinger), func(workflow.Future) { expired = true })
		}
		sel.Select(ctx)
		cancelTimer()
		if expired && c.drained(ctx, rowsCh, endedCh) && c.running() == 0 {
			st := c.status()
			st.Carry = c.carry()
			return st, nil
		}
		info := workflow.GetInfo(ctx)
		if info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > campaignHistoryBound {
			c.drained(ctx, rowsCh, endedCh)
			return CampaignStatus{}, workflow.NewContinueAsNewError(ctx, Campaign, CampaignInput{ID: c.id, Carry: c.carry()})
		}
	}
}

// selector is a selector over the campaign's two signal channels.
func (c *campaignRun) selector(ctx workflow.Context, rowsCh, endedCh workflow.ReceiveChannel) workflow.Selector {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(rowsCh, func(ch workflow.ReceiveChannel, _ bool) {
		var rows CampaignRows
		ch.Receive(ctx, &rows)
		c.addRows(rows)
	})
	sel.AddReceive(endedCh, func(ch workflow.ReceiveChannel, _ bool) {
		var e PipelineEnded
		ch.Receive(ctx, &e)
		c.ended(e)
	})
	return sel
}

// drained takes every signal already delivered, so that none is lost when the run ends
// or continues as new. It returns true.
func (c *campaignRun) drained(ctx workflow.Context, rowsCh, endedCh workflow.ReceiveChannel) bool {
	for {
		var rows CampaignRows
		if rowsCh.ReceiveAsync(&rows) {
			c.addRows(rows)
			continue
		}
		var e PipelineEnded
		if endedCh.ReceiveAsync(&e) {
			c.ended(e)
			continue
		}
		return true
	}
}

func (c *campaignRun) addRows(rows CampaignRows) {
	for _, r := range rows.Rows {
		item, ok := c.row(r.ID)
		switch {
		case !ok:
			c.put(CampaignItem{ID: r.ID, RunID: r.RunID, Outcome: OutcomeRunning})
		case r.RunID != "" && item.RunID != r.RunID:
			// Started again (a rerun of a failed row): it runs, unless this very run's
			// end came first (the signal of a fast pipeline can overtake the CLI's).
			*item = CampaignItem{ID: r.ID, RunID: r.RunID, Outcome: OutcomeRunning}
		}
	}
}

func (c *campaignRun) ended(e PipelineEnded) {
	c.put(CampaignItem{ID: e.ID, RunID: e.RunID, Outcome: e.Outcome, Reason: e.Reason})
	if e.At.After(c.lastEndAt) {
		c.lastEndAt = e.At
	}
}

func (c *campaignRun) running() int {
	n := 0
	for _, r := range c.rows {
		if r.Outcome == OutcomeRunning {
			n++
		}
	}
	return n
}

// sortedRows lists the rows by ID.
func (c *campaignRun) sortedRows() []CampaignItem {
	out := slices.Clone(c.rows)
	slices.SortFunc(out, func(x, y CampaignItem) int { return strings.Compare(x.ID, y.ID) })
	return out
}

func (c *campaignRun) carry() *CampaignCarry {
	return &CampaignCarry{StartedAt: c.startedAt, LastEndAt: c.lastEndAt, Rows: c.sortedRows()}
}

func (c *campaignRun) status() CampaignStatus {
	st := CampaignStatus{ID: c.id, StartedAt: c.startedAt, LastEndAt: c.lastEndAt}
	for _, r := range c.sortedRows() {
		st.Rows++
		switch r.Outcome {
		case OutcomeRunning:
			st.Running++
		case OutcomeDone:
			st.Done++
		case OutcomeFailedSteps:
			st.Partial++
		case OutcomeCancelled:
			st.Cancelled++
		default:
			st.Failed++
		}
		if r.Outcome != OutcomeRunning && r.Outcome != OutcomeDone && len(st.Failures) < maxCampaignFailures {
			st.Failures = append(st.Failures, r)
		}
	}
	return st
}

// tellCampaign signals the pipeline's campaign, if it has one, how it ended. A campaign
// that no longer runs (terminated) is not an error of the pipeline: the signal is best
// effort, and `start --rows` of the campaign counts its rows again.
func (p *pipelineRun) tellCampaign(ctx workflow.Context, res PipelineResult, err error) {
	campaign := p.in.Schedule.Campaign
	if campaign == "" {
		return
	}
	e := PipelineEnded{ID: p.id, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID, Outcome: OutcomeDone, At: workflow.Now(ctx)}
	switch {
	case err != nil && (ctx.Err() != nil || temporal.IsCanceledError(err)):
		e.Outcome, e.Reason = OutcomeCancelled, "cancelled"
	case err != nil:
		e.Outcome, e.Reason = OutcomeFailed, rootMessage(err)
	default:
		for _, s := range res.Steps {
			if s.State == StateFailed || s.State == StateCancelled {
				e.Outcome = OutcomeFailedSteps
				e.Reason = s.Step + ": " + s.FailureMessage
				break
			}
		}
	}
	sctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	if serr := workflow.SignalExternalWorkflow(sctx, CampaignWorkflowIDFor(campaign), "", SignalCampaignEnded, e).Get(sctx, nil); serr != nil {
		p.logger.Warn("tell the campaign", "Campaign", campaign, "Error", serr)
	}
}
