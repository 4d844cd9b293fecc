package devstack

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

// TestCampaignsShareTheAccount: campaign A queues all its rows, then campaign B and a
// one-off queue behind it. With fair shares the scheduler alternates A and B while both
// wait (first come, first served would grant all of A first), the one-off is granted
// within the first turn, B's pipelines finish among A's, every pipeline completes and
// the account sees no 429.
//
// The account is held paused (a reserve of 1 credit and none in the sandbox) until all
// have queued, then topped up. Without the hold the test raced B's start-up against A's
// renders: on a loaded machine B's first request reached the scheduler 1.7 to 3.3 s after
// A's, by when A had been granted up to 5 rows with B not yet waiting, and only 1 of B's
// rows closed among the first 6 (the test's old flake). The scheduler's own history,
// read back below, shows which Jobs waited at each grant, so the order is checked as
// the scheduler decided it.
func TestCampaignsShareTheAccount(t *testing.T) {
	const limit = 2
	st := heldAccountStack(t, limit, 400*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := campaignRows("share-a", 6), campaignRows("share-b", 6)
	oneOff := welcome("share-one-off")
	runs := startAll(ctx, t, st, a)
	waitUntil(ctx, t, "campaign A to queue", queuedWhileHeld(ctx, st, len(a)))
	runs = append(runs, startAll(ctx, t, st, append(slices.Clone(b), oneOff))...)
	waitUntil(ctx, t, "campaign B and the one-off to queue behind A", queuedWhileHeld(ctx, st, len(a)+len(b)+1))
	require.Zero(t, st.Sandbox.Stats().CreateRequests, "nothing created while held")
	require.NoError(t, st.Sandbox.SetCredits(1000))
	requireAllComplete(ctx, t, runs)
	require.Zero(t, st.Sandbox.Stats().ConcurrencyLimited, "no concurrency 429")

	// The grant order, as the scheduler decided it.
	log := readSchedulerLog(ctx, t, st)
	got := log.grantsTo()
	require.Len(t, got, len(a)+len(b)+1, "one grant per Job")
	require.Contains(t, got[:3], workflows.JobWorkflowID(oneOff.ID, workflows.StepRender),
		"the one-off is granted within the first turn: %v", got)
	var both []string // the campaigns granted while both waited
	for _, g := range log.grants {
		if g.to != workflows.JobWorkflowID(oneOff.ID, workflows.StepRender) &&
			slices.ContainsFunc(g.waiting, isRow("share-a")) && slices.ContainsFunc(g.waiting, isRow("share-b")) {
			both = append(both, g.to[:len("share-a")])
		}
	}
	require.GreaterOrEqual(t, len(both), 2*len(b)-1, "both campaigns waited for most of the run: %v", got)
	for i := 1; i < len(both); i++ {
		require.NotEqual(t, both[i-1], both[i], "while both wait, the campaigns alternate: %v", got)
	}

	// The outcome: B's pipelines finish among A's.
	type closed struct {
		id string
		at time.Time
	}
	var order []closed
	for _, in := range append(a, b...) {
		d, err := st.Client.DescribeWorkflowExecution(ctx, in.ID, "")
		require.NoError(t, err)
		order = append(order, closed{in.ID, d.GetWorkflowExecutionInfo().GetCloseTime().AsTime()})
	}
	slices.SortFunc(order, func(x, y closed) int { return x.at.Compare(y.at) })
	fromB := 0
	for _, c := range order[:len(a)] {
		if isRow("share-b")(c.id) {
			fromB++
		}
	}
	require.GreaterOrEqual(t, fromB, 2, "B shares the account while A waits: %v", order)
}

// isRow reports whether a pipeline or Job ID is one of campaign's rows (campaignRows).
func isRow(campaign string) func(string) bool {
	return func(id string) bool { return strings.HasPrefix(id, campaign+"-") }
}
