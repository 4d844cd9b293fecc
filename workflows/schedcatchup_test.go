package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fill queues n waiters of campaign c (its own key), named c0, c1, ...
func fill(q *schedQueue, c string, from, n int) {
	for i := from; i < from+n; i++ {
		qpush(q, 3, c, 0, c, fmt.Sprintf("%s%d", c, i))
	}
}

// runs lists the lengths of the runs of equal first letters in ids: "aabab" is 2,1,1,1.
func runs(ids []string) []int {
	var out []int
	for i, id := range ids {
		if i > 0 && id[0] == ids[i-1][0] {
			out[len(out)-1]++
			continue
		}
		out = append(out, 1)
	}
	return out
}

// TestQueueCatchUpLateCampaign: campaign a holds the account's 4 slots before b asks.
// With catch-up, b is granted the next 4 (what a took alone), then the two alternate, so
// their medians are granted one place apart. v0.1.0's queue (no catch-up) alternates at
// once, and b's median is granted 9 places after a's: the head start, kept to the end.
func TestQueueCatchUpLateCampaign(t *testing.T) {
	for _, c := range []struct {
		name    string
		q       *schedQueue
		first   []int
		medians int // b's 15th grant's place less a's
	}{
		{"catch-up", catchUpQueue(queueState{}, 4), []int{4, 1, 1, 1}, 1},
		{"v0.1.0", newSchedQueue(queueState{}), []int{1, 1, 1, 1}, 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			fill(c.q, "a", 0, 30)
			granted := drain(c.q, 4)
			fill(c.q, "b", 0, 30)
			granted = append(granted, drain(c.q, -1)...)
			require.Len(t, granted, 60)
			assert.Equal(t, c.first, runs(granted[4:])[:4], "the grants after b asks: %v", granted[4:16])
			a15, b15 := slices.Index(granted, "a14"), slices.Index(granted, "b14")
			assert.Equal(t, c.medians, b15-a15, "b's median grant after a's")
		})
	}
}

// TestQueueCatchUpIsBounded: however long a was granted alone, a late campaign catches up
// on one round of the account's slots at most, then alternates: it does not take every
// grant until it has had as many as a.
func TestQueueCatchUpIsBounded(t *testing.T) {
	q := catchUpQueue(queueState{}, 4)
	fill(q, "a", 0, 200)
	drain(q, 100)
	fill(q, "b", 0, 50)
	got := drain(q, 20)
	assert.Equal(t, []int{4, 1, 1, 1, 1}, runs(got)[:5], "four of b's first, then one each: %v", got)
}

// TestQueueCatchUpNoFreshCredit: a campaign whose rows ask one by one (its key empties at
// every grant) comes back at the pass it left at, not with a new credit each time: after
// its first catch-up it alternates with the campaign that waits. A one-off (no campaign)
// gets no credit: it starts level, one turn behind a.
func TestQueueCatchUpNoFreshCredit(t *testing.T) {
	q := catchUpQueue(queueState{}, 4)
	fill(q, "a", 0, 20)
	got := drain(q, 4)
	for i := range 8 {
		qpush(q, 3, "b", 0, "b", fmt.Sprintf("b%d", i))
		got = append(got, drain(q, 1)...)
	}
	// b's first four take a's head start back, one at a time as they ask; from then on
	// a and b alternate, a first on ties.
	assert.Equal(t, []string{"a0", "a1", "a2", "a3", "b0", "b1", "b2", "b3", "a4", "b4", "a5", "b5"}, got)
	qpush(q, 3, "one-off", 0, "", "o")
	assert.Equal(t, []string{"a6", "b6", "o"}, drain(q, 3), "a one-off starts level: a's and b's turn, then its own")
	assert.LessOrEqual(t, len(q.idle), 5, "only keys within a round of the virtual time are remembered")
}

// TestQueueCatchUpForgets: a thousand campaigns, each asking once when the last has been
// granted, while campaign a waits: they share one round of credit (the mark), so a keeps
// its turn, the remembered keys stay bounded by a few rounds, and the carried state
// restores the same order.
func TestQueueCatchUpForgets(t *testing.T) {
	q := catchUpQueue(queueState{}, 4)
	fill(q, "a", 0, 2000)
	maxIdle := 0
	var got []string
	for i := range 1000 {
		c := fmt.Sprintf("c%04d", i)
		qpush(q, 3, c, 0, c, c)
		for !slices.Contains(got, c) {
			got = append(got, drain(q, 1)...)
		}
		maxIdle = max(maxIdle, len(q.idle))
	}
	t.Logf("remembered keys: at most %d; grants: %v", maxIdle, got[:12])
	assert.LessOrEqual(t, maxIdle, 16, "a few rounds' worth")
	as := 0
	for _, id := range got {
		if id[0] == 'a' {
			as++
		}
	}
	assert.GreaterOrEqual(t, as, len(got)/3, "a waiting campaign keeps its turn among a stream of new ones")
	fill(q, "b", 0, 10)
	b, err := json.Marshal(q.state())
	require.NoError(t, err)
	var st queueState
	require.NoError(t, json.Unmarshal(b, &st))
	assert.Equal(t, drain(catchUpQueue(st, 4), -1), drain(q, -1), "carried, the same order")
}

// TestSchedulerCatchUp: the scheduler workflow, an account of 2 slots. Campaign a asks
// for 8 and holds both slots; a minute later campaign b asks for 8. As slots free one a
// minute, b is granted the next two, and then the campaigns alternate.
func TestSchedulerCatchUp(t *testing.T) {
	se := newSchedEnv(t)
	ask := func(c string) {
		for i := range 8 {
			r := slotReq(fmt.Sprintf("%s%d", c, i), 2)
			r.Campaign = c
			se.acquire(r)
		}
	}
	se.cb.at(time.Second, func() { ask("a") })
	se.cb.at(time.Minute, func() { ask("b") })
	for i := range 14 {
		se.cb.at(time.Duration(2+i)*time.Minute, func() {
			held := heldIDs(se.status(t))
			require.NotEmpty(t, held)
			se.release(held[0])
		})
	}
	se.env.ExecuteWorkflow(Scheduler, SchedulerState{Account: "acct"})
	require.True(t, se.env.IsWorkflowCompleted())
	got := se.g.list()
	require.Len(t, got, 16)
	assert.Equal(t, []string{"a0", "a1"}, got[:2])
	assert.Equal(t, []int{2, 1, 1, 1, 1}, runs(got[2:])[:5], "b catches up on a's two, then they alternate: %v", got)
}
