package sandbox

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults and limits.
const (
	defaultRenderTime = 3 * time.Second
	defaultRetryBase  = time.Second
	// maxAttempts bounds the retries of one delivery; with a 1 s base the last attempt
	// comes about two minutes after the first.
	maxAttempts = 8
	// deliveryWorkers bounds concurrent deliveries so that a storm of finishing jobs
	// cannot exhaust sockets or memory.
	deliveryWorkers = 32
	// saveInterval is the least time between two state saves.
	saveInterval = 100 * time.Millisecond
	// idempotencyTTL is how long HeyGen replays a create for the same Idempotency-Key.
	idempotencyTTL = 24 * time.Hour
)

// Magic avatar IDs; see the package doc.
const (
	MagicAvatarFail  = "sandbox-fail"
	MagicAvatarStuck = "sandbox-stuck"
)

// FailureCodeAvatarUnavailable is the failure_code of a job created with MagicAvatarFail.
const FailureCodeAvatarUnavailable = "AVATAR_UNAVAILABLE"

// Config configures a Sandbox. The zero value is usable.
type Config struct {
	RenderTime time.Duration // simulated render duration; default 3s
	DropRate   float64       // fraction [0,1] of webhook deliveries silently dropped (counted)
	StatePath  string        // JSON file that keeps state across restarts; "" = memory only
	PublicURL  string        // base URL for file links; "" = "http://"+r.Host of the request
	APIKey     string        // when set, /v3 requests must carry X-Api-Key equal to it
	Logger     *zap.Logger   // nil = zap.NewNop()
	HTTPClient *http.Client  // for webhook deliveries; nil = a client with a 10s timeout
	RetryBase  time.Duration // first delivery retry delay, doubling, default 1s; max 8 attempts
	Seed       int64         // seeds the drop decision's RNG, for reproducible tests
}

// Stats is the sandbox's ground truth. Counters survive restarts when StatePath is set.
type Stats struct {
	CreateRequests      int               `json:"create_requests"`        // POST /v3/videos calls, including idempotent replays and refused ones
	Creates             int               `json:"creates"`                // jobs actually created
	CreatesByCallbackID map[string]int    `json:"creates_by_callback_id"` // jobs created per callback_id ("" for none)
	StatusCalls         int               `json:"status_calls"`           // GET /v3/videos/{id}
	BulkStatusCalls     int               `json:"bulk_status_calls"`      // GET /v3/videos/statuses
	Deliveries          int               `json:"deliveries"`             // webhook POST attempts to registered endpoints
	DeliveriesAcked     int               `json:"deliveries_acked"`       // of those, attempts answered 2xx
	DeliveriesDropped   int               `json:"deliveries_dropped"`     // deliveries (both kinds) dropped by DropRate, never sent
	DeliveriesExhausted int               `json:"deliveries_exhausted"`   // deliveries (both kinds) abandoned after the last attempt
	CallbackURLPosts    int               `json:"callback_url_posts"`     // unsigned POST attempts to callback_url
	CallbackURLAcked    int               `json:"callback_url_acked"`     // of those, attempts answered 2xx
	Jobs                map[string]string `json:"jobs,omitempty"`         // video_id -> current status (pending|processing|completed|failed)
}

// Sandbox is a fake HeyGen. It is safe for concurrent use.
type Sandbox struct {
	renderTime time.Duration
	retryBase  time.Duration
	statePath  string
	publicURL  string
	apiKey     string
	log        *zap.Logger
	hc         *http.Client
	handler    http.Handler

	ctx    context.Context // cancelled by Close; aborts in-flight deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{} // nudges the loop when an earlier item is scheduled
	saveCh chan struct{} // nudges the saver when state changed
	saveMu sync.Mutex    // serialises writes of the state file
	closed sync.Once

	mu         sync.Mutex
	cond       *sync.Cond // on mu: delivery workers wait for ready deliveries
	closing    bool
	dropRate   float64
	rng        *mrand.Rand
	jobs       map[string]*job
	endpoints  map[string]*endpoint
	idem       map[string]*idemEntry
	deliveries map[string]*delivery
	ready      []string // delivery IDs due now, FIFO
	sched      schedule
	seq        int64 // orders endpoints for pagination
	stats      Stats // counters only; Jobs is built by Stats()
}

// job is one video. Times are absolute so that a restarted sandbox keeps its schedule.
type job struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	AvatarID       string    `json:"avatar_id,omitempty"`
	Title          string    `json:"title,omitempty"`
	FolderID       string    `json:"folder_id,omitempty"`
	OutputFormat   string    `json:"output_format"`
	CallbackID     string    `json:"callback_id,omitempty"`
	CallbackURL    string    `json:"callback_url,omitempty"`
	BaseURL        string    `json:"base_url"` // for links in webhooks, fixed at create time
	Duration       float64   `json:"duration"`
	CreatedAt      time.Time `json:"created_at"`
	ProcessingAt   time.Time `json:"processing_at"`
	DueAt          time.Time `json:"due_at"`
	Stuck          bool      `json:"stuck,omitempty"`
	Fail           bool      `json:"fail,omitempty"`
	Done           bool      `json:"done,omitempty"`
	CompletedAt    time.Time `json:"completed_at,omitzero"`
	FailureCode    string    `json:"failure_code,omitempty"`
	FailureMessage string    `json:"failure_message,omitempty"`
}

