package workflows

import (
	"math"
	"slices"
	"time"
)

// The scheduler's queue: which waiting Job a free slot goes to.
//
//   - Priority first: a slot goes to the most urgent priority (1..5) that has a Job
//     which may start. A one-off at priority 1 waits for one slot to free, never for a
//     campaign at 3 to drain.
//   - Within a priority, weighted rotation between fairness keys: stride scheduling.
//     Each key (a flow) has a pass, in integer virtual time; a grant goes to the flow
//     with the lowest pass, which then advances by its stride, strideUnit divided by
//     its weight. Two campaigns with weights 2 and 1 are granted 2:1. A flow that was
//     idle, or is new, starts level with the flow that would be granted next (startPass),
//     so it neither catches up on time it did not wait nor waits behind the backlog of
//     the others: a one-off is granted within one turn of the rotation. Ties go to the
//     flow that came first, so a key that empties at each grant and asks again at once
//     (a campaign whose rows ask one by one) gets its turn after the waiting keys, not
//     every turn ahead of them.
//   - Catch-up (since change schedCatchUp): a campaign's key that arrives after others
//     have been granted alone starts up to one round behind the next flow, a round being
//     the account's limit in grants of weight 1 (catchUpLag), so that two campaigns
//     started a moment apart progress together instead of the first keeping its head
//     start. The credit is bounded: no flow's pass counts as lower than the virtual time
//     less one round (floor), and a key that empties is remembered at its pass (idle)
//     while that pass is above the floor, so that a campaign whose rows ask one by one
//     gets back only what it actually fell behind, never a fresh credit at each return.
//     The credit is also no more than the rotation advanced since the last campaign key
//     started (mark), so that a stream of new campaigns cannot keep a waiting one from
//     its turn.
//     A key without a campaign (a one-off) gets no credit: it starts level, as before.
//   - Within a key, first come first served.
//   - A Job whose campaign has spent its budget is skipped (over budget) and keeps its
//     place.
//
// Everything is integer arithmetic over slices in arrival order, so that replay is
// exact: no map is iterated into a decision. The weight is turned into an integer stride
// once, by one IEEE division, which rounds the same on every CPU.
//
// The state is carried whole through continue-as-new, so a waiter is compact (short
// JSON names, times in Unix seconds): about 150 bytes with a 40-character workflow ID,
// 1.5 MB for 10,000 waiting Jobs, under Temporal's 2 MB payload limit. Past
// schedulerCarryBytes the newest waiters are not carried; they ask again within
// permitRefreshMax and queue anew (see scheduler.go).

// strideUnit is the stride of weight 1. Weights are clamped to [minWeight, maxWeight]
// (Temporal's own range for FairnessWeight), so a stride lies between about 1,000 and
// a billion: a pass does not overflow an int64 within 9 billion grants.
const (
	strideUnit = 1 << 20
	minWeight  = 0.001
	maxWeight  = 1000
)

// waiter is one Job waiting for a slot, as it is carried through continue-as-new.
type waiter struct {
	WorkflowID string `json:"w"`
	RunID      string `json:"r"`
	// ExecRunID is where the grant goes; omitted when it is RunID.
	ExecRunID string `json:"e,omitempty"`
	// Since is when the Job first asked, in Unix seconds; Lease is in seconds.
	Since    int64  `json:"s"`
	Lease    int64  `json:"l,omitempty"`
	Campaign string `json:"c,omitempty"`
}

// target is the run a grant to w is signalled to.
func (w waiter) target() string {
	if w.ExecRunID != "" {
		return w.ExecRunID
	}
	return w.RunID
}

// flowState is one fairness key's queue at one priority.
type flowState struct {
	Priority int      `json:"p"`
	Key      string   `json:"k"`
	Weight   float64  `json:"wt,omitempty"`
	Pass     int64    `json:"ps,omitempty"`
	Waiters  []waiter `json:"q"`
}

// stride is the flow's pass increment per grant.
func (f *flowState) stride() int64 { return strideOf(f.Weight) }

// strideOf turns a weight into a stride: 0 is weight 1.
func strideOf(weight float64) int64 {
	if weight == 0 || math.IsNaN(weight) {
		weight = 1
	}
	weight = min(max(weight, minWeight), maxWeight)
	return max(int64(strideUnit/weight), 1)
}

// flowKey names a flow in schedQueue.byKey.
type flowKey struct {
	priority int
	key      string
}

