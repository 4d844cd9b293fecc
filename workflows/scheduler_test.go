package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// grantLog records the scheduler's grant signals; fail makes the grant to a workflow
// ID fail, as it does when that Job's run has ended.
type grantLog struct {
	mu     sync.Mutex
	grants []string
	fail   map[string]bool
}

func (g *grantLog) signal(_, workflowID, _, _ string, _ any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.grants = append(g.grants, workflowID)
	if g.fail[workflowID] {
		return errors.New("workflow execution already completed")
	}
	return nil
}

func (g *grantLog) list() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.grants...)
}

// holderLog answers the holder checks: the workflow IDs in gone no longer run.
type holderLog struct {
	mu   sync.Mutex
	gone map[string]bool
}

func (h *holderLog) check(_ context.Context, in activities.CheckHoldersInput) (activities.CheckHoldersResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var res activities.CheckHoldersResult
	for _, r := range in.Holders {
		if h.gone[r.WorkflowID] {
			res.Gone = append(res.Gone, r)
		}
	}
	return res, nil
}

// balanceLog answers the balance reads: enough from the time credit is set.
type balanceLog struct {
	env    *testsuite.TestWorkflowEnvironment
	mu     sync.Mutex
	enough bool
	reads  []time.Time
}

func (b *balanceLog) check(context.Context, activities.CheckBalanceInput) (activities.CheckBalanceResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads = append(b.reads, b.env.Now())
	if b.enough {
		return activities.CheckBalanceResult{Remaining: 100, Enough: true}, nil
	}
	return activities.CheckBalanceResult{Remaining: 0, Message: "0 credits left"}, nil
}

func (b *balanceLog) set(enough bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.enough = enough
}

func (b *balanceLog) times() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.reads...)
}

type schedEnv struct {
	env     *testsuite.TestWorkflowEnvironment
	g       *grantLog
	h       *holderLog
	b       *balanceLog
	cb      *callbacks
	account string
}

func newSchedEnv(t *testing.T) *schedEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Scheduler)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: SchedulerWorkflowIDFor("acct")})
	se := &schedEnv{env: env, g: &grantLog{fail: map[string]bool{}}, h: &holderLog{gone: map[string]bool{}},
		b: &balanceLog{env: env}, cb: &callbacks{env: env}, account: "acct"}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalSlotGrant, mock.Anything).Return(se.g.signal)
	env.OnActivity(a.CheckHolders, mock.Anything, mock.Anything).Return(se.h.check).Maybe()
	env.OnActivity(a.CheckBalance, mock.Anything, mock.Anything).Return(se.b.check).Maybe()
	t.Cleanup(func() { se.cb.requireAllRan(t) })
	return se
}

// callbacks registers delayed checks and, at the end, requires that each one ran: a
// check in a callback that never fires would pass silently.
type callbacks struct {
	env       *testsuite.TestWorkflowEnvironment
	mu        sync.Mutex
	want, ran int
}

func (c *callbacks) at(d time.Duration, f func()) {
	c.want++
	c.env.RegisterDelayedCallback(func() {
		c.mu.Lock()
		c.ran++
		c.mu.Unlock()
		f()
	}, d)
}

func (c *callbacks) requireAllRan(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Equal(t, c.want, c.ran, "every delayed check ran")
}

// slotReq is a request of Job id with the worker's limit.
func slotReq(id string, limit int) activities.SlotRequest {
	return activities.SlotRequest{WorkflowID: id, RunID: "run-" + id, Limit: limit, Worker: "w1"}
}

func (se *schedEnv) acquire(r activities.SlotRequest) { se.env.SignalWorkflow(SignalSlotAcquire, r) }
func (se *schedEnv) release(id string) {
	se.env.SignalWorkflow(SignalSlotRelease, activities.SlotRequest{WorkflowID: id, RunID: "run-" + id})
}

func (se *schedEnv) status(t *testing.T) SchedulerStatus {
	t.Helper()
	v, err := se.env.QueryWorkflow(QueryQueue)
	require.NoError(t, err)
	var st SchedulerStatus
	require.NoError(t, v.Get(&st))
	return st
}

