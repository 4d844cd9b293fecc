package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

// Faults are the ways the sandbox can behave like a hostile HeyGen. Every rate is a
// probability in [0,1], drawn per decision from the seeded RNG; the zero value is a
// well-behaved HeyGen. Change them at run time with SetFaults.
//
// Webhook faults are decided per delivery (one event to one URL), once, when the job ends.
// Create faults are decided per create call, on every create route. Render faults are
// decided per job, at create time.
type Faults struct {
	DropRate      float64       `json:"drop_rate"`      // a delivery is never sent
	DuplicateRate float64       `json:"duplicate_rate"` // a second copy of the delivery is sent
	DelayRate     float64       `json:"delay_rate"`     // the first attempt waits a random time in (0, DelayMax]
	DelayMax      time.Duration `json:"delay_max"`      // 0 = RenderTime
	// ReorderRate sends a contradicting event (fail after success, or the reverse) to the
	// same URL once the real one was acked. The job's truth does not change.
	ReorderRate float64 `json:"reorder_rate"`
	// LateRate holds a delivery until a status read has seen the job terminal, then sends
	// it 50 ms later. A job nobody polls keeps it for ever.
	LateRate      float64       `json:"late_rate"`
	RateLimitRate float64       `json:"rate_limit_rate"` // a create gets 429 rate_limit_exceeded
	RetryAfter    time.Duration `json:"retry_after"`     // the Retry-After of every 429; 0 = 1s
	// ConcurrencyLimit refuses creates with 429 while this many jobs are rendering; 0 = off.
	// A stuck job gives its slot back at its nominal end.
	ConcurrencyLimit int     `json:"concurrency_limit"`
	ServerErrorRate  float64 `json:"server_error_rate"` // a create gets 500 internal_error
	// AmbiguousCreateRate makes the job (and remembers its Idempotency-Key), then closes
	// the connection without an answer.
	AmbiguousCreateRate float64 `json:"ambiguous_create_rate"`
	FailRate            float64 `json:"fail_rate"`  // the render fails (failure_code RENDER_FAILED)
	StuckRate           float64 `json:"stuck_rate"` // the render stays processing for ever
	// FailFirst fails the first FailFirst renders of each callback_id (RENDER_FAILED, a
	// failure not known to be permanent), and lets the next one succeed: the trigger of
	// re-render tests. 0 = off.
	FailFirst int `json:"fail_first"`
	// RenderTail adds an exponentially distributed time with this mean to every render
	// (capped at 20 times the mean), for long-tailed render times; 0 = off.
	RenderTail time.Duration `json:"render_tail"`
}

// maxTailFactor caps an exponential render tail, so one unlucky job cannot outlive a test.
const maxTailFactor = 20

// rates returns every rate with its name, for validation.
func (f *Faults) rates() map[string]*float64 {
	return map[string]*float64{
		"drop_rate": &f.DropRate, "duplicate_rate": &f.DuplicateRate, "delay_rate": &f.DelayRate,
		"reorder_rate": &f.ReorderRate, "late_rate": &f.LateRate, "rate_limit_rate": &f.RateLimitRate,
		"server_error_rate": &f.ServerErrorRate, "ambiguous_create_rate": &f.AmbiguousCreateRate,
		"fail_rate": &f.FailRate, "stuck_rate": &f.StuckRate,
	}
}

// validate refuses rates outside [0,1] (or NaN) and negative durations and limits.
func (f Faults) validate() error {
	for name, p := range f.rates() {
		if math.IsNaN(*p) || *p < 0 || *p > 1 {
			return fmt.Errorf("sandbox: fault %s = %v outside [0,1]", name, *p)
		}
	}
	switch {
	case f.DelayMax < 0:
		return fmt.Errorf("sandbox: fault delay_max %v is negative", f.DelayMax)
	case f.FailFirst < 0:
		return fmt.Errorf("sandbox: fault fail_first %d is negative", f.FailFirst)
	case f.RetryAfter < 0:
		return fmt.Errorf("sandbox: fault retry_after %v is negative", f.RetryAfter)
	case f.RenderTail < 0:
		return fmt.Errorf("sandbox: fault render_tail %v is negative", f.RenderTail)
	case f.ConcurrencyLimit < 0:
		return fmt.Errorf("sandbox: fault concurrency_limit %d is negative", f.ConcurrencyLimit)
	}
	return nil
}