// campaignState is one campaign's budget and the grants counted against it.
type campaignState struct {
	Campaign string `json:"c"`
	Budget   int    `json:"b,omitempty"`
	Started  int    `json:"n,omitempty"`
}

// overBudget reports whether the campaign may start no more jobs.
func (c *campaignState) overBudget() bool { return c.Budget > 0 && c.Started >= c.Budget }

// queueState is the queue as carried through continue-as-new.
type queueState struct {
	Flows []flowState `json:"flows,omitempty"`
	// VTime is each priority's virtual time, index 0 for priority 1.
	VTime     []int64         `json:"vtime,omitempty"`
	Campaigns []campaignState `json:"campaigns,omitempty"`
	// Idle are campaign keys that emptied recently, at the pass they left at, and Mark is
	// each priority's pass when a campaign key last started (catch-up).
	Idle []idleFlow `json:"idle,omitempty"`
	Mark []int64    `json:"mark,omitempty"`
}

// idleFlow is a campaign's key that has no waiter now, remembered at its pass while
// that pass is above the floor, so that it comes back where it left.
type idleFlow struct {
	Priority int    `json:"p"`
	Key      string `json:"k"`
	Pass     int64  `json:"ps"`
}

// maxIdleFlows bounds the remembered keys, so that the carried state stays small.
const maxIdleFlows = 256

// catchUpLag is the credit a new campaign key may start with: one round of the account's
// slots, in passes of weight 1. An account without a limit gets one grant's worth.
func catchUpLag(limit int) int64 { return int64(max(limit, 1)) * strideUnit }

// schedQueue is the scheduler's waiting Jobs.
type schedQueue struct {
	// levels[p] are priority p's flows in arrival order; index 0 is unused.
	levels [PriorityLowest + 1][]*flowState
	vtime  [PriorityLowest + 1]int64
	// byKey finds a flow by priority and key; it is only looked up, never ranged.
	byKey map[flowKey]*flowState
	// where finds the flow a workflow ID waits in; it is only looked up, never ranged.
	where     map[string]*flowState
	campaigns map[string]*campaignState
	// campaignOrder lists campaigns in arrival order, for the carried state and status.
	campaignOrder []string
	n             int
	// catchUp turns on the catch-up credit (change schedCatchUp), of lag in passes.
	catchUp bool
	lag     int64
	idle    []idleFlow
	mark    [PriorityLowest + 1]int64
}

func newSchedQueue(st queueState) *schedQueue {
	q := &schedQueue{where: map[string]*flowState{}, campaigns: map[string]*campaignState{}, byKey: map[flowKey]*flowState{}}
	for i, v := range st.VTime {
		if i+1 <= PriorityLowest {
			q.vtime[i+1] = v
		}
	}
	q.idle = slices.Clone(st.Idle)
	for i, m := range st.Mark {
		if i+1 <= PriorityLowest {
			q.mark[i+1] = m
		}
	}
	for _, c := range st.Campaigns {
		q.campaign(c.Campaign).Budget, q.campaign(c.Campaign).Started = c.Budget, c.Started
	}
	for i := range st.Flows {
		f := st.Flows[i]
		f.Priority = normPriority(f.Priority)
		f.Waiters = slices.Clone(f.Waiters)
		fp := &f
		q.levels[f.Priority] = append(q.levels[f.Priority], fp)
		q.byKey[flowKey{f.Priority, f.Key}] = fp
		for _, w := range f.Waiters {
			q.where[w.WorkflowID] = fp
			q.n++
		}
	}
	return q
}

// normPriority maps 0 and out-of-range values to the default.
func normPriority(p int) int {
	if p < PriorityHighest || p > PriorityLowest {
		return PriorityDefault
	}
	return p
}

// state returns the queue to carry: flows by priority, each in arrival order.
func (q *schedQueue) state() queueState {
	var st queueState
	for p := PriorityHighest; p <= PriorityLowest; p++ {
		st.VTime = append(st.VTime, q.vtime[p])
		for _, f := range q.levels[p] {
			st.Flows = append(st.Flows, *f)
		}
	}
	for _, c := range q.campaignOrder {
		st.Campaigns = append(st.Campaigns, *q.campaigns[c])
	}
	st.Idle = slices.Clone(q.idle)
	if q.catchUp {
		st.Mark = slices.Clone(q.mark[PriorityHighest:])
	}
	return st
}

