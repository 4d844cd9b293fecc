package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/reelflow/reelflow/heygen"
)

// The account: its balance and concurrency limit, as HeyGen keeps them per account.
//
// Credit is charged when a create makes its jobs, as HeyGen checks the balance at create:
// CreditCost per job, 1 credit per started minute of video (a 61 s render costs 2). A
// translation costs the same per output language, by the length of its source when that
// is a sandbox video, else by the length the sandbox draws for it (5 to 65 s). A create
// whose jobs cost more than the balance makes nothing and gets 402 insufficient_credit
// ("Your account has 5 credits but this video requires 10 credits."). Failed renders are
// not refunded. Under an Idempotency-Key, the 402 is remembered like a success (the
// cautious reading of HeyGen's 24 h replay): a repeat of the refused key gets the same
// 402 again, even after a top-up; a fresh key goes through once there is credit.

// Billing types GET /v3/users/me can report; see Config.Billing.
const (
	BillingWallet       = heygen.BillingWallet       // wallet in credits (the default)
	BillingSubscription = heygen.BillingSubscription // premium credits; add-on credits 0
	BillingUsageBased   = heygen.BillingUsageBased   // remaining included credits, a spending cap of $0
)

// secondsPerCredit is the sandbox's rate: one credit per started minute of video.
const secondsPerCredit = 60

// CreditCost is what a render of seconds costs: 1 credit per started minute, at least 1.
func CreditCost(seconds float64) int64 {
	if math.IsNaN(seconds) || seconds <= 0 {
		return 1
	}
	return max(1, int64(math.Ceil(seconds/secondsPerCredit)))
}

// openAccount checks the account's Config and sets it up, after load: Config.Credits
// replaces a balance loaded from StatePath, and nil keeps it (unlimited for a new
// sandbox). It runs before the sandbox's goroutines start.
func (s *Sandbox) openAccount(cfg Config) error {
	switch {
	case cfg.ConcurrencyLimit < 0:
		return fmt.Errorf("sandbox: concurrency limit %d is negative", cfg.ConcurrencyLimit)
	case cfg.Credits != nil && *cfg.Credits < 0:
		return fmt.Errorf("sandbox: credits %d is negative", *cfg.Credits)
	}
	switch cfg.Billing {
	case "":
		s.billing = BillingWallet
	case BillingWallet, BillingSubscription, BillingUsageBased:
		s.billing = cfg.Billing
	default:
		return fmt.Errorf("sandbox: billing %q: want %s, %s or %s", cfg.Billing, BillingWallet, BillingSubscription, BillingUsageBased)
	}
	s.concurrency = cfg.ConcurrencyLimit
	if cfg.Credits != nil {
		c, o := *cfg.Credits, *cfg.Credits
		s.credits, s.openingCredits = &c, &o
	}
	return nil
}

// Credits returns the balance in credits, and false when it is unlimited.
func (s *Sandbox) Credits() (remaining int64, limited bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.credits == nil {
		return 0, false
	}
	return *s.credits, true
}

// SetCredits sets the balance to remaining credits (a top-up, or a cut); it must not be
// negative. Creates refused before keep their 402 under their key; a fresh key may go
// through at once.
func (s *Sandbox) SetCredits(remaining int64) error {
	if remaining < 0 {
		return fmt.Errorf("sandbox: credits %d is negative", remaining)
	}
	s.mu.Lock()
	s.credits = &remaining
	s.dirtyLocked()
	s.mu.Unlock()
	return nil
}

// SetUnlimitedCredits takes the balance away: every create is paid for.
func (s *Sandbox) SetUnlimitedCredits() {
	s.mu.Lock()
	s.credits = nil
	s.dirtyLocked()
	s.mu.Unlock()
}

// SetConcurrencyLimit sets the account's limit of jobs rendering at once (Config.
// ConcurrencyLimit); 0 or less is none. Faults.ConcurrencyLimit, when also set, applies
// on top: the lower of the two wins.
func (s *Sandbox) SetConcurrencyLimit(n int) {
	s.mu.Lock()
	s.concurrency = max(n, 0)
	s.mu.Unlock()
}

// concurrencyLimitLocked is the limit in force: the lower of the account's and the
// fault's, 0 when neither is set.
func (s *Sandbox) concurrencyLimitLocked() int {
	a, f := s.concurrency, s.faults.ConcurrencyLimit
	switch {
	case a <= 0:
		return max(f, 0)
	case f <= 0:
		return a
	}
	return min(a, f)
}

// sizeLocked gives every spec its job ID and its length in seconds, so that the create
// can be priced before anything is made.
func (s *Sandbox) sizeLocked(specs []jobSpec) []jobSpec {
	out := make([]jobSpec, len(specs))
	for i, sp := range specs {
		sp.id = newID()
		sp.duration = videoDuration(sp.id, sp.Script)
		if sp.Kind == JobKindTranslation {
			if d, ok := s.sourceDurationLocked(sp.SourceURL); ok {
				sp.duration = d
			}
		}
		out[i] = sp
	}
	return out
}

// sourceDurationLocked is the length of the sandbox video a link (/files/{id}.{ext}) points at.
func (s *Sandbox) sourceDurationLocked(link string) (float64, bool) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, false
	}
	dir, name := path.Split(u.Path)
	dot := strings.LastIndexByte(name, '.')
	if dir != "/files/" || dot <= 0 {
		return 0, false
	}
	if j := s.jobs[name[:dot]]; j != nil && j.Duration > 0 {
		return j.Duration, true
	}
	return 0, false
}

