package sandbox

import (
	"cmp"
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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reelflow/reelflow/contract"
	"github.com/reelflow/reelflow/heygen"
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

// Magic values; see the package doc.
const (
	MagicAvatarFail  = "sandbox-fail"  // avatar_id whose render fails
	MagicAvatarStuck = "sandbox-stuck" // avatar_id whose render never ends
	// MagicTemplateMissing is a template ID that POST /v3/templates/{id} answers with 404.
	MagicTemplateMissing = "tpl_missing"
	MagicTemplateFail    = "tpl_fail"  // template ID whose render fails
	MagicTemplateStuck   = "tpl_stuck" // template ID whose render never ends
	// MagicLanguageFail is an output language that a translation create accepts although
	// GET /v3/video-translations/languages does not list it; that translation fails.
	MagicLanguageFail = "Klingon"
)

// Failure codes of failed renders, in failure_code (v3). The v1 status call gives them as
// integers: see LegacyErrorCode.
const (
	FailureCodeAvatarUnavailable = "AVATAR_UNAVAILABLE" // MagicAvatarFail
	FailureCodeRenderFailed      = "RENDER_FAILED"      // MagicTemplateFail and Faults.FailRate
)

// Job kinds, as JobTruth.Kind names them: heygen's.
const (
	JobKindVideo       = heygen.JobKindVideo
	JobKindTemplate    = heygen.JobKindTemplate
	JobKindTranslation = heygen.JobKindTranslation // one job per language
)

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
	Seed       int64         // seeds the RNG of every fault decision, for reproducible tests
	// LinkTTL is how long a file link (video_url, thumbnail_url, captions ...) stays valid;
	// after it the file host answers 403, and a fresh GET of the job gives fresh links.
	// 0 means links never expire.
	LinkTTL time.Duration
	// SigningScheme is how deliveries to registered endpoints are signed: heygen.SchemeHex
	// (the default) or heygen.SchemeStandard (Standard Webhooks headers).
	SigningScheme heygen.SigningScheme
	// Faults are the faults injected from the start; SetFaults changes them at run time.
	// DropRate above is kept as an alias of Faults.DropRate, used when that is 0.
	Faults Faults
	// CheckContract, when set, is called for every /v3 answer that breaks HeyGen's
	// published contract; see Sandbox.CheckContract, which changes it at run time.
	CheckContract func(ContractViolation)
	// Answers shapes every /v3 answer: AnswersFull (the default) gives every published
	// field the sandbox knows; AnswersNull and AnswersOmit give only what the contract
	// requires, as a server that implements nothing more would (see Answers).
	Answers Answers
	// ConcurrencyLimit is the account's limit of jobs rendering at once: a create past it
	// gets 429 rate_limit_exceeded, as a HeyGen plan answers. 0 = none. It is the
	// account's, so SetFaults leaves it alone; Faults.ConcurrencyLimit applies on top.
	ConcurrencyLimit int
	// Credits is the account's opening balance in credits; nil is unlimited (the
	// default). Creates are charged by length (see credits.go) and get 402
	// insufficient_credit past the balance. When set it replaces a balance saved in
	// StatePath; when nil, a saved balance is kept.
	Credits *int64
	// Billing is the billing type GET /v3/users/me reports the balance under:
	// BillingWallet (the default, a wallet in credits), BillingSubscription or
	// BillingUsageBased.
	Billing string
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
	Jobs                map[string]string `json:"jobs,omitempty"`         // job id (video or translation) -> current status (pending|processing|completed|failed)

	// Reads. CreateRequests above counts the calls of every create route.
	Polls                      int `json:"polls"`                         // every status read below, single or bulk, any generation
	TranslationStatusCalls     int `json:"translation_status_calls"`      // GET /v3/video-translations/{id}
	TranslationBulkStatusCalls int `json:"translation_bulk_status_calls"` // GET /v3/video-translations/statuses
	ListCalls                  int `json:"list_calls"`                    // GET /v3/videos (the list)
	FileDownloads              int `json:"file_downloads"`                // GETs of file links answered with the file
	FileDownloadsRefused       int `json:"file_downloads_refused"`        // 403s: the link expired or was tampered with

	// Creates refused or lost, and idempotency.
	IdempotentReplays    int `json:"idempotent_replays"`    // creates answered from the Idempotency-Key memory
	IdempotencyConflicts int `json:"idempotency_conflicts"` // 409 request_in_progress
	RateLimited          int `json:"rate_limited"`          // 429s, from RateLimitRate and ConcurrencyLimit
	ConcurrencyLimited   int `json:"concurrency_limited"`   // of those, refused by ConcurrencyLimit
	ServerErrors         int `json:"server_errors"`         // 5xx from ServerErrorRate
	AmbiguousCreates     int `json:"ambiguous_creates"`     // creates done (or replayed) whose answer was cut off

	// The account's credit (see credits.go).
	InsufficientCredit        int   `json:"insufficient_credit"`         // 402 insufficient_credit answers, replays included
	InsufficientCreditReplays int   `json:"insufficient_credit_replays"` // of those, a refused Idempotency-Key repeated
	CreditsSpent              int64 `json:"credits_spent"`               // credits charged by creates
	UsersMeCalls              int   `json:"users_me_calls"`              // GET /v3/users/me

	// Renders.
	RendersFailed int `json:"renders_failed"` // jobs that ended failed: magic values, Klingon, FailRate
	RendersStuck  int `json:"renders_stuck"`  // jobs that will never end: magic values, StuckRate

	// Webhook faults, counted per delivery (one event to one URL).
	DeliveriesDuplicated int `json:"deliveries_duplicated"` // extra copies queued
	DeliveriesDelayed    int `json:"deliveries_delayed"`    // first attempts put off by up to DelayMax
	DeliveriesReordered  int `json:"deliveries_reordered"`  // contradicting events queued to follow the real one
	DeliveriesLate       int `json:"deliveries_late"`       // held until the job was polled to completion
	ContradictionsSent   int `json:"contradictions_sent"`   // contradicting events actually queued (after the real one was acked)

	// JobsByCallbackID is the ground truth per callback_id (jobs created without one are
	// left out). Built by Stats(), never persisted.
	JobsByCallbackID map[string]JobTruth `json:"jobs_by_callback_id,omitempty"`
}

