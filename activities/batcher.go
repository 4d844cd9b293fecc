package activities

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/reelflow/reelflow/heygen"
)

// Bulk status polling.
//
// Poll activities that run at the same moment in one worker share HeyGen's bulk status
// calls (GET /v3/videos/statuses, GET /v3/video-translations/statuses). The first poll
// opens a batch; polls arriving within the window join it; the batch goes out as one
// request when the window ends, when it holds maxBulkIDs IDs, or when no poll has
// joined it for the quiet gap (the burst of a sweep has arrived), whichever is first.
// Each caller gets its own row back.
//
// The economy: a bulk row carries only a status (and an error text), so a job costs
//   - while running: its share of the bulk calls, 1/100 of a call per poll at best;
//   - at the end: one single GET, made when the bulk row first says completed or failed,
//     for the URLs, duration and failure message that only the single GET returns.
//
// IDs the bulk call does not know (not_found, or missing from the answer) fall back to
// the single GET too.

// DefaultStatusBatchWindow is how long a batch of status polls collects IDs before its
// bulk call goes out. It adds at most this much to a poll, against minutes between polls.
// The Jobs' jittered backoff (±15%) spreads later polls out: at 5,000 jobs polling
// every 5 minutes, a 200 ms window gathers about 11 IDs a call and a 1 s window about
// five times as many, for a delay nobody who waits minutes can see.
const DefaultStatusBatchWindow = time.Second

// DefaultStatusBatchQuiet is the quiet gap after which a batch goes out before its
// window ends: no poll has joined it for that long, so the polls of one sweep instant
// (which reach a worker as a burst, a few milliseconds apart) have all arrived. Without
// it the last batch of every sweep waited out the whole window, idle. A gap this long
// inside a burst, which splits it into one more bulk call, takes a stall of the worker
// or of the server.
const DefaultStatusBatchQuiet = 200 * time.Millisecond

const (
	// maxBulkIDs is the most IDs HeyGen takes in one bulk status call.
	maxBulkIDs = 100
	// bulkTimeout bounds one bulk call. The call serves many polls, so it runs on its own
	// context rather than on any one caller's; this keeps a hung call from pinning its
	// goroutine forever. It matches a poll's StartToClose, past which no caller waits.
	bulkTimeout = 30 * time.Second
)

// statusSource is the bulk half of the HeyGen client: the batcher's one dependency.
// *heygen.Client implements it.
type statusSource interface {
	VideoStatuses(ctx context.Context, ids []string) ([]heygen.StatusEntry, error)
	TranslationStatuses(ctx context.Context, ids []string) ([]heygen.StatusEntry, error)
}

// bulkFunc is one bulk status endpoint: a statusSource method value.
type bulkFunc func(ctx context.Context, ids []string) ([]heygen.StatusEntry, error)

// batchClock starts the timers that end batch windows. systemClock is time's; the
// tests pass one they fire by hand, so that which polls share a window does not depend
// on how fast goroutines are scheduled.
type batchClock interface {
	// AfterFunc calls f on its own goroutine once d has passed, unless the returned
	// timer is stopped first.
	AfterFunc(d time.Duration, f func()) batchTimer
}

// batchTimer is the part of *time.Timer the batcher uses.
type batchTimer interface {
	Stop() bool
}

// systemClock is the batchClock of time.AfterFunc.
type systemClock struct{}

func (systemClock) AfterFunc(d time.Duration, f func()) batchTimer { return time.AfterFunc(d, f) }

// batcher gathers concurrent status requests for one bulk endpoint into shared calls.
// It holds no goroutine of its own: a batch's call runs on its window timer's goroutine
// (or, for a full batch, on one started for it) and ends with the call.
type batcher struct {
	fetch  bulkFunc
	window time.Duration
	// quiet is the gap after the last joining poll at which the batch goes out before
	// its window ends; zero: only the window and a full batch end it.
	quiet time.Duration
	clock batchClock

	mu   sync.Mutex
	open *batch // the batch that new IDs join; nil when none is collecting
}