func heldIDs(st SchedulerStatus) []string {
	var out []string
	for _, h := range st.Held {
		out = append(out, h.WorkflowID)
	}
	return out
}

// TestSchedulerGrantOrder: a limit of 1 and a first holder; behind it two campaigns
// (weights 2 and 1) and a one-off queue at priority 3; then an urgent Job at priority
// 1. Each release grants one Job: the urgent one first, the one-off within a turn of
// the rotation, and the campaigns 2:1 while both wait. A worker that says another limit
// is reported, not obeyed. Idle, the scheduler ends.
func TestSchedulerGrantOrder(t *testing.T) {
	se := newSchedEnv(t)
	env := se.env
	se.cb.at(time.Second, func() {
		se.acquire(slotReq("first", 1))
		for i := range 6 {
			r := slotReq(fmt.Sprintf("a%d", i), 1)
			r.Campaign, r.FairnessWeight = "a", 2
			se.acquire(r)
			r = slotReq(fmt.Sprintf("b%d", i), 1)
			r.Campaign = "b"
			se.acquire(r)
		}
		se.acquire(slotReq("oneoff", 1))
		urgent := slotReq("urgent", 4) // a worker configured with another limit
		urgent.Priority, urgent.Worker = PriorityHighest, "w2"
		se.acquire(urgent)
	})
	se.cb.at(time.Minute, func() {
		st := se.status(t)
		assert.Equal(t, 1, st.Limit, "the first limit heard is kept")
		assert.Equal(t, []string{"worker w2 says 4"}, st.LimitMismatch)
		assert.Equal(t, []string{"first"}, heldIDs(st))
		assert.Equal(t, 14, st.Waiting)
		require.NotEmpty(t, st.Next)
		assert.Equal(t, "urgent", st.Next[0].WorkflowID)
		assert.Equal(t, "acct", st.Account)
	})
	// One release a minute; each frees the only slot for the next Job.
	for i := range 15 {
		se.cb.at(time.Duration(2+i)*time.Minute, func() {
			held := heldIDs(se.status(t))
			require.Len(t, held, 1)
			se.release(held[0])
		})
	}
	env.ExecuteWorkflow(Scheduler, SchedulerState{Account: "acct"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "an idle scheduler ends")
	got := se.g.list()
	require.Len(t, got, 15)
	assert.Equal(t, []string{"first", "urgent"}, got[:2], "the most urgent goes first")
	assert.Contains(t, got[2:6], "oneoff", "a one-off waits one turn of the rotation, not for the campaigns")
	var campaigns []string
	for _, id := range got {
		if id[0] == 'a' || id[0] == 'b' {
			campaigns = append(campaigns, id)
		}
	}
	var as, bs int
	for _, id := range campaigns[:9] { // while both campaigns wait
		if id[0] == 'a' {
			as++
		} else {
			bs++
		}
	}
	assert.Equal(t, 2*bs, as, "weights 2:1 while both campaigns wait: %v", got)
}

// TestSchedulerPauseAndResume: a create refused for credit pauses the account: the
// refused Job's slot is free but nothing is granted, the balance is read with backoff
// capped at a minute, and when it is back the refused Job goes first, then the rest.
func TestSchedulerPauseAndResume(t *testing.T) {
	se := newSchedEnv(t)
	env := se.env
	var pausedAt time.Time
	se.cb.at(time.Second, func() {
		for _, id := range []string{"j1", "j2", "j3"} {
			se.acquire(slotReq(id, 2))
		}
	})
	se.cb.at(time.Minute, func() {
		assert.Equal(t, []string{"j1", "j2"}, heldIDs(se.status(t)))
		r := slotReq("j1", 2)
		r.Refused, r.Message = true, "insufficient credit: 0 left"
		se.acquire(r)
		pausedAt = env.Now()
		se.release("j2") // a slot frees, but the account is paused
	})
	se.cb.at(2*time.Minute, func() {
		st := se.status(t)
		assert.True(t, st.Paused)
		assert.Equal(t, "0 credits left", st.PauseReason, "the balance read's message")
		assert.Empty(t, heldIDs(st), "nothing granted while paused")
		require.Len(t, st.Next, 2)
		assert.Equal(t, "j1", st.Next[0].WorkflowID, "the refused Job keeps its turn")
	})
	se.cb.at(10*time.Minute, func() { se.b.set(true) })
	se.cb.at(12*time.Minute, func() {
		st := se.status(t)
		assert.False(t, st.Paused)
		assert.Equal(t, []string{"j1", "j3"}, heldIDs(st))
		se.release("j1")
		se.release("j3")
	})
	env.ExecuteWorkflow(Scheduler, SchedulerState{Account: "acct"})
	require.NoError(t, env.GetWorkflowError())
	grants := se.g.list()
	require.Len(t, grants, 4)
	assert.ElementsMatch(t, []string{"j1", "j2"}, grants[:2], "granted together")
	assert.ElementsMatch(t, []string{"j1", "j3"}, grants[2:], "granted together on resume")
	reads := se.b.times()
	require.GreaterOrEqual(t, len(reads), 8)
	gaps := []time.Duration{}
	prev := pausedAt
	for _, r := range reads {
		gaps = append(gaps, r.Sub(prev).Round(time.Second))
		prev = r
	}
	assert.Equal(t, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute}, gaps[:6],
		"backoff doubling from 5 s, capped at a minute")
	assert.LessOrEqual(t, reads[len(reads)-1].Sub(pausedAt.Add(9*time.Minute)), 2*time.Minute, "resumed within a minute of the credit")
}