// JobTruth is what really happened to the job(s) made under one callback_id. Contradicting
// events sent by ReorderRate never change it: the first terminal state is the truth.
type JobTruth struct {
	VideoID        string `json:"video_id"` // the first job made (a translation ID for translations)
	Kind           string `json:"kind"`     // JobKindVideo, JobKindTemplate or JobKindTranslation
	Status         string `json:"status"`   // that job's status now: pending|processing|completed|failed
	Creates        int    `json:"creates"`  // create calls that made jobs under this callback_id; >1 means rendered twice
	Jobs           int    `json:"jobs"`     // jobs made (a translation create makes one per language)
	Stuck          bool   `json:"stuck,omitempty"`
	FailureCode    string `json:"failure_code,omitempty"`
	FailureMessage string `json:"failure_message,omitempty"`
	OutputLanguage string `json:"output_language,omitempty"`
	WebhooksAcked  int    `json:"webhooks_acked"` // registered-endpoint deliveries of its real event answered 2xx
	Polled         bool   `json:"polled"`         // a status read has seen it terminal
	// IdempotencyKey is the Idempotency-Key of the create that made the job; Renders
	// only (Stats' JobsByCallbackID leaves it empty).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
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

	contract *contract.Contract                      // HeyGen's published schemas
	check    atomic.Pointer[func(ContractViolation)] // CheckContract's report, nil = off
	checks   atomic.Int64                            // answers checked
	answers  Answers                                 // Config.Answers

	mu         sync.Mutex
	cond       *sync.Cond // on mu: delivery workers wait for ready deliveries
	closing    bool
	faults     Faults
	linkTTL    time.Duration
	scheme     heygen.SigningScheme
	linkKey    []byte // signs file links; persisted so links survive a restart
	rendering  int    // jobs holding a concurrency slot (see releaseLocked)
	inflight   map[string]bool
	rng        *mrand.Rand
	jobs       map[string]*job
	endpoints  map[string]*endpoint
	idem       map[string]*idemEntry
	deliveries map[string]*delivery
	ready      []string // delivery IDs due now, FIFO
	sched      schedule
	seq        int64    // orders endpoints for pagination
	stats      Stats    // counters only; Jobs is built by Stats()
	events     []*event // the event history, oldest first
	eventSeq   int64
	// hookCreated, when set, runs after a create made its jobs and before it answers,
	// with the Idempotency-Key still in flight. Tests use it to hold a create open.
	hookCreated func()

	// The account (credits.go): its concurrency limit, balance (nil = unlimited), the
	// opening balance and the billing type users/me reports.
	concurrency    int
	credits        *int64
	openingCredits *int64
	billing        string
}