// chargeLocked charges the jobs of one create to the balance. When they cost more than is
// left it charges nothing and returns the 402 answer, remembered under idemKey.
func (s *Sandbox) chargeLocked(specs []jobSpec, idemKey string, now time.Time) (createResult, bool) {
	var cost int64
	for _, sp := range specs {
		cost += CreditCost(sp.duration)
	}
	if s.credits == nil {
		s.stats.CreditsSpent += cost
		return createResult{}, false
	}
	if have := *s.credits; cost > have {
		what := "this video"
		if specs[0].Kind == JobKindTranslation {
			what = "this translation"
		}
		s.stats.InsufficientCredit++
		aerr := &apiError{status: http.StatusPaymentRequired, code: heygen.CodeInsufficientCredit,
			message: fmt.Sprintf("Your account has %d credits but %s requires %d credits.", have, what, cost)}
		body := errorBody(aerr)
		if idemKey != "" {
			s.idem[idemKey] = &idemEntry{At: now, Status: aerr.status, Body: body}
			s.dirtyLocked()
		}
		return createResult{status: aerr.status, body: body}, true
	}
	*s.credits -= cost
	s.stats.CreditsSpent += cost
	return createResult{}, false
}

// replayLocked answers a create from the Idempotency-Key memory: the first answer, a
// success or a 402, as it was.
func (s *Sandbox) replayLocked(idemKey string, ambiguous bool) createResult {
	e := s.idem[idemKey]
	s.stats.IdempotentReplays++
	if e.Status == http.StatusPaymentRequired {
		s.stats.InsufficientCredit++
		s.stats.InsufficientCreditReplays++
	}
	return createResult{status: e.Status, body: e.Body, replayed: true, ambiguous: ambiguous}
}

// usersMe answers GET /v3/users/me: the sandbox account, with its balance in the one
// billing object its billing type fills in. An unlimited balance is reported as null
// (not reported), which HeyGen's contract allows.
func (s *Sandbox) usersMe(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.stats.UsersMeCalls++
	s.dirtyLocked()
	var remaining *int64
	if s.credits != nil {
		r := *s.credits
		remaining = &r
	}
	billing, opening := s.billing, s.openingCredits
	s.mu.Unlock()

	data := map[string]any{
		"username": "sandbox", "email": "sandbox@reelflow.invalid", "first_name": "Sandbox", "last_name": "Account",
		"billing_type": billing, "wallet": nil, "subscription": nil, "usage_based": nil,
	}
	switch billing {
	case BillingSubscription:
		data["subscription"] = map[string]any{"plan": "pro", "credits": map[string]any{
			"premium_credits": map[string]any{"remaining": remaining, "resets_at": time.Now().UTC().AddDate(0, 1, 0).Format(time.RFC3339)},
			"add_on_credits":  map[string]any{"remaining": 0, "resets_at": nil},
		}}
	case BillingUsageBased:
		// A limited balance has a spending cap of $0: the included credits are all there
		// is. An unlimited one has no cap.
		var spendingCap *float64
		if remaining != nil {
			spendingCap = new(float64)
		}
		data["usage_based"] = map[string]any{"included_credits": opening, "remaining_credits": remaining,
			"spending_cap_usd": spendingCap, "spending_current_usd": 0}
	default:
		data["wallet"] = map[string]any{"currency": heygen.CurrencyCredits, "remaining_balance": remaining, "auto_reload": nil}
	}
	writeData(w, data)
}

// creditsWire is the body of GET and POST /_sandbox/credits.
type creditsWire struct {
	// Remaining is the balance in credits; null is unlimited.
	Remaining *int64 `json:"remaining"`
	Spent     int64  `json:"spent"`
	Billing   string `json:"billing_type"`
}

// serveCredits answers GET /_sandbox/credits with the balance, and POST with
// {"remaining": N} (a whole number, 0 or more; null for unlimited) sets it first.
func (s *Sandbox) serveCredits(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if aerr := s.setCreditsFrom(w, r); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	s.mu.Lock()
	out := creditsWire{Spent: s.stats.CreditsSpent, Billing: s.billing}
	if s.credits != nil {
		v := *s.credits
		out.Remaining = &v
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// setCreditsFrom reads and applies a POST /_sandbox/credits body.
func (s *Sandbox) setCreditsFrom(w http.ResponseWriter, r *http.Request) *apiError {
	obj, aerr := readObject(w, r)
	if aerr != nil {
		return aerr
	}
	raw, ok := obj["remaining"]
	switch n, isNum := raw.(float64); {
	case !ok:
		return invalid("remaining", `remaining is required: {"remaining": N} credits, or null for unlimited`)
	case raw == nil:
		s.SetUnlimitedCredits()
	case !isNum || n != math.Trunc(n) || n < 0 || n > 1<<53:
		return invalid("remaining", "remaining must be a whole number of credits, 0 or more (got %s)", mustJSON(raw))
	default:
		_ = s.SetCredits(int64(n)) // n is not negative
	}
	return nil
}

// errorBody is HeyGen's error envelope of e, as writeError sends it.
func errorBody(e *apiError) json.RawMessage {
	body := map[string]any{"code": e.code, "message": e.message, "param": nil, "doc_url": nil}
	if e.param != "" {
		body["param"] = e.param
	}
	return mustJSON(map[string]any{"error": body})
}