// TestSchedulerMinBalance: with a reserve configured the scheduler reads the balance
// before granting, and pauses when it is not enough, before HeyGen refuses anything.
func TestSchedulerMinBalance(t *testing.T) {
	se := newSchedEnv(t)
	env := se.env
	se.cb.at(time.Second, func() {
		r := slotReq("j1", 2)
		r.MinBalance = 10
		se.acquire(r)
	})
	se.cb.at(time.Minute, func() {
		st := se.status(t)
		assert.True(t, st.Paused, "under the reserve: paused before any create")
		assert.Empty(t, st.Held)
		se.b.set(true)
	})
	se.cb.at(3*time.Minute, func() {
		assert.Equal(t, []string{"j1"}, heldIDs(se.status(t)))
		se.release("j1")
	})
	env.ExecuteWorkflow(Scheduler, SchedulerState{Account: "acct"})
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"j1"}, se.g.list())
}

// TestSchedulerBudget: a campaign with a budget of 2 starts two Jobs; the others wait as
// over budget, while another campaign's Job still gets a slot. A request with a larger
// budget (a new start of the campaign) lets them continue.
func TestSchedulerBudget(t *testing.T) {
	se := newSchedEnv(t)
	env := se.env
	camp := func(id string, budget int) activities.SlotRequest {
		r := slotReq(id, 5)
		r.Campaign, r.Budget = "spring", budget
		return r
	}
	se.cb.at(time.Second, func() {
		for i := range 4 {
			se.acquire(camp(fmt.Sprintf("c%d", i), 2))
		}
		se.acquire(slotReq("other", 5))
	})
	se.cb.at(time.Minute, func() {
		st := se.status(t)
		assert.Equal(t, []string{"c0", "c1", "other"}, heldIDs(st))
		require.Len(t, st.Next, 2)
		assert.True(t, st.Next[0].OverBudget)
		require.Len(t, st.Campaigns, 1)
		assert.Equal(t, CampaignShare{Campaign: "spring", Started: 2, Budget: 2, Held: 2, Waiting: 2, OverBudget: 2}, st.Campaigns[0])
		se.acquire(camp("c2", 4)) // `start` again with a budget of 4: c2 re-asks carrying it
	})
	se.cb.at(2*time.Minute, func() {
		st := se.status(t)
		assert.Equal(t, []string{"c0", "c1", "other", "c2", "c3"}, heldIDs(st))
		for _, id := range heldIDs(st) {
			se.release(id)
		}
	})
	env.ExecuteWorkflow(Scheduler, SchedulerState{Account: "acct"})
	require.NoError(t, env.GetWorkflowError())
	assert.Len(t, se.g.list(), 5)
}

