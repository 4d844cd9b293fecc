package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/reelflow/reelflow/contract"
)

// ContractViolation is an answer of the sandbox that breaks HeyGen's published contract:
// a 2xx answer of a published operation that its response schema refuses or that carries
// an unpublished field, an error that is not HeyGen's envelope, or a 429 without
// Retry-After.
type ContractViolation struct {
	Method, Path string // the request
	// Operation is HeyGen's operation ID, "" for a route HeyGen does not publish.
	Operation string
	Status    int
	Body      string
	Err       error
}

// String reads like "GET /v3/videos/x (VideoGet) 200: unpublished fields: data.callback_id".
func (v ContractViolation) String() string {
	op := ""
	if v.Operation != "" {
		op = " (" + v.Operation + ")"
	}
	return fmt.Sprintf("%s %s%s %d: %v; body %s", v.Method, v.Path, op, v.Status, v.Err, v.Body)
}

// CheckContract makes the sandbox hold every /v3 answer it gives from now on to HeyGen's
// published contract and call report for each one that breaks it. report runs on the
// request's goroutine, after the answer was sent, and must be safe for concurrent use.
// nil stops the checks. Contract tests use it across whole end-to-end runs.
func (s *Sandbox) CheckContract(report func(ContractViolation)) {
	if report == nil {
		s.check.Store(nil)
		return
	}
	s.check.Store(&report)
}

// ContractChecked counts the answers CheckContract has held to the contract, so that a
// contract test can tell that it checked something.
func (s *Sandbox) ContractChecked() int64 { return s.checks.Load() }

// checked wraps a /v3 request in a recorder when CheckContract is on, and returns the
// writer to use and the check to run once the request was served.
func (s *Sandbox) checked(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func()) {
	p := s.check.Load()
	if p == nil || !strings.HasPrefix(r.URL.Path, "/v3/") {
		return w, func() {}
	}
	report := *p
	rec := &recorder{ResponseWriter: w}
	return rec, func() {
		if rec.hijacked || rec.code == 0 {
			return // hung up on purpose (AmbiguousCreateRate): no answer to check
		}
		s.checks.Add(1)
		op, _, _ := s.contract.Match(r.Method, r.URL.Path)
		if err := s.checkAnswer(op, rec); err != nil {
			v := ContractViolation{Method: r.Method, Path: r.URL.Path, Status: rec.code, Body: rec.body.String(), Err: err}
			if op != nil {
				v.Operation = op.Name
			}
			report(v)
		}
	}
}

// checkAnswer holds one recorded answer to the contract.
func (s *Sandbox) checkAnswer(op *contract.Operation, rec *recorder) error {
	body := rec.body.Bytes()
	switch {
	case rec.code >= 400:
		if err := s.contract.CheckError(body); err != nil {
			return fmt.Errorf("error envelope: %w", err)
		}
		if rec.code == http.StatusTooManyRequests {
			return check429(rec)
		}
		return nil
	case rec.code < 200 || rec.code > 299:
		return fmt.Errorf("status %d is neither 2xx nor an error", rec.code)
	case op == nil:
		return fmt.Errorf("a route HeyGen does not publish answered %d", rec.code)
	}
	return op.CheckResponse(body)
}

// check429 holds a 429 to HeyGen's rule: Retry-After and the code rate_limit_exceeded.
func check429(rec *recorder) error {
	ra := rec.Header().Get("Retry-After")
	if f, err := strconv.ParseFloat(ra, 64); err != nil || f < 0 {
		return fmt.Errorf("429 with Retry-After %q, want seconds", ra)
	}
	if !strings.Contains(rec.body.String(), `"code":"rate_limit_exceeded"`) {
		return fmt.Errorf("429 without the code rate_limit_exceeded")
	}
	return nil
}