// job is one video or one translation. Times are absolute so that a restarted sandbox
// keeps its schedule.
type job struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind,omitempty"`  // JobKind*; "" (older state files) is a video
	Batch          string    `json:"batch,omitempty"` // ID of the first job of its create call
	Type           string    `json:"type"`
	AvatarID       string    `json:"avatar_id,omitempty"`
	TemplateID     string    `json:"template_id,omitempty"`
	Language       string    `json:"language,omitempty"`   // a translation's output language
	SourceURL      string    `json:"source_url,omitempty"` // a translation's source video
	AudioOnly      bool      `json:"audio_only,omitempty"` // translate_audio_only
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
	Polled         bool      `json:"polled,omitempty"`          // a status read has seen it terminal
	Held           []string  `json:"held,omitempty"`            // deliveries held until Polled (LateRate)
	Acked          int       `json:"acked,omitempty"`           // endpoint deliveries of its real event acked
	IdempotencyKey string    `json:"idempotency_key,omitempty"` // the create's key, "" for none
	freed          bool      // its concurrency slot is released; recomputed on load
}

// kind is the job's kind, older state files included.
func (j *job) kind() string {
	if j.Kind == "" {
		return JobKindVideo
	}
	return j.Kind
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
	// FollowUp is a contradicting event (ReorderRate), queued to the same URL once this
	// delivery is acked. It is dropped if this one is never acked, because HeyGen would
	// never send a lie alone.
	FollowUp json.RawMessage `json:"follow_up,omitempty"`
	Contra   bool            `json:"contra,omitempty"` // this is such a contradicting event
	Held     bool            `json:"held,omitempty"`   // waits for its job to be polled (LateRate)
	// EventID is the ID of the event in the history (GET /v3/webhooks/events); every
	// copy and retry of one event carries the same ID. "" for a contradicting event.
	EventID string `json:"event_id,omitempty"`
	state   deliveryState
}

type deliveryState int

const (
	stateWaiting  deliveryState = iota // on the schedule
	stateReady                         // in the ready queue
	stateInFlight                      // a worker is sending it
	stateHeld                          // waits for a poll to see its job terminal
)

// check refuses a Config that cannot run, and parses its signing scheme and answers.
func (cfg Config) check() (heygen.SigningScheme, Answers, error) {
	if cfg.DropRate < 0 || cfg.DropRate > 1 {
		return "", "", fmt.Errorf("sandbox: drop rate %v outside [0,1]", cfg.DropRate)
	}
	if err := cfg.Faults.validate(); err != nil {
		return "", "", err
	}
	if cfg.LinkTTL < 0 {
		return "", "", fmt.Errorf("sandbox: link TTL %v is negative", cfg.LinkTTL)
	}
	scheme, err := heygen.ParseSigningScheme(string(cfg.SigningScheme))
	if err != nil {
		return "", "", fmt.Errorf("sandbox: %w", err)
	}
	answers, err := ParseAnswers(string(cfg.Answers))
	if err != nil {
		return "", "", fmt.Errorf("sandbox: %w", err)
	}
	return scheme, answers, nil
}