// campaign returns the campaign's state, creating it.
func (q *schedQueue) campaign(name string) *campaignState {
	c, ok := q.campaigns[name]
	if !ok {
		c = &campaignState{Campaign: name}
		q.campaigns[name] = c
		q.campaignOrder = append(q.campaignOrder, name)
	}
	return c
}

// eligible reports whether w may be granted now.
func (q *schedQueue) eligible(w *waiter) bool {
	if w.Campaign == "" {
		return true
	}
	c, ok := q.campaigns[w.Campaign]
	return !ok || !c.overBudget()
}

// find returns the waiter of workflowID, or nil.
func (q *schedQueue) find(workflowID string) *waiter {
	f, ok := q.where[workflowID]
	if !ok {
		return nil
	}
	i := slices.IndexFunc(f.Waiters, func(w waiter) bool { return w.WorkflowID == workflowID })
	return &f.Waiters[i]
}

// flow returns the flow of key at priority p, appending a new one (at startPass, less
// the catch-up credit for a campaign's key) when there is none. A new weight replaces
// the flow's.
func (q *schedQueue) flow(p int, key string, weight float64, campaign bool) *flowState {
	if f, ok := q.byKey[flowKey{p, key}]; ok {
		if weight != 0 {
			f.Weight = weight
		}
		return f
	}
	start := q.startPass(p)
	if q.catchUp && campaign {
		if i := slices.IndexFunc(q.idle, func(f idleFlow) bool { return f.Priority == p && f.Key == key }); i >= 0 {
			// A key that left recently comes back where it left (no lower than the floor).
			start = max(start-q.lag, q.idle[i].Pass)
			q.idle = slices.Delete(q.idle, i, i+1)
		} else {
			// A new key's credit is what the rotation advanced since the last new
			// campaign key started, at most one round: a stream of new campaigns shares
			// it, and cannot keep a waiting campaign from its turn.
			credit := min(q.lag, max(start-q.mark[p], 0))
			q.mark[p] = start
			start -= credit
		}
	}
	f := &flowState{Priority: p, Key: key, Weight: weight, Pass: start}
	q.levels[p] = append(q.levels[p], f)
	q.byKey[flowKey{p, key}] = f
	return f
}

// startPass is the pass a new flow at priority p starts at: that of the flow that would
// be granted next, or the virtual time when none may be. Not the virtual time itself, the
// pass of the last grant: a flow granted there that empties, and comes back before the
// next grant, would start there again, below every waiting flow, and take the turn again.
func (q *schedQueue) startPass(p int) int64 {
	start, found := q.vtime[p], false
	for _, f := range q.levels[p] {
		pass := max(f.Pass, q.floor(p))
		if found && pass >= start {
			continue
		}
		if q.firstEligible(f) >= 0 {
			start, found = pass, true
		}
	}
	return start
}

// floor is the lowest pass a flow at priority p counts as: the virtual time, less one
// round with catch-up.
func (q *schedQueue) floor(p int) int64 {
	if q.catchUp {
		return q.vtime[p] - q.lag
	}
	return q.vtime[p]
}

// push queues w at the back of its key's flow, or at the front when front is set (a
// Job whose create was refused for credit keeps its turn).
func (q *schedQueue) push(p int, key string, weight float64, w waiter, front bool) {
	p = normPriority(p)
	f := q.flow(p, key, weight, w.Campaign != "")
	if front {
		// Its turn comes first: the front of its key, and its key first at the
		// virtual time, ahead of the ties.
		f.Waiters = slices.Insert(f.Waiters, 0, w)
		f.Pass = min(f.Pass, q.vtime[p])
		if i := slices.Index(q.levels[p], f); i > 0 {
			q.levels[p] = slices.Insert(slices.Delete(q.levels[p], i, i+1), 0, f)
		}
	} else {
		f.Waiters = append(f.Waiters, w)
	}
	q.where[w.WorkflowID] = f
	q.n++
	if w.Campaign != "" {
		q.campaign(w.Campaign)
	}
}

// remove takes workflowID's waiter off the queue.
func (q *schedQueue) remove(workflowID string) (waiter, bool) {
	f, ok := q.where[workflowID]
	if !ok {
		return waiter{}, false
	}
	i := slices.IndexFunc(f.Waiters, func(w waiter) bool { return w.WorkflowID == workflowID })
	w := f.Waiters[i]
	f.Waiters = slices.Delete(f.Waiters, i, i+1)
	delete(q.where, workflowID)
	q.n--
	if len(f.Waiters) == 0 {
		q.dropFlow(f, w.Campaign != "")
	}
	return w, true
}

