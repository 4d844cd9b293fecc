package receiver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/sdk/converter"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and run in every `go test`.
// Explore further with: go test -fuzz=FuzzVerify -fuzztime=1m ./receiver/

// asciiLower lowercases A-Z only, as hex decoding is case-insensitive for ASCII only.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// postSigned sends body with the given signature header values through h.
func postSigned(h http.Handler, body []byte, sigs ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
	if len(sigs) > 0 {
		req.Header["Signature"] = sigs
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzVerify: a signature is accepted exactly when it is the HMAC of the body under one
// of the secrets (optionally prefixed "sha256="), nothing panics, and the router answers every refused one 401 without
// signalling.
func FuzzVerify(f *testing.F) {
	secrets := []string{secretNew, secretOld}
	r, fake := newTestReceiver(f, nil)
	h := r.Handler()
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		want := false
		norm := strings.TrimSpace(sig)
		if len(norm) >= len("sha256=") && strings.EqualFold(norm[:len("sha256=")], "sha256=") {
			norm = strings.TrimSpace(norm[len("sha256="):]) // the optional algorithm prefix
		}
		norm = asciiLower(norm)
		for _, s := range secrets {
			if norm == heygen.Sign(s, body) {
				want = true
			}
		}
		err := heygen.Verify(body, sig, secrets)
		if (err == nil) != want {
			t.Fatalf("Verify(%q, %q) = %v, want accepted=%v", body, sig, err, want)
		}
		if err := heygen.Verify(body, heygen.Sign(secretOld, body), secrets); err != nil {
			t.Fatalf("the right signature is refused: %v", err)
		}

		fake.set(sigOK)
		rec := postSigned(h, body, sig)
		switch {
		case rec.Code == http.StatusInternalServerError:
			t.Fatalf("500 for input %q / %q", body, sig)
		case !want && rec.Code != http.StatusUnauthorized && rec.Code != http.StatusRequestEntityTooLarge:
			t.Fatalf("a bad signature got %d", rec.Code)
		case want && rec.Code == http.StatusUnauthorized:
			t.Fatalf("a good signature got 401")
		case !want && len(fake.recorded()) > 0:
			t.Fatalf("signalled without a valid signature")
		}
	})
}

// FuzzParseEvent: parsing never panics, a parsed event has a type and can be encoded as
// a signal payload, and a signed body is answered 200 or 400 (never 500), signalling only
// a known event for an ID of reelflow's scheme, with its dedupe key.
func FuzzParseEvent(f *testing.F) {
	r, fake := newTestReceiver(f, nil)
	h := r.Handler()
	dc := converter.GetDefaultDataConverter()
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, perr := heygen.ParseEvent(body)
		if perr == nil {
			if ev.Type == "" || ev.Type != strings.TrimSpace(ev.Type) {
				t.Fatalf("parsed event with type %q", ev.Type)
			}
			// An event that cannot be encoded would be answered 503 for ever.
			if _, err := dc.ToPayloads(ev); err != nil {
				t.Fatalf("parsed event cannot be encoded: %v", err)
			}
		}

		fake.set(sigOK)
		rec := postSigned(h, body, heygen.Sign(secretNew, body))
		calls := fake.recorded()
		switch {
		case int64(len(body)) > DefaultMaxBodyBytes:
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("oversized body got %d", rec.Code)
			}
			return
		case perr != nil && rec.Code != http.StatusBadRequest:
			t.Fatalf("unparsable body got %d: %v", rec.Code, perr)
		case perr == nil && rec.Code != http.StatusOK:
			t.Fatalf("parsed body got %d", rec.Code)
		case len(calls) > 1:
			t.Fatalf("signalled %d times", len(calls))
		}
		if len(calls) == 1 {
			c := calls[0]
			if _, _, ok := workflows.ParseJobWorkflowID(c.workflowID); !ok {
				t.Fatalf("signalled a foreign workflow %q", c.workflowID)
			}
			if !c.ev.Known() || c.workflowID != c.ev.CallbackID || c.requestID != c.ev.DedupeKey() {
				t.Fatalf("bad signal %+v", c)
			}
		}
	})
}