// New builds a sandbox, loads StatePath if present and starts its background loop.
func New(cfg Config) (*Sandbox, error) {
	scheme, answers, err := cfg.check()
	if err != nil {
		return nil, err
	}
	faults := cfg.Faults
	if faults.DropRate == 0 {
		faults.DropRate = cfg.DropRate
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
		faults:     faults,
		linkTTL:    cfg.LinkTTL,
		scheme:     scheme,
		answers:    answers,
		inflight:   map[string]bool{},
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
	c, err := contract.Load()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.contract = c
	s.CheckContract(cfg.CheckContract)
	s.cond = sync.NewCond(&s.mu)
	s.linkKey = make([]byte, 32)
	_, _ = rand.Read(s.linkKey) // crypto/rand.Read never fails
	if err := s.load(); err != nil {
		return nil, err
	}
	if err := s.openAccount(cfg); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	s.start()
	return s, nil
}

// start runs the background loop, the state saver and the delivery workers until Close.
func (s *Sandbox) start() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2 + deliveryWorkers)
	go s.loop()
	go s.saver()
	for range deliveryWorkers {
		go s.worker()
	}
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
	st.JobsByCallbackID = map[string]JobTruth{}
	first := map[string]*job{}
	batches := map[string]map[string]bool{}
	for id, j := range s.jobs {
		st.Jobs[id] = j.status(now)
		if j.CallbackID == "" {
			continue
		}
		t := st.JobsByCallbackID[j.CallbackID]
		t.Jobs++
		t.WebhooksAcked += j.Acked
		st.JobsByCallbackID[j.CallbackID] = t
		if f := first[j.CallbackID]; f == nil || j.CreatedAt.Before(f.CreatedAt) || (j.CreatedAt.Equal(f.CreatedAt) && j.ID < f.ID) {
			first[j.CallbackID] = j
		}
		b := batches[j.CallbackID]
		if b == nil {
			b = map[string]bool{}
			batches[j.CallbackID] = b
		}
		b[cmp.Or(j.Batch, j.ID)] = true
	}
	for cb, j := range first {
		t := st.JobsByCallbackID[cb]
		t.VideoID, t.Kind, t.Status, t.Stuck = j.ID, j.kind(), j.status(now), j.Stuck
		t.OutputLanguage, t.Polled = j.Language, j.Polled
		if j.Done && j.Fail {
			t.FailureCode, t.FailureMessage = j.FailureCode, j.FailureMessage
		}
		t.Creates = len(batches[cb])
		st.JobsByCallbackID[cb] = t
	}
	return st
}

// Renders returns, per callback_id, every job made for it in the order it was created
// (a step re-rendered after a failure has one per attempt), each as a JobTruth of its
// own: its ID, kind, status now, failure, and the deliveries of its event that were
// acked. Creates and Jobs are 1 for each.
func (s *Sandbox) Renders() map[string][]JobTruth {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	byCB := map[string][]*job{}
	for _, j := range s.jobs {
		if j.CallbackID != "" {
			byCB[j.CallbackID] = append(byCB[j.CallbackID], j)
		}
	}
	out := make(map[string][]JobTruth, len(byCB))
	for cb, js := range byCB {
		slices.SortFunc(js, func(a, b *job) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
		})
		for _, j := range js {
			t := JobTruth{VideoID: j.ID, Kind: j.kind(), Status: j.status(now), Creates: 1, Jobs: 1, Stuck: j.Stuck,
				OutputLanguage: j.Language, WebhooksAcked: j.Acked, Polled: j.Polled, IdempotencyKey: j.IdempotencyKey}
			if j.Done && j.Fail {
				t.FailureCode, t.FailureMessage = j.FailureCode, j.FailureMessage
			}
			out[cb] = append(out[cb], t)
		}
	}
	return out
}

