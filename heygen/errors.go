package heygen

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrUndecodable is wrapped by the error for a 2xx answer that the client cannot read:
// not JSON, no data, or without the field the call exists for. Its kind is
// KindRetryable, never permanent: for a create, HeyGen has accepted (and billed) the job,
// and a retry under the same Idempotency-Key gets the original answer replayed; for a
// read, asking again is free.
var ErrUndecodable = errors.New("undecodable answer")

// ErrInvalidIdempotencyKey is wrapped by the error for a create whose Idempotency-Key
// fails HeyGen's published pattern (see ValidIdempotencyKey). The call is refused before
// it is sent, as a permanent error: the key is the caller's bug, and HeyGen would only
// answer 400.
var ErrInvalidIdempotencyKey = errors.New("invalid Idempotency-Key")

// ErrorKind says what a caller should do about a failed call.
type ErrorKind int

const (
	// KindPermanent is a 4xx other than 408, 429 and a 409 request_in_progress: a bad
	// request, a bad key, no credit. Retrying cannot help.
	KindPermanent ErrorKind = iota
	// KindRetryable is a 5xx, a 408, a 409 request_in_progress, a network failure or a
	// 2xx answer that cannot be read (ErrUndecodable).
	KindRetryable
	// KindRateLimited is a 429: retry after RetryAfter.
	KindRateLimited
)

// String names the kind; the names double as Temporal ApplicationError types.
func (k ErrorKind) String() string {
	switch k {
	case KindRetryable:
		return "HeyGenRetryable"
	case KindRateLimited:
		return "HeyGenRateLimited"
	default:
		return "HeyGenPermanent"
	}
}

// APIError is a failed HeyGen call.
type APIError struct {
	Kind       ErrorKind
	Op         string // what was called, for example "POST /v3/videos"
	Status     int    // HTTP status, 0 for a network failure
	Code       string // HeyGen's error code, for example "rate_limit_exceeded"
	Message    string
	Param      string        // the request field HeyGen blames, if any
	DocURL     string        // HeyGen's doc_url for the code, if any
	RequestID  string        // X-Request-Id, for HeyGen support
	RetryAfter time.Duration // set for KindRateLimited when HeyGen sent Retry-After
	Err        error         // the network error, ErrUndecodable or ErrInvalidIdempotencyKey
}

// Error reads like "POST /v3/videos: 429 rate_limit_exceeded: too many jobs (request abc)".
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Status == 0 && e.Err != nil && e.Message == "" {
		b.WriteString("network: ")
		b.WriteString(e.Err.Error())
		return b.String()
	}
	// Status 0 without Err is a call refused before it was sent (see errorf).
	if e.Status != 0 {
		b.WriteString(strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		if e.Status != 0 || e.Code != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Message)
	}
	if e.Err != nil && !strings.Contains(e.Message, e.Err.Error()) {
		// A failure to read the body of an answer, or the client's own refusal: keep the cause.
		b.WriteString(": " + e.Err.Error())
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Unwrap returns the cause: a network error, ErrUndecodable or ErrInvalidIdempotencyKey.
func (e *APIError) Unwrap() error { return e.Err }

// KindOf returns the kind of err. Errors that are not *APIError count as retryable,
// because they come from the transport or the context, not from HeyGen's verdict.
func KindOf(err error) ErrorKind {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return KindRetryable
}

// IsPermanent reports whether err is a HeyGen verdict that retrying cannot change.
func IsPermanent(err error) bool { return err != nil && KindOf(err) == KindPermanent }

// RetryAfter returns how long HeyGen asked the caller to wait, and whether err is a 429.
func RetryAfter(err error) (time.Duration, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Kind == KindRateLimited {
		return ae.RetryAfter, true
	}
	return 0, false
}

// kindForStatus maps an HTTP status and HeyGen code to a kind.
func kindForStatus(status int, code string) ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status >= 500:
		return KindRetryable
	case status == http.StatusConflict && code == "request_in_progress":
		// The same Idempotency-Key is still being served: the answer will come.
		return KindRetryable
	case status == http.StatusRequestTimeout:
		return KindRetryable
	default:
		return KindPermanent
	}
}

// maxRetryAfter caps a Retry-After: a longer wait is nonsense from a 429 and would
// overflow time.Duration when given in seconds.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads Retry-After as seconds (RFC 9110 delay-seconds; a decimal
// fraction is tolerated) or an HTTP date. Anything else, negative, NaN or Inf is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDecimal(v) {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs >= maxRetryAfter.Seconds() {
			// Only a range error can fail here: the value is all digits, so it is huge.
			return maxRetryAfter
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// isDecimal reports whether s is digits with at most one '.', and at least one digit.
// strconv.ParseFloat alone would also take "Inf", "NaN", "1e9" and "0x1p4".
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// errorf builds a permanent error for a call the client refuses to make.
func errorf(op string, status int, format string, args ...any) *APIError {
	return &APIError{Kind: KindPermanent, Op: op, Status: status, Message: fmt.Sprintf(format, args...)}
}

// undecodable builds the retryable error for a 2xx answer that cannot be read (see
// ErrUndecodable).
func undecodable(op string, status int, format string, args ...any) *APIError {
	return &APIError{Kind: KindRetryable, Op: op, Status: status, Message: fmt.Sprintf(format, args...), Err: ErrUndecodable}
}
