package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reelflow/reelflow/contract"
	"github.com/reelflow/reelflow/heygen"
)

// opKey carries the published operation a request matched, in its context.
type opKey struct{}

// opFrom returns the published operation of a request, nil for an unpublished route.
func opFrom(ctx context.Context) *contract.Operation {
	op, _ := ctx.Value(opKey{}).(*contract.Operation)
	return op
}

// serveAPI serves a request through mux, holding a published operation to HeyGen's rules
// first: its query parameters as published (type, minimum, maximum, enum). The body is
// checked against the request schema where it is read (readObject), so that a create
// refused for its body still counts as a create call.
func (s *Sandbox) serveAPI(mux http.Handler, w http.ResponseWriter, r *http.Request) {
	op, _, ok := s.contract.Match(r.Method, r.URL.Path)
	if !ok {
		mux.ServeHTTP(w, r)
		return
	}
	if aerr := checkQuery(op, r.URL.Query()); aerr != nil {
		writeError(w, aerr)
		return
	}
	mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), opKey{}, op)))
}

// checkQuery checks the published query parameters present in q.
func checkQuery(op *contract.Operation, q url.Values) *apiError {
	for _, p := range op.Params {
		if p.In != "query" || !q.Has(p.Name) {
			continue
		}
		v := q.Get(p.Name)
		if p.Type == "integer" {
			n, err := strconv.Atoi(v)
			switch {
			case err != nil:
				return invalid(p.Name, "%s must be a whole number", p.Name)
			case p.Min != nil && n < *p.Min, p.Max != nil && n > *p.Max:
				return invalid(p.Name, "%s must be %s", p.Name, bounds(p))
			}
		}
		if len(p.Enum) > 0 && !contains(p.Enum, v) {
			return invalid(p.Name, "%s must be one of %s", p.Name, strings.Join(p.Enum, ", "))
		}
	}
	return nil
}

func bounds(p contract.Param) string {
	switch {
	case p.Min != nil && p.Max != nil:
		return fmt.Sprintf("%d to %d", *p.Min, *p.Max)
	case p.Min != nil:
		return fmt.Sprintf("at least %d", *p.Min)
	case p.Max != nil:
		return fmt.Sprintf("at most %d", *p.Max)
	}
	return "a whole number"
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// checkBody holds a body to the request schema of the request's published operation.
func checkBody(r *http.Request, raw []byte) *apiError {
	op := opFrom(r.Context())
	if op == nil || !op.HasRequestBody() {
		return nil
	}
	err := op.ValidateRequest(raw)
	if err == nil {
		return nil
	}
	var v *contract.Violation
	if errors.As(err, &v) {
		return invalid(v.Param, "%s", v.Error())
	}
	return invalid("", "%v", err)
}

// checkIdemKey refuses an Idempotency-Key out of HeyGen's format.
func checkIdemKey(key string) *apiError {
	if key == "" || heygen.ValidIdempotencyKey(key) {
		return nil
	}
	return invalid("Idempotency-Key", "Idempotency-Key must be 1 to %d characters of A-Z, a-z, 0-9, _, -, : and .", heygen.MaxIdempotencyKey)
}

// idemScope is where an Idempotency-Key applies: one route and one resource, as HeyGen
// documents, so the same key on another route or another path parameter is independent.
// POST /v3/videos keeps the empty scope of older state files.
func idemScope(r *http.Request) string {
	if r.Method == http.MethodPost && r.URL.Path == "/v3/videos" {
		return ""
	}
	return r.Method + " " + r.URL.Path + "\x00"
}

// idempotent gives a mutation that is not a create (the webhook endpoint calls) HeyGen's
// Idempotency-Key rules: a repeat within 24 h replays the first 2xx answer, whatever its
// body; a repeat while the first is in flight gets 409 request_in_progress.
func (s *Sandbox) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			h(w, r)
			return
		}
		if aerr := checkIdemKey(key); aerr != nil {
			writeError(w, aerr)
			return
		}
		k := idemScope(r) + key
		s.mu.Lock()
		if e := s.idem[k]; e != nil && time.Since(e.At) < idempotencyTTL {
			s.stats.IdempotentReplays++
			s.mu.Unlock()
			w.Header().Set("Idempotent-Replayed", "true")
			writeRaw(w, e.Status, e.Body)
			return
		}
		if s.inflight[k] {
			s.stats.IdempotencyConflicts++
			s.mu.Unlock()
			writeError(w, errInProgress())
			return
		}
		s.inflight[k] = true
		s.mu.Unlock()

		rec := &recorder{ResponseWriter: w}
		h(rec, r)

		s.mu.Lock()
		delete(s.inflight, k)
		if rec.status() >= 200 && rec.status() <= 299 {
			s.idem[k] = &idemEntry{At: time.Now(), Status: rec.status(), Body: rec.body.Bytes()}
			s.dirtyLocked()
		}
		s.mu.Unlock()
	}
}

func errInProgress() *apiError {
	return &apiError{status: http.StatusConflict, code: "request_in_progress", message: "a request with this Idempotency-Key is in progress"}
}

// checkWebhookURL is HeyGen's rule for an endpoint URL: absolute HTTPS. Plain HTTP is
// allowed on loopback only (127.0.0.1, ::1, localhost), where `reelflow dev` runs its
// receiver; HeyGen itself could not reach it there.
func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be an absolute https URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if loopback(u.Hostname()) {
			return nil
		}
		return errors.New("must be https (plain http only on loopback)")
	}
	return errors.New("must be an absolute https URL")
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// recorder passes an answer through while keeping a copy of its status and body, or,
// with hold, keeps it back for its owner to send (minimized).
type recorder struct {
	http.ResponseWriter
	code     int
	body     bytes.Buffer
	hijacked bool
	hold     bool
}

func (rec *recorder) WriteHeader(code int) {
	if rec.code == 0 {
		rec.code = code
	}
	if !rec.hold {
		rec.ResponseWriter.WriteHeader(code)
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	rec.body.Write(b)
	if rec.hold {
		return len(b), nil
	}
	return rec.ResponseWriter.Write(b)
}

// Hijack lets hangUp cut the connection through the recorder; a held answer is then
// never sent.
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := rec.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("sandbox: connection cannot be hijacked")
	}
	rec.hijacked = true
	return hj.Hijack()
}

// Unwrap lets http.ResponseController reach the connection.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *recorder) status() int { return rec.code }