// dropFlow forgets an empty flow: when its key comes back it starts at startPass. With
// catch-up, a campaign's key is remembered at its pass while that is above the floor,
// and the remembered keys whose pass has fallen to the floor are forgotten (they would
// start there anyway).
func (q *schedQueue) dropFlow(f *flowState, campaign bool) {
	delete(q.byKey, flowKey{f.Priority, f.Key})
	q.levels[f.Priority] = slices.DeleteFunc(q.levels[f.Priority], func(g *flowState) bool { return g == f })
	if !q.catchUp {
		return
	}
	q.idle = slices.DeleteFunc(q.idle, func(i idleFlow) bool {
		return i.Pass <= q.floor(i.Priority) || (i.Priority == f.Priority && i.Key == f.Key)
	})
	if campaign && f.Pass > q.floor(f.Priority) {
		q.idle = append(q.idle, idleFlow{Priority: f.Priority, Key: f.Key, Pass: f.Pass})
		if len(q.idle) > maxIdleFlows {
			q.idle = q.idle[1:] // the oldest: it comes back with at most a round's credit
		}
	}
}

// pick is the next grant: the flow and the index of its first eligible waiter, or nil.
func (q *schedQueue) pick() (*flowState, int) {
	for p := PriorityHighest; p <= PriorityLowest; p++ {
		var best *flowState
		bestIdx := -1
		var bestPass int64
		for _, f := range q.levels[p] {
			pass := max(f.Pass, q.floor(p))
			if best != nil && pass >= bestPass {
				continue // the cheap test first: most flows lose on their pass
			}
			if idx := q.firstEligible(f); idx >= 0 {
				best, bestIdx, bestPass = f, idx, pass
			}
		}
		if best != nil {
			return best, bestIdx
		}
	}
	return nil, -1
}

// firstEligible is the index of f's first waiter that may be granted, or -1.
func (q *schedQueue) firstEligible(f *flowState) int {
	for i := range f.Waiters {
		if q.eligible(&f.Waiters[i]) {
			return i
		}
	}
	return -1
}

// pop grants f's waiter at i: it leaves the queue, the flow's pass advances by its
// stride, and its campaign counts one more job started.
func (q *schedQueue) pop(f *flowState, i int) waiter {
	w := f.Waiters[i]
	p := f.Priority
	pass := max(f.Pass, q.floor(p))
	q.vtime[p] = max(q.vtime[p], pass) // a catch-up grant lies below it
	f.Pass = pass + f.stride()
	f.Waiters = slices.Delete(f.Waiters, i, i+1)
	delete(q.where, w.WorkflowID)
	q.n--
	if len(f.Waiters) == 0 {
		q.dropFlow(f, w.Campaign != "")
	}
	if w.Campaign != "" {
		q.campaign(w.Campaign).Started++
	}
	return w
}

// next grants the next waiter, if any may be granted.
func (q *schedQueue) next() (waiter, *flowState, bool) {
	f, i := q.pick()
	if f == nil {
		return waiter{}, nil, false
	}
	key := *f // the flow may be dropped by pop; its priority and key stay known
	w := q.pop(f, i)
	return w, &key, true
}

// preview lists up to n waiters in the order they would be granted if no Job came or
// went and budgets allowed, without changing the queue: it replays the grant order on a
// copy.
func (q *schedQueue) preview(n int) []SlotWaiter {
	c := newSchedQueue(q.state())
	c.catchUp, c.lag = q.catchUp, q.lag
	var out []SlotWaiter
	for len(out) < n {
		w, f, ok := c.next()
		if !ok {
			break
		}
		out = append(out, waiterStatus(w, f, false))
	}
	// Over-budget waiters never come up in the replay: list them after the others.
	for p := PriorityHighest; p <= PriorityLowest && len(out) < n; p++ {
		for _, f := range c.levels[p] {
			for _, w := range f.Waiters {
				if len(out) == n {
					return out
				}
				out = append(out, waiterStatus(w, f, true))
			}
		}
	}
	return out
}

// waiterStatus is w as the status query shows it.
func waiterStatus(w waiter, f *flowState, overBudget bool) SlotWaiter {
	return SlotWaiter{WorkflowID: w.WorkflowID, Priority: f.Priority, FairnessKey: f.Key, Campaign: w.Campaign,
		Since: time.Unix(w.Since, 0).UTC(), OverBudget: overBudget}
}