// status is the job's v3 status at now.
func (j *job) status(now time.Time) string {
	switch {
	case j.Done && j.Fail:
		return "failed"
	case j.Done:
		return "completed"
	case now.Before(j.ProcessingAt):
		return "pending"
	default:
		return "processing"
	}
}

// endpoint is a registered webhook endpoint.
type endpoint struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events,omitempty"` // empty = all
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret"`
	Seq       int64     `json:"seq"`
}

func (e *endpoint) wants(eventType string) bool {
	if e.Status != "enabled" {
		return false
	}
	if len(e.Events) == 0 {
		return true
	}
	for _, t := range e.Events {
		if t == eventType {
			return true
		}
	}
	return false
}

// idemEntry is the remembered answer to a create under an Idempotency-Key.
type idemEntry struct {
	At     time.Time       `json:"at"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"` // the JSON answer, stored as JSON
}

// delivery is one event on its way to one URL.
type delivery struct {
	ID         string          `json:"id"`
	JobID      string          `json:"job_id"`
	EndpointID string          `json:"endpoint_id,omitempty"` // "" = the job's callback_url, unsigned
	URL        string          `json:"url,omitempty"`         // callback_url; endpoints are looked up at send time
	Body       json.RawMessage `json:"body"`                  // sent byte for byte at every attempt
	Attempts   int             `json:"attempts"`
	NextAt     time.Time       `json:"next_at"`
	state      deliveryState
}

type deliveryState int

const (
	stateWaiting  deliveryState = iota // on the schedule
	stateReady                         // in the ready queue
	stateInFlight                      // a worker is sending it
)

// New builds a sandbox, loads StatePath if present and starts its background loop.
func New(cfg Config) (*Sandbox, error) {
	if cfg.DropRate < 0 || cfg.DropRate > 1 {
		return nil, fmt.Errorf("sandbox: drop rate %v outside [0,1]", cfg.DropRate)
	}
	s := &Sandbox{
		renderTime: cfg.RenderTime,
		retryBase:  cfg.RetryBase,
		statePath:  cfg.StatePath,
		publicURL:  strings.TrimRight(cfg.PublicURL, "/"),
		apiKey:     cfg.APIKey,
		log:        cfg.Logger,
		hc:         cfg.HTTPClient,
		wake:       make(chan struct{}, 1),
		saveCh:     make(chan struct{}, 1),
		dropRate:   cfg.DropRate,
		rng:        mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		jobs:       map[string]*job{},
		endpoints:  map[string]*endpoint{},
		idem:       map[string]*idemEntry{},
		deliveries: map[string]*delivery{},
		stats:      Stats{CreatesByCallbackID: map[string]int{}},
	}
	if s.renderTime <= 0 {
		s.renderTime = defaultRenderTime
	}
	if s.retryBase <= 0 {
		s.retryBase = defaultRetryBase
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.hc == nil {
		s.hc = &http.Client{Timeout: 10 * time.Second}
	}
	s.cond = sync.NewCond(&s.mu)
	if err := s.load(); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2 + deliveryWorkers)
	go s.loop()
	go s.saver()
	for range deliveryWorkers {
		go s.worker()
	}
	return s, nil
}

// Handler returns the HTTP handler serving every route.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// Close stops the loop and in-flight deliveries and writes the state file. Deliveries cut
// short stay pending and resume in the next sandbox on the same StatePath.
func (s *Sandbox) Close() error {
	var err error
	s.closed.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.cond.Broadcast()
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		err = s.save()
	})
	return err
}

// Stats returns a deep copy of the ground truth.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	st := s.stats
	st.CreatesByCallbackID = maps.Clone(s.stats.CreatesByCallbackID)
	st.Jobs = make(map[string]string, len(s.jobs))
	for id, j := range s.jobs {
		st.Jobs[id] = j.status(now)
	}
	return st
}

// SetDropRate changes the fraction of deliveries dropped from now on; it is clamped to [0,1].
func (s *Sandbox) SetDropRate(f float64) {
	f = min(max(f, 0), 1)
	s.mu.Lock()
	s.dropRate = f
	s.mu.Unlock()
}

// loop moves jobs to their end and deliveries to the ready queue as they fall due. It sleeps
// on one timer set to the soonest item, so thousands of jobs cost a heap, not goroutines.
func (s *Sandbox) loop() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		for len(s.sched) > 0 && !s.sched[0].at.After(now) {
			it := heap.Pop(&s.sched).(item)
			s.fireLocked(it, now)
		}
		wait := time.Duration(-1)
		if len(s.sched) > 0 {
			wait = s.sched[0].at.Sub(now)
		}
		s.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-timer.C:
		case <-s.wake:
		case <-s.ctx.Done():
			return
		}
	}
}