// batch is one bulk call's worth of IDs and, once done is closed, its answer.
type batch struct {
	ids     []string       // unique, in arrival order; only IDs someone still waits for
	waiting map[string]int // callers per ID
	callers int            // callers still waiting, all IDs together
	timer   batchTimer
	quiet   batchTimer         // the quiet gap's, restarted by every poll that joins
	cancel  context.CancelFunc // ends the call; set when it goes out
	done    chan struct{}      // closed when entries and err are set

	entries map[string]heygen.StatusEntry
	err     error
}

// newBatcher returns a batcher on the system clock; tests replace its clock before the
// first call.
func newBatcher(fetch bulkFunc, window time.Duration) *batcher {
	b := &batcher{fetch: fetch, window: window, clock: systemClock{}}
	if DefaultStatusBatchQuiet < window {
		b.quiet = DefaultStatusBatchQuiet
	}
	return b
}

// status returns id's row of a bulk status call shared with the other callers of the
// same window. An ID the answer lacks comes back as heygen.StatusNotFound. A failed
// bulk call's error goes to every caller of the batch. When ctx ends first, status
// returns ctx's error at once; the call is abandoned when no caller is left.
func (b *batcher) status(ctx context.Context, id string) (heygen.StatusEntry, error) {
	if err := ctx.Err(); err != nil {
		return heygen.StatusEntry{}, err
	}
	b.mu.Lock()
	bt := b.open
	if bt == nil {
		bt = &batch{waiting: map[string]int{}, done: make(chan struct{})}
		b.open = bt
		bt.timer = b.clock.AfterFunc(b.window, func() { b.seal(bt) })
	}
	if bt.waiting[id] == 0 {
		bt.ids = append(bt.ids, id)
	}
	bt.waiting[id]++
	bt.callers++
	full := len(bt.ids) >= maxBulkIDs
	if full {
		// Whoever takes the batch out of b.open sends it: here, or the timer's seal,
		// which then finds it gone.
		b.open = nil
		bt.stopTimers()
	} else if b.quiet > 0 {
		if bt.quiet != nil {
			bt.quiet.Stop()
		}
		bt.quiet = b.clock.AfterFunc(b.quiet, func() { b.seal(bt) })
	}
	b.mu.Unlock()
	if full {
		go b.send(bt)
	}

	select {
	case <-bt.done:
		if bt.err != nil {
			return heygen.StatusEntry{}, bt.err
		}
		e, ok := bt.entries[id]
		if !ok {
			e = heygen.StatusEntry{VideoID: id, Status: heygen.StatusNotFound}
		}
		return e, nil
	case <-ctx.Done():
		b.leave(bt, id)
		return heygen.StatusEntry{}, ctx.Err()
	}
}

// seal ends bt's window and sends it, unless it filled up and went out already.
func (b *batcher) seal(bt *batch) {
	b.mu.Lock()
	mine := b.open == bt
	if mine {
		b.open = nil
		bt.stopTimers() // the one of the window and the quiet gap that did not fire
	}
	b.mu.Unlock()
	if mine {
		b.send(bt)
	}
}

// stopTimers stops bt's window and quiet-gap timers; b.mu is held.
func (bt *batch) stopTimers() {
	bt.timer.Stop()
	if bt.quiet != nil {
		bt.quiet.Stop()
	}
}

// send makes bt's bulk call and hands out the answer. It runs once per batch.
func (b *batcher) send(bt *batch) {
	b.mu.Lock()
	ids := slices.Clone(bt.ids)
	if len(ids) == 0 {
		// Every caller left before the window ended: no call at all.
		b.mu.Unlock()
		close(bt.done)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), bulkTimeout)
	bt.cancel = cancel
	b.mu.Unlock()

	entries, err := b.fetch(ctx, ids)
	cancel()
	if err == nil {
		bt.entries = make(map[string]heygen.StatusEntry, len(entries))
		for _, e := range entries {
			bt.entries[e.VideoID] = e
		}
	}
	bt.err = err
	close(bt.done) // publishes entries and err to the callers
}

// leave takes a cancelled caller off bt. An ID no one waits for any more leaves a batch
// still collecting, and a call in flight that no one waits for is cancelled.
func (b *batcher) leave(bt *batch, id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bt.callers--
	bt.waiting[id]--
	if bt.waiting[id] == 0 && bt.cancel == nil {
		bt.ids = slices.DeleteFunc(bt.ids, func(s string) bool { return s == id })
	}
	if bt.callers == 0 && bt.cancel != nil {
		bt.cancel()
	}
}
