package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// push queues id under key at priority p with weight w and campaign c.
func qpush(q *schedQueue, p int, key string, w float64, c, id string) {
	q.push(p, key, w, waiter{WorkflowID: id, RunID: "run-" + id, Campaign: c}, false)
}

// catchUpQueue is the queue as a scheduler of this version holds it for an account of
// limit slots: with the catch-up credit (changeSchedCatchUp).
func catchUpQueue(st queueState, limit int) *schedQueue {
	q := newSchedQueue(st)
	q.catchUp, q.lag = true, catchUpLag(limit)
	return q
}

// drain grants n waiters (all when n < 0) and lists them.
func drain(q *schedQueue, n int) []string {
	var out []string
	for n != 0 {
		w, _, ok := q.next()
		if !ok {
			break
		}
		out = append(out, w.WorkflowID)
		n--
	}
	return out
}

// TestQueueOrder: priority first, then weighted rotation between keys (2:1), FIFO within
// a key; a key that arrives late starts at the virtual time, neither first for ever nor
// behind the others' backlog.
func TestQueueOrder(t *testing.T) {
	q := newSchedQueue(queueState{})
	for i := range 6 {
		qpush(q, 3, "a", 2, "a", fmt.Sprintf("a%d", i))
		qpush(q, 3, "b", 1, "b", fmt.Sprintf("b%d", i))
	}
	qpush(q, 5, "low", 0, "", "low")
	// 3 grants: a gets two for b's one.
	assert.Equal(t, []string{"a0", "b0", "a1"}, drain(q, 3))
	qpush(q, 0, "late", 0, "", "late") // priority 0 is 3
	qpush(q, 1, "urgent", 0, "", "urgent")
	got := drain(q, -1)
	assert.Equal(t, "urgent", got[0], "the most urgent first")
	assert.Contains(t, got[1:4], "late", "a new key starts level with the next: within one turn, not behind the backlog")
	assert.Equal(t, "low", got[len(got)-1], "priority 5 last")
	var as, bs int
	for _, id := range got[1:8] { // while both a and b wait: up to a's last
		switch id[0] {
		case 'a':
			as++
		case 'b':
			bs++
		}
	}
	assert.Equal(t, 2*bs, as, "a and b keep their 2:1 rotation: %v", got)
	assert.Zero(t, q.n)
	assert.Empty(t, q.where)
}

// TestQueueTrickleTakesItsTurn: campaign a waits with a backlog while campaign b's rows
// ask one by one, each as soon as b's previous one was granted (b's key empties at every
// grant). b gets its turn after a's, not every turn: the two alternate. Starting b's
// key again at the pass of the last grant, b's own, gave b every grant while a waited.
func TestQueueTrickleTakesItsTurn(t *testing.T) {
	q := newSchedQueue(queueState{})
	for i := range 4 {
		qpush(q, 3, "a", 0, "a", fmt.Sprintf("a%d", i))
	}
	assert.Equal(t, []string{"a0"}, drain(q, 1), "a alone")
	var got []string
	for i := range 4 {
		qpush(q, 3, "b", 0, "b", fmt.Sprintf("b%d", i))
		got = append(got, drain(q, 1)...)
	}
	got = append(got, drain(q, -1)...)
	assert.Equal(t, []string{"a1", "b0", "a2", "b1", "a3", "b2", "b3"}, got)
	// The same with a one-off key asking in between: it waits one turn at most.
	qpush(q, 3, "a", 0, "a", "a4")
	qpush(q, 3, "a", 0, "a", "a5")
	assert.Equal(t, []string{"a4"}, drain(q, 1))
	qpush(q, 3, "one-off", 0, "", "o")
	qpush(q, 3, "b", 0, "b", "b4")
	assert.Equal(t, []string{"a5", "o", "b4"}, drain(q, -1))
}

