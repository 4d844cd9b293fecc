package activities

import (
	"sync"
	"time"

	"github.com/reelflow/reelflow/heygen"
)

// finishedReads is the worker's record of the single GETs that found a job over:
// completed with its output link, or failed. Such a record never changes, so PollJob
// answers a second poll of the same job from it instead of asking HeyGen again.
//
// The second poll it is for: a sweep's poll runs as a local activity inside the Job's
// workflow task (workflows/job.go, changeSweepLocal). When a webhook lands during that
// task and the poll found the job over, the server refuses the close the task asks for
// (a signal is pending: UNHANDLED_COMMAND), the local activity's result is not
// recorded, and the task runs again, the local activity with it. That rerun lands on
// the same worker (the workflow's sticky queue), which answers it from here: the race
// costs one read, as with an activity poll. A rerun on another worker reads again.
//
// Entries live ttl: long enough for a refused task's rerun and a details fetch after a
// late webhook, short enough that the presigned links it returns are fresh. At most
// maxEntries are kept, the oldest dropped first.
type finishedReads struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu    sync.Mutex
	byKey map[string]finishedRead
	order []string // keys by first insertion, oldest first (a key read again keeps its place)
}

type finishedRead struct {
	res PollJobResult
	at  time.Time
}

const (
	// finishedTTL is how long a finished job's read is reused.
	finishedTTL = 10 * time.Minute
	// finishedMax bounds the record: a worker finishing a thousand jobs a minute keeps
	// ten minutes of them.
	finishedMax = 10_000
)

func newFinishedReads(now func() time.Time) *finishedReads {
	return &finishedReads{ttl: finishedTTL, maxEntries: finishedMax, now: now, byKey: map[string]finishedRead{}}
}

// finishedKey names a job across APIs: a template's job is a video.
func finishedKey(kind, id string) string {
	if kind == KindTemplate {
		kind = KindVideo
	}
	return kind + "/" + id
}

// get returns the recorded read of a finished job, if one is fresh. A nil record (an
// Activities not made by New) has none.
func (f *finishedReads) get(kind, id string) (PollJobResult, bool) {
	if f == nil {
		return PollJobResult{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.byKey[finishedKey(kind, id)]
	if !ok || f.now().Sub(e.at) >= f.ttl {
		return PollJobResult{}, false
	}
	return e.res, true
}

// put records r when it says the job is over for good: failed, or completed with its
// output link (a completed read without one is asked again).
func (f *finishedReads) put(kind, id string, r PollJobResult) {
	switch {
	case f == nil:
		return
	case r.Status == heygen.StatusFailed:
	case r.Status == heygen.StatusCompleted && r.VideoURL != "":
	default:
		return
	}
	key := finishedKey(kind, id)
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if _, ok := f.byKey[key]; !ok {
		f.order = append(f.order, key)
	}
	f.byKey[key] = finishedRead{res: r, at: now}
	f.prune(now)
}

// prune drops expired entries from the old end, and the oldest beyond maxEntries;
// f.mu is held.
func (f *finishedReads) prune(now time.Time) {
	drop := 0
	for _, key := range f.order {
		e, ok := f.byKey[key]
		if ok && now.Sub(e.at) < f.ttl && len(f.order)-drop <= f.maxEntries {
			break
		}
		if ok {
			delete(f.byKey, key)
		}
		drop++
	}
	if drop > 0 {
		f.order = append(f.order[:0:0], f.order[drop:]...)
	}
}