// fireLocked handles one due item. Items can be stale (a job already finished by a read,
// a delivery already rescheduled); each kind checks before acting.
func (s *Sandbox) fireLocked(it item, now time.Time) {
	switch it.kind {
	case itemJob:
		if j := s.jobs[it.id]; j != nil {
			s.finishLocked(j, now)
		}
	case itemDelivery:
		d := s.deliveries[it.id]
		if d == nil || d.state != stateWaiting || d.NextAt.After(now) {
			return
		}
		s.readyLocked(d)
	}
}

// scheduleLocked puts an item on the schedule and wakes the loop if it is the soonest.
func (s *Sandbox) scheduleLocked(at time.Time, kind itemKind, id string) {
	heap.Push(&s.sched, item{at: at, kind: kind, id: id})
	if s.sched[0].id == id && s.sched[0].kind == kind {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// readyLocked hands a delivery to the workers.
func (s *Sandbox) readyLocked(d *delivery) {
	d.state = stateReady
	s.ready = append(s.ready, d.ID)
	s.cond.Signal()
}

// finishLocked ends a job whose time has come and enqueues its deliveries. It is a no-op
// for a job that is done, stuck, or not yet due, so reads may call it freely.
func (s *Sandbox) finishLocked(j *job, now time.Time) {
	if j.Done || j.Stuck || now.Before(j.DueAt) {
		return
	}
	j.Done = true
	j.CompletedAt = j.DueAt
	eventType := "avatar_video.success"
	var data any
	if j.Fail {
		j.FailureCode = FailureCodeAvatarUnavailable
		j.FailureMessage = fmt.Sprintf("avatar %q is unavailable (sandbox magic value)", j.AvatarID)
		eventType = "avatar_video.fail"
		data = failData{VideoID: j.ID, Msg: j.FailureMessage, CallbackID: j.CallbackID}
	} else {
		l := links(j.BaseURL, j)
		data = successData{
			VideoID:           j.ID,
			URL:               l.video,
			CallbackID:        j.CallbackID,
			GIFDownloadURL:    l.gif,
			VideoSharePageURL: l.share,
			FolderID:          j.FolderID,
		}
	}
	body := mustJSON(eventBody{EventType: eventType, EventData: data})
	s.log.Debug("sandbox job finished", zap.String("video_id", j.ID), zap.String("event_type", eventType))
	for _, e := range s.endpointsInOrderLocked() {
		if e.wants(eventType) {
			s.enqueueLocked(&delivery{JobID: j.ID, EndpointID: e.ID, Body: body}, now)
		}
	}
	if j.CallbackURL != "" {
		s.enqueueLocked(&delivery{JobID: j.ID, URL: j.CallbackURL, Body: body}, now)
	}
	s.dirtyLocked()
}

// enqueueLocked drops a new delivery by DropRate or makes it ready at once.
func (s *Sandbox) enqueueLocked(d *delivery, now time.Time) {
	if s.dropRate > 0 && s.rng.Float64() < s.dropRate {
		s.stats.DeliveriesDropped++
		s.log.Debug("sandbox delivery dropped", zap.String("video_id", d.JobID), zap.Bool("callback_url", d.EndpointID == ""))
		return
	}
	d.ID = newID()
	d.NextAt = now
	s.deliveries[d.ID] = d
	s.readyLocked(d)
}

// dirtyLocked asks the saver to write the state file soon.
func (s *Sandbox) dirtyLocked() {
	if s.statePath == "" {
		return
	}
	select {
	case s.saveCh <- struct{}{}:
	default:
	}
}

// saver writes the state file when asked, at most once per saveInterval.
func (s *Sandbox) saver() {
	defer s.wg.Done()
	if s.statePath == "" {
		return
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.saveCh:
		case <-s.ctx.Done():
			return // Close writes the final state
		}
		start := time.Now()
		if err := s.save(); err != nil {
			s.log.Warn("sandbox state not saved", zap.Error(err))
		}
		// A big state takes tens of milliseconds to write; pausing twice that keeps
		// saving to a third of a core at most.
		t.Reset(max(saveInterval, 2*time.Since(start)))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// newID returns 32 random hex characters, the shape of HeyGen's video IDs.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// newSecret returns a signing secret in HeyGen's whsec_ form.
func newSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + hex.EncodeToString(b[:])
}

// errClosed is returned for work refused after Close.
var errClosed = errors.New("sandbox: closed")

// itemKind tells what a schedule item wakes.
type itemKind uint8

const (
	itemJob itemKind = iota
	itemDelivery
)

// item is one timed wake-up.
type item struct {
	at   time.Time
	kind itemKind
	id   string
}

// schedule is a min-heap of items by time.
type schedule []item

func (h schedule) Len() int           { return len(h) }
func (h schedule) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h schedule) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *schedule) Push(x any)        { *h = append(*h, x.(item)) }
func (h *schedule) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	*h = old[:n-1]
	return it
}