// TestQueueBudget: a campaign past its budget is skipped and keeps its place; raising
// the budget lets it on.
func TestQueueBudget(t *testing.T) {
	q := newSchedQueue(queueState{})
	q.campaign("c").Budget = 2
	for i := range 4 {
		qpush(q, 3, "c", 0, "c", fmt.Sprintf("c%d", i))
	}
	qpush(q, 3, "other", 0, "", "o1")
	assert.Equal(t, []string{"c0", "o1", "c1"}, drain(q, -1))
	assert.Equal(t, 2, q.n, "c2 and c3 wait over budget")
	prev := q.preview(10)
	require.Len(t, prev, 2)
	assert.True(t, prev[0].OverBudget)
	q.campaign("c").Budget = 3
	assert.Equal(t, []string{"c2"}, drain(q, -1))
	assert.Equal(t, 3, q.campaign("c").Started)
}

// TestQueueCarry: the carried state restores the same order, and preview changes nothing.
func TestQueueCarry(t *testing.T) {
	build := func() *schedQueue {
		q := newSchedQueue(queueState{})
		for i := range 20 {
			qpush(q, 1+i%5, fmt.Sprintf("k%d", i%3), float64(1+i%2), "", fmt.Sprintf("j%02d", i))
		}
		drain(q, 4)
		return q
	}
	q := build()
	before := q.preview(100)
	b, err := json.Marshal(q.state())
	require.NoError(t, err)
	var st queueState
	require.NoError(t, json.Unmarshal(b, &st))
	r := newSchedQueue(st)
	assert.Equal(t, before, q.preview(100), "preview leaves the queue as it was")
	assert.Equal(t, drain(build(), -1), drain(r, -1), "the carried queue grants in the same order")
}

// TestCarriedQueueFits: 10,000 waiting Jobs with realistic IDs carry in well under
// Temporal's 2 MB payload limit, and come back whole.
func TestCarriedQueueFits(t *testing.T) {
	q := newSchedQueue(queueState{})
	for i := range 10_000 {
		w := waiter{WorkflowID: fmt.Sprintf("spring-campaign-%05d/translate/spanish-spain", i),
			RunID: fakeUUID("r", i), ExecRunID: fakeUUID("e", i),
			Since: 1_765_000_000 + int64(i), Lease: 87_000, Campaign: "spring-campaign"}
		q.push(3, "spring-campaign-"+fmt.Sprint(i%50), 1, w, false)
	}
	z, err := packQueue(q.state())
	require.NoError(t, err)
	b, err := json.Marshal(SchedulerState{Account: "acct", QueueZ: z})
	require.NoError(t, err)
	t.Logf("10,000 waiters carry in %d bytes (gzipped %d)", len(b), len(z))
	assert.Less(t, len(z), schedulerCarryBytes)
	assert.Less(t, len(b), 2_000_000)
	st, err := unpackQueue(z)
	require.NoError(t, err)
	assert.Equal(t, drain(q, -1), drain(newSchedQueue(st), -1))
}

// fakeUUID is a UUID-shaped string as random as a real run ID, so that compression is
// measured fairly.
func fakeUUID(salt string, i int) string {
	h := sha256.Sum256([]byte(salt + fmt.Sprint(i)))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// benchQueue fills a queue with n waiters spread over keys fairness keys.
func benchQueue(n, keys int) *schedQueue {
	q := newSchedQueue(queueState{})
	for i := range n {
		q.push(3, fmt.Sprintf("campaign-%d", i%keys), float64(1+i%3), waiter{
			WorkflowID: fmt.Sprintf("campaign-%d-row-%05d/render", i%keys, i), RunID: "run", Campaign: fmt.Sprintf("campaign-%d", i%keys)}, false)
	}
	return q
}

// BenchmarkGrantNext measures one grant decision (pick the next waiter, take it off the
// queue, and queue a newcomer to keep the length), with n waiting over k keys.
func BenchmarkGrantNext(b *testing.B) {
	for _, c := range []struct{ n, keys int }{{5_000, 10}, {5_000, 5_000}, {10_000, 100}, {10_000, 10_000}} {
		b.Run(fmt.Sprintf("waiting=%d/keys=%d", c.n, c.keys), func(b *testing.B) {
			q := benchQueue(c.n, c.keys)
			i := c.n
			b.ResetTimer()
			for b.Loop() {
				w, f, _ := q.next()
				w.WorkflowID = fmt.Sprintf("new-%d", i)
				i++
				q.push(f.Priority, f.Key, f.Weight, w, false)
			}
		})
	}
}