// TestSchedulerFreesAGoneHolder: the holder of the only slot is terminated; the holder
// check notices within schedulerCheckEvery, and the next Job gets the slot. A grant that
// cannot be delivered frees its slot at once.
func TestSchedulerFreesAGoneHolder(t *testing.T) {
	se := newSchedEnv(t)
	env := se.env
	se.g.fail["vanished"] = true
	se.cb.at(time.Second, func() {
		se.acquire(slotReq("vanished", 1))
		se.acquire(slotReq("held", 1))
		se.acquire(slotReq("next", 1))
	})
	se.cb.at(time.Minute, func() {
		assert.Equal(t, []string{"held"}, heldIDs(se.status(t)), "the undeliverable grant freed its slot")
		se.h.mu.Lock()
		se.h.gone["held"] = true // terminated from the UI
		se.h.mu.Unlock()
	})
	se.cb.at(time.Minute+schedulerCheckEvery+time.Second, func() {
		assert.Equal(t, []string{"next"}, heldIDs(se.status(t)))
		se.release("next")
	})
	env.ExecuteWorkflow(Scheduler, SchedulerState{Account: "acct"})
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"vanished", "held", "next"}, se.g.list())
}

// The scale: 10,000 waiting Jobs and 100 slots, asking over longRuns runs.
const (
	longQueue   = 10_000
	longHolders = 100
	longRuns    = 5
	longPerRun  = (longQueue + longHolders) / longRuns
	longBatch   = longPerRun / 4
)

// longReq is the ith Job's request: IDs as long and as random as real ones, five
// priorities, four campaigns with weights 1, 2, 1 and 3 and a budget none reaches.
func longReq(i int) activities.SlotRequest {
	c := i % 4
	return activities.SlotRequest{WorkflowID: fmt.Sprintf("spring-campaign-%d-%05d/render", c, i),
		RunID: fakeUUID("r", i), ExecRunID: fakeUUID("e", i), Lease: 90 * time.Minute,
		Priority: 1 + i%5, Campaign: fmt.Sprintf("spring-campaign-%d", c), FairnessWeight: []float64{1, 2, 1, 3}[c],
		Budget: 2 * longQueue, Limit: longHolders, Worker: "w1"}
}

// longReference is the queue the scheduler should hold: the same requests queued in
// order by a bare schedQueue, each granted on arrival while a slot was free.
func longReference() (q *schedQueue, granted []string) {
	q = catchUpQueue(queueState{}, longHolders)
	for i := range longQueue + longHolders {
		r := longReq(i)
		q.campaign(r.Campaign).Budget = r.Budget
		q.push(r.Priority, fairnessKeyOf(r), r.FairnessWeight, waiter{WorkflowID: r.WorkflowID, RunID: r.RunID, Campaign: r.Campaign}, false)
		if len(granted) < longHolders {
			w, _, _ := q.next()
			granted = append(granted, w.WorkflowID)
		}
	}
	return q, granted
}

// carried is what a continue-as-new carries: its state, and its payload's size.
func carried(t *testing.T, env *testsuite.TestWorkflowEnvironment) (SchedulerState, int) {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can)
	size := 0
	for _, p := range can.Input.GetPayloads() {
		size += len(p.GetData())
	}
	var next SchedulerState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next, size
}