// clamped returns f with rates clamped to [0,1] (NaN to 0) and negatives raised to 0.
func (f Faults) clamped() Faults {
	for _, p := range f.rates() {
		if math.IsNaN(*p) {
			*p = 0
		}
		*p = min(max(*p, 0), 1)
	}
	f.DelayMax = max(f.DelayMax, 0)
	f.RetryAfter = max(f.RetryAfter, 0)
	f.RenderTail = max(f.RenderTail, 0)
	f.ConcurrencyLimit = max(f.ConcurrencyLimit, 0)
	return f
}

// SetFaults replaces every fault at once, from the next decision on. Out-of-range values
// are clamped. Deliveries and jobs already decided keep their fate.
func (s *Sandbox) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f.clamped()
	s.mu.Unlock()
}

// Faults returns the faults in force.
func (s *Sandbox) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetLinkTTL changes how long file links minted from now on stay valid; 0 = for ever.
// Links already handed out keep their expiry.
func (s *Sandbox) SetLinkTTL(d time.Duration) {
	s.mu.Lock()
	s.linkTTL = max(d, 0)
	s.mu.Unlock()
}

// delayMaxLocked is DelayMax, or RenderTime when unset; never below 1 ns.
func (s *Sandbox) delayMaxLocked() time.Duration {
	d := s.faults.DelayMax
	if d <= 0 {
		d = s.renderTime
	}
	return max(d, 1)
}

// retryAfterLocked is the Retry-After of a 429.
func (s *Sandbox) retryAfterLocked() time.Duration {
	if s.faults.RetryAfter > 0 {
		return s.faults.RetryAfter
	}
	return time.Second
}

// renderTailLocked draws a job's extra render time.
func (s *Sandbox) renderTailLocked() time.Duration {
	mean := s.faults.RenderTail
	if mean <= 0 {
		return 0
	}
	return time.Duration(min(s.rng.ExpFloat64(), maxTailFactor) * float64(mean))
}

// faultsWire is Faults over HTTP, with durations as Go duration strings ("1.5s").
type faultsWire struct {
	Faults
	DelayMax   durationText `json:"delay_max"`
	RetryAfter durationText `json:"retry_after"`
	RenderTail durationText `json:"render_tail"`
}

// durationText is a duration written as "1.5s" and read from such a string or from a
// number of nanoseconds.
type durationText time.Duration

// MarshalJSON implements json.Marshaler.
func (d durationText) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *durationText) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = durationText(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a duration such as \"2s\" or nanoseconds")
	}
	*d = durationText(n)
	return nil
}

// serveFaults answers GET /_sandbox/faults with the faults in force, and POST with a
// Faults body (durations as "2s") replaces them; fields left out become zero.
func (s *Sandbox) serveFaults(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		obj, aerr := readObject(w, r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		var in faultsWire
		if err := json.Unmarshal(mustJSON(obj), &in); err != nil {
			writeError(w, invalid("", "body: %v", err))
			return
		}
		f := in.Faults
		f.DelayMax, f.RetryAfter, f.RenderTail = time.Duration(in.DelayMax), time.Duration(in.RetryAfter), time.Duration(in.RenderTail)
		if err := f.validate(); err != nil {
			writeError(w, invalid("", "%v", err))
			return
		}
		s.SetFaults(f)
	}
	f := s.Faults()
	writeJSON(w, http.StatusOK, faultsWire{Faults: f, DelayMax: durationText(f.DelayMax), RetryAfter: durationText(f.RetryAfter), RenderTail: durationText(f.RenderTail)})
}