// Ends returns, per callback_id, when its latest job that has ended did (its render's
// scheduled end, whether or not anyone has read it yet): the truth a benchmark measures
// how late reelflow learnt of a job's end against.
func (s *Sandbox) Ends() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	out := map[string]time.Time{}
	for _, j := range s.jobs {
		// A job ends at DueAt (finishLocked sets CompletedAt to it), even while the
		// sandbox's scheduler has not yet marked it done.
		ended := j.Done || (!j.Stuck && !now.Before(j.DueAt))
		if !ended || j.CallbackID == "" {
			continue
		}
		if t, ok := out[j.CallbackID]; !ok || j.DueAt.After(t) {
			out[j.CallbackID] = j.DueAt
		}
	}
	return out
}

// PendingDeliveries counts the deliveries still to be sent or retried, leaving out those
// held until their job is polled (LateRate), which may wait for ever. Tests wait for it
// to reach zero before they compare the ground truth with what reelflow reports.
func (s *Sandbox) PendingDeliveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.deliveries {
		if !d.Held {
			n++
		}
	}
	return n
}

// SetDropRate changes the fraction of deliveries dropped from now on; it is clamped to
// [0,1]. It is Faults.DropRate, and leaves the other faults alone.
func (s *Sandbox) SetDropRate(f float64) {
	s.mu.Lock()
	fs := s.faults
	fs.DropRate = f
	s.faults = fs.clamped()
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
		if j := s.jobs[it.id]; j != nil && !now.Before(j.DueAt) {
			// A stuck job gives its concurrency slot back at its nominal end, so that
			// stuck renders cannot block a ConcurrencyLimit for ever.
			s.releaseLocked(j)
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
	s.releaseLocked(j)
	if j.Fail {
		s.stats.RendersFailed++
		if j.FailureCode == "" && j.FailureMessage == "" {
			// A job from an older state file, which only knew the magic avatar.
			j.FailureCode = FailureCodeAvatarUnavailable
			j.FailureMessage = fmt.Sprintf("avatar %q is unavailable (sandbox magic value)", j.AvatarID)
		}
	}
	eventType, body := s.eventLocked(j, !j.Fail, now)
	var contra []byte
	if s.faults.ReorderRate > 0 {
		_, contra = s.eventLocked(j, j.Fail, now)
	}
	s.log.Debug("sandbox job finished", zap.String("job_id", j.ID), zap.String("event_type", eventType))
	eventID := s.recordEventLocked(eventType, body, j.ID, now)
	for _, e := range s.endpointsInOrderLocked() {
		if e.wants(eventType) {
			s.enqueueLocked(&delivery{JobID: j.ID, EndpointID: e.ID, Body: body, EventID: eventID}, j, contra, now)
		}
	}
	if j.CallbackURL != "" {
		s.enqueueLocked(&delivery{JobID: j.ID, URL: j.CallbackURL, Body: body, EventID: eventID}, j, contra, now)
	}
	s.dirtyLocked()
}

// releaseLocked gives the job's concurrency slot back, once.
func (s *Sandbox) releaseLocked(j *job) {
	if !j.freed {
		j.freed = true
		s.rendering--
	}
}

// eventLocked builds the webhook a job sends: its success event or its failure event.
// Asked for the opposite of the truth, it builds the contradicting event of ReorderRate.
func (s *Sandbox) eventLocked(j *job, success bool, now time.Time) (string, []byte) {
	l := s.linksLocked(j.BaseURL, j, now)
	var eventType string
	var data any
	msg := j.FailureMessage
	if !j.Fail {
		msg = "contradicting event (sandbox reorder fault)"
	}
	switch {
	case j.kind() == JobKindTranslation && success:
		eventType = heygen.EventVideoTranslateSuccess
		data = translateSuccessData{ID: j.ID, URL: cmp.Or(l.video, l.audio), CallbackID: j.CallbackID, OutputLanguage: j.Language}
	case j.kind() == JobKindTranslation:
		eventType = heygen.EventVideoTranslateFail
		data = translateFailData{ID: j.ID, Message: msg, CallbackID: j.CallbackID, OutputLanguage: j.Language}
	case success:
		eventType = heygen.EventAvatarVideoSuccess
		data = successData{
			VideoID:           j.ID,
			URL:               l.video,
			CallbackID:        j.CallbackID,
			GIFDownloadURL:    l.gif,
			VideoSharePageURL: l.share,
			FolderID:          j.FolderID,
		}
	default:
		eventType = heygen.EventAvatarVideoFail
		data = failData{VideoID: j.ID, Msg: msg, CallbackID: j.CallbackID}
	}
	return eventType, mustJSON(eventBody{EventType: eventType, EventData: data})
}

// enqueueLocked queues a new delivery of a job's real event, deciding its faults: drop,
// late (held until a poll), delay, a contradicting follow-up, a duplicate.
func (s *Sandbox) enqueueLocked(d *delivery, j *job, contra []byte, now time.Time) {
	f := s.faults
	if s.roll(f.DropRate) {
		s.stats.DeliveriesDropped++
		s.log.Debug("sandbox delivery dropped", zap.String("job_id", d.JobID), zap.Bool("callback_url", d.EndpointID == ""))
		return
	}
	if contra != nil && s.roll(f.ReorderRate) {
		d.FollowUp = contra
		s.stats.DeliveriesReordered++
	}
	dup := s.roll(f.DuplicateRate)
	d.NextAt = now
	switch {
	case s.roll(f.LateRate):
		d.Held = true
		s.stats.DeliveriesLate++
	case s.roll(f.DelayRate):
		d.NextAt = now.Add(time.Duration(1 + s.rng.Int64N(int64(s.delayMaxLocked()))))
		s.stats.DeliveriesDelayed++
	}
	s.placeLocked(d, j, now)
	if dup {
		c := &delivery{JobID: d.JobID, EndpointID: d.EndpointID, URL: d.URL, Body: d.Body, NextAt: d.NextAt, Held: d.Held, EventID: d.EventID}
		s.placeLocked(c, j, now)
		s.stats.DeliveriesDuplicated++
	}
}

// placeLocked stores a new delivery and puts it where its fields say: held on its job,
// on the schedule, or ready now.
func (s *Sandbox) placeLocked(d *delivery, j *job, now time.Time) {
	d.ID = newID()
	s.deliveries[d.ID] = d
	switch {
	case d.Held:
		d.state = stateHeld
		j.Held = append(j.Held, d.ID)
	case d.NextAt.After(now):
		d.state = stateWaiting
		s.scheduleLocked(d.NextAt, itemDelivery, d.ID)
	default:
		s.readyLocked(d)
	}
}

// lateGap is how long after the poll that saw a job terminal its held deliveries go, so
// that they arrive after the poll's answer.
const lateGap = 50 * time.Millisecond

// observeLocked is a status read of j: it ends j if due and, the first time a read sees
// j terminal, releases the deliveries LateRate held.
func (s *Sandbox) observeLocked(j *job, now time.Time) {
	s.finishLocked(j, now)
	if !j.Done || j.Polled {
		return
	}
	j.Polled = true
	for _, id := range j.Held {
		if d := s.deliveries[id]; d != nil && d.state == stateHeld {
			d.Held = false
			d.state = stateWaiting
			d.NextAt = now.Add(lateGap)
			s.scheduleLocked(d.NextAt, itemDelivery, d.ID)
		}
	}
	j.Held = nil
	s.dirtyLocked()
}

// roll draws a fault decision with probability p. It draws nothing when p is 0, so a
// seeded run's decisions do not shift when an unrelated fault is off.
func (s *Sandbox) roll(p float64) bool {
	return p > 0 && s.rng.Float64() < p
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

// Len, Less, Swap, Push and Pop implement heap.Interface.
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
