package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reelflow/reelflow/heygen"
)

// TapMode is what a Tap does with a webhook.
type TapMode int32

// The tap's modes.
const (
	// TapForward passes each webhook on to the receiver at once and answers the sandbox
	// with the receiver's answer: the real path, one HTTP hop longer.
	TapForward TapMode = iota
	// TapSwallow answers 200 and passes nothing on: webhooks are off, as for a client
	// that only polls. The tap still notes when the sandbox sent each one, which is when
	// its render ended.
	TapSwallow
	// TapHold answers 200 and keeps each webhook until Release sends them all.
	TapHold
)

// Tap is the sandbox's webhook endpoint in a benchmark. It notes when each job's first
// webhook was posted, by callback_id, and forwards, swallows or holds it by its mode.
// Forwarded webhooks are signed again with the receiver's secret, byte for byte the
// same body.
type Tap struct {
	target string
	secret string
	hc     *http.Client
	mode   atomic.Int32

	mu        sync.Mutex
	posted    map[string]time.Time // callback_id -> when its first webhook went to the receiver or was swallowed
	held      [][]byte
	received  int // webhooks the sandbox posted
	delivered int // of those, answered 2xx by the receiver (or swallowed)
	failed    int // receiver answers other than 2xx, and transport errors, retries included
	first     time.Time
}

// NewTap returns a tap that forwards to target, signing with secret.
func NewTap(target, secret string) *Tap {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	return &Tap{
		target: target,
		secret: secret,
		hc:     &http.Client{Transport: tr, Timeout: 30 * time.Second},
		posted: map[string]time.Time{},
	}
}

// SetMode switches the tap's mode for the webhooks that arrive from now on.
func (t *Tap) SetMode(m TapMode) { t.mode.Store(int32(m)) }

// Close drops idle connections to the receiver.
func (t *Tap) Close() { t.hc.CloseIdleConnections() }

// ServeHTTP takes one delivery from the sandbox. OPTIONS is the registration probe.
func (t *Tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	at := time.Now()
	t.mu.Lock()
	t.received++
	t.mu.Unlock()
	switch TapMode(t.mode.Load()) {
	case TapSwallow:
		t.note(body, at, true)
		w.WriteHeader(http.StatusOK)
	case TapHold:
		t.mu.Lock()
		t.held = append(t.held, body)
		t.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	default:
		t.note(body, at, false)
		status, err := t.forward(r.Context(), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(status)
	}
}

// forward posts body to the receiver and counts the answer.
func (t *Tap) forward(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.target, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(heygen.SignatureHeader, heygen.Sign(t.secret, body))
	resp, err := t.hc.Do(req)
	if err != nil {
		t.count(false)
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	t.count(resp.StatusCode >= 200 && resp.StatusCode <= 299)
	return resp.StatusCode, nil
}

func (t *Tap) count(ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok {
		t.delivered++
	} else {
		t.failed++
	}
}

// note records when the webhook of a callback_id went on its way (the first time only).
func (t *Tap) note(body []byte, at time.Time, swallowed bool) {
	var env struct {
		EventData struct {
			CallbackID string `json:"callback_id"`
		} `json:"event_data"`
	}
	_ = json.Unmarshal(body, &env)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.first.IsZero() {
		t.first = at
	}
	if _, ok := t.posted[env.EventData.CallbackID]; !ok {
		t.posted[env.EventData.CallbackID] = at
	}
	if swallowed {
		t.delivered++
	}
}

// Release sends every held webhook to the receiver with the given number of senders,
// as the sandbox would (it delivers 32 at a time), retrying a refused one up to 8 times a
// second apart, and switches the tap to TapForward. It returns when the storm started,
// and runs the storm in the background; Delivered tells how far it got.
func (t *Tap) Release(ctx context.Context, senders int) time.Time {
	t.mu.Lock()
	held := t.held
	t.held = nil
	t.first = time.Time{}
	t.mu.Unlock()
	t.SetMode(TapForward)
	start := time.Now()
	work := make(chan []byte)
	for range senders {
		go func() {
			for body := range work {
				t.note(body, time.Now(), false)
				for attempt := 0; attempt < 8; attempt++ {
					status, err := t.forward(ctx, body)
					if err == nil && status >= 200 && status <= 299 {
						break
					}
					if sleepCtx(ctx, time.Second) != nil {
						return
					}
				}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, b := range held {
			select {
			case work <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	return start
}

// TapCounts are the tap's counters.
type TapCounts struct {
	Received  int // webhooks the sandbox posted to the tap
	Held      int // webhooks waiting for Release
	Delivered int // answered 2xx by the receiver, or swallowed
	Failed    int // refused or failed attempts to the receiver
}

// Counts returns the tap's counters.
func (t *Tap) Counts() TapCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TapCounts{Received: t.received, Held: len(t.held), Delivered: t.delivered, Failed: t.failed}
}

// PostedAt returns when the webhook for callbackID was first passed on or swallowed.
func (t *Tap) PostedAt(callbackID string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.posted[callbackID]
	return at, ok
}

// waitTap polls the tap's counters until ok says so.
func waitTap(ctx context.Context, t *Tap, ok func(TapCounts) bool) (TapCounts, error) {
	for {
		c := t.Counts()
		if ok(c) {
			return c, nil
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return c, err
		}
	}
}