// TestSchedulerContinuesAsNewWithALongQueue: 10,100 Jobs ask an account of 100 slots
// over five runs, each continuing as new after its share of the signals. Every run
// carries all the holders and the whole queue: after the last, exactly the first 100
// hold a slot and the 10,000 others wait, each once, with its run IDs and lease, in the
// order a queue that never continued would grant them; each carried state is well under
// Temporal's 2 MB payload limit. The next run grants nothing while the 100 slots are
// held (none doubled); a holder or a waiter that asks again takes no second place; ten
// releases make exactly ten grants, to the next ten in that order (none lost).
func TestSchedulerContinuesAsNewWithALongQueue(t *testing.T) {
	ref, firstGranted := longReference()
	want := drain(ref, -1)
	require.Len(t, want, longQueue)

	st := SchedulerState{Account: "acct", SignalsPerRun: longPerRun}
	largest := 0
	for run := range longRuns {
		se := newSchedEnv(t)
		// The test environment buffers 1,000 callbacks: the signals go in batches.
		for b := range longPerRun / longBatch {
			se.cb.at(time.Duration(1+b)*time.Second, func() {
				from := run*longPerRun + b*longBatch
				for i := from; i < from+longBatch; i++ {
					se.acquire(longReq(i))
				}
			})
		}
		se.env.ExecuteWorkflow(Scheduler, st)
		var size int
		st, size = carried(t, se.env)
		assert.Less(t, size, 2_000_000, "run %d's carried state fits Temporal's payload limit", run)
		largest = max(largest, size)
		if run == 0 {
			// (The mocked signals run concurrently: the log's order is not the grants'.)
			assert.ElementsMatch(t, firstGranted, se.g.list(), "the first 100 to ask are granted as they come")
		} else {
			assert.Empty(t, se.g.list(), "run %d: no slot is free, nothing is granted", run)
		}
	}
	t.Logf("%d waiters and %d holders carried in %d bytes", longQueue, longHolders, largest)

	// The last carried state: the holders and every waiter, once each, in order.
	var holders []string
	for _, h := range st.Holders {
		holders = append(holders, h.WorkflowID)
		assert.Equal(t, h.Granted.Add(90*time.Minute), h.Until, "the lease runs from the grant")
	}
	assert.Equal(t, firstGranted, holders)
	qs, err := unpackQueue(st.QueueZ)
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, f := range qs.Flows {
		for _, w := range f.Waiters {
			require.False(t, seen[w.WorkflowID], "%s carried twice", w.WorkflowID)
			seen[w.WorkflowID] = true
			r := longReq(idIndex(t, w.WorkflowID))
			assert.Equal(t, r.RunID, w.RunID)
			assert.Equal(t, r.ExecRunID, w.ExecRunID)
			assert.Equal(t, int64(90*60), w.Lease)
			assert.Equal(t, r.Campaign, w.Campaign)
		}
	}
	assert.Len(t, seen, longQueue, "every waiter carried")
	assert.Equal(t, want, drain(catchUpQueue(qs, longHolders), -1), "in the order of a queue that never continued")
	require.Len(t, qs.Campaigns, 4)
	for _, c := range qs.Campaigns {
		assert.Equal(t, longHolders/4, c.Started, "%s: the grants counted against its budget are carried", c.Campaign)
	}

	// The next run: full, so nothing is granted; asking again takes no second place; ten
	// releases, ten grants in order.
	se := newSchedEnv(t)
	st.SignalsPerRun = 0
	se.cb.at(time.Second, func() {
		s := se.status(t)
		assert.Equal(t, longHolders, s.Limit)
		assert.Len(t, s.Held, longHolders)
		assert.Equal(t, longQueue, s.Waiting)
		se.acquire(longReq(50))              // a holder asks again: its grant is sent again
		se.acquire(longReq(longHolders + 7)) // a waiter asks again
	})
	se.cb.at(time.Minute, func() {
		s := se.status(t)
		assert.Len(t, s.Held, longHolders)
		assert.Equal(t, longQueue, s.Waiting, "no second place")
		for _, id := range firstGranted[:10] {
			se.env.SignalWorkflow(SignalSlotRelease, activities.SlotRequest{WorkflowID: id, RunID: longReq(idIndex(t, id)).RunID})
		}
	})
	se.cb.at(2*time.Minute, func() {
		s := se.status(t)
		held := heldIDs(s)
		require.Len(t, held, longHolders, "ten released, ten granted")
		assert.Equal(t, firstGranted[10:], held[:longHolders-10], "the others still hold theirs")
		assert.Equal(t, want[:10], held[longHolders-10:], "the next ten in order")
		assert.Equal(t, longQueue-10, s.Waiting)
		se.env.CancelWorkflow()
	})
	se.env.ExecuteWorkflow(Scheduler, st)
	assert.ElementsMatch(t, append([]string{longReq(50).WorkflowID}, want[:10]...), se.g.list(),
		"the holder's grant again, and one grant per release")
}

// idIndex is the index longReq gave id.
func idIndex(t *testing.T, id string) int {
	t.Helper()
	var i int
	_, err := fmt.Sscanf(id[len("spring-campaign-0-"):], "%05d", &i)
	require.NoError(t, err)
	return i
}
