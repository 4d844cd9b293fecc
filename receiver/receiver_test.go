package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/heygen"
)

func TestMain(m *testing.M) {
	// gin's debug mode prints every route; the tests do not need to see them.
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const (
	secretNew   = "whsec_NEWsecret_4f1c9e2a7b"
	secretOld   = "whsec_OLDsecret_9d0b3a6c18"
	secretWrong = "whsec_WRONGsecret_000000"

	testTimeout = 100 * time.Millisecond
)

var (
	successBody   = []byte(`{"event_type":"avatar_video.success","event_data":{"video_id":"v_123","url":"https://files.example/v_123.mp4","callback_id":"welcome-42/render"}}`)
	failBody      = []byte(`{"event_type":"avatar_video.fail","event_data":{"video_id":"v_123","msg":"avatar not found","callback_id":"welcome-42/render"}}`)
	translateBody = []byte(`{"event_type":"video_translate.success","event_data":{"video_translate_id":"vt_9","url":"https://files.example/vt_9.mp4","callback_id":"welcome-42/translate/es-ES","output_language":"es-ES"}}`)
)

// sigMode is how the fake signaler answers.
type sigMode int

const (
	sigOK sigMode = iota
	sigNotFound
	sigUnavailable
	sigSlow
	sigPanic
)

type signalCall struct {
	workflowID, requestID string
	ev                    heygen.Event
}

// fakeSignaler records each call that reached it (except a panicking one) and answers
// as its mode says.
type fakeSignaler struct {
	mu    sync.Mutex
	mode  sigMode
	calls []signalCall
}

func (f *fakeSignaler) Signal(ctx context.Context, workflowID, requestID string, ev heygen.Event) error {
	f.mu.Lock()
	mode := f.mode
	if mode == sigPanic {
		f.mu.Unlock()
		panic("signaler exploded")
	}
	f.calls = append(f.calls, signalCall{workflowID, requestID, ev})
	f.mu.Unlock()
	switch mode {
	case sigNotFound:
		return errors.Join(errors.New("workflow execution already completed"), ErrWorkflowNotFound)
	case sigUnavailable:
		return errors.New("unavailable: connection refused")
	case sigSlow:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return nil
		}
	}
	return nil
}

func (f *fakeSignaler) set(mode sigMode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
	f.calls = nil
}

func (f *fakeSignaler) recorded() []signalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]signalCall(nil), f.calls...)
}

func newTestReceiver(t testing.TB, log *zap.Logger) (*Receiver, *fakeSignaler) {
	t.Helper()
	fake := &fakeSignaler{}
	r, err := New(Config{
		Secrets:       []string{secretNew, secretOld},
		SignalTimeout: testTimeout,
		Logger:        log,
	}, fake, nil)
	require.NoError(t, err)
	return r, fake
}

// hdr builds a header from name, value pairs with Add, so names may repeat.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func signed(body []byte) http.Header { return hdr("Signature", heygen.Sign(secretNew, body)) }

func padTo(body []byte, n int) []byte {
	return append(append([]byte(nil), body...), bytes.Repeat([]byte(" "), n-len(body))...)
}

func withData(data string) []byte {
	return []byte(`{"event_type":"avatar_video.success","event_data":{` + data + `}}`)
}

type tcase struct {
	name      string
	method    string // POST when empty
	path      string // WebhookPath when empty
	body      []byte
	header    http.Header
	chunked   bool // no Content-Length
	mode      sigMode
	reqID     string // sent as X-Request-ID when not empty
	wantCode  int
	wantState string // the "status" field of the answer
	wantCalls int    // calls that reached the signaler
	wantReqID string // the X-Request-ID expected back; any non-empty one when empty
}

// cases are hostile or odd requests, each with the answer it must get and whether the
// signaler may see it.
func cases() []tcase {
	sig := heygen.Sign(secretNew, successBody)
	oversized := padTo(successBody, int(DefaultMaxBodyBytes)+1)
	atLimit := padTo(successBody, int(DefaultMaxBodyBytes))
	deep := []byte(`{"event_type":"avatar_video.success","event_data":{"callback_id":"welcome-42/render","x":` +
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}}`)
	deeper := []byte(`{"event_type":"avatar_video.success","event_data":{"callback_id":"welcome-42/render","x":` +
		strings.Repeat(`{"a":`, 150000) + `1` + strings.Repeat("}", 150000) + `}}`)
	nested := withData(`"video_id":"v_1","callback_id":"welcome-42/render","extra":` +
		strings.Repeat("[", 100) + strings.Repeat("]", 100))
	reserialised := []byte("{\n  \"event_type\": \"avatar_video.success\",\n  \"event_data\": {\"video_id\": \"v_123\", \"url\": \"https://files.example/v_123.mp4\", \"callback_id\": \"welcome-42/render\"}\n}")
	flipped := append([]byte(nil), successBody...)
	flipped[40] ^= 0x01
	utf8Sig := strings.Repeat("é", 32) // 64 bytes, not hex

	ok := func(name string, body []byte) tcase {
		return tcase{name: name, body: body, header: signed(body), wantCode: 200, wantState: "signalled", wantCalls: 1}
	}
	bad := func(name string, body []byte, h http.Header) tcase {
		return tcase{name: name, body: body, header: h, wantCode: 401, wantState: "unauthorized"}
	}
	status := func(name string, body []byte, code int, state string) tcase {
		return tcase{name: name, body: body, header: signed(body), wantCode: code, wantState: state}
	}

	return []tcase{
		// Valid deliveries.
		ok("valid success event", successBody),
		ok("valid fail event", failBody),
		ok("valid translate success", translateBody),
		{name: "X-HeyGen-Signature header", body: successBody, header: hdr("X-HeyGen-Signature", sig), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "header names in odd case", body: successBody, header: hdr("sIgNaTuRe", sig), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "uppercase hex signature", body: successBody, header: hdr("Signature", strings.ToUpper(sig)), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "old secret during rotation", body: successBody, header: hdr("Signature", heygen.Sign(secretOld, successBody)), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "both headers, same value", body: successBody, header: hdr("Signature", sig, "X-HeyGen-Signature", sig), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "signature header twice, same value", body: successBody, header: hdr("Signature", sig, "Signature", sig), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "signature padded with spaces", body: successBody, header: hdr("Signature", "  "+sig+" "), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "no Content-Type", body: successBody, header: signed(successBody), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "Content-Type text/plain", body: successBody, header: hdr("Signature", sig, "Content-Type", "text/plain"), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "chunked, no Content-Length, small", body: successBody, header: signed(successBody), chunked: true, wantCode: 200, wantState: "signalled", wantCalls: 1},
		ok("body exactly at the limit", atLimit),
		ok("numbers above 2^53", withData(`"video_id":9007199254740993,"duration":1e400,"callback_id":"welcome-42/render"`)),
		ok("100 levels of nesting in an extra field", nested),
		ok("error given as an object", withData(`"video_id":"v_1","error":{"code":400,"message":"bad"},"callback_id":"welcome-42/render"`)),

		// Signatures.
		bad("no signature header", successBody, hdr("Content-Type", "application/json")),
		bad("empty Signature header", successBody, hdr("Signature", "")),
		bad("empty X-HeyGen-Signature header", successBody, hdr("X-HeyGen-Signature", "")),
		bad("whitespace-only signature", successBody, hdr("Signature", "   \t ")),
		bad("signature header twice, different values", successBody, hdr("Signature", sig, "Signature", heygen.Sign(secretWrong, successBody))),
		bad("both headers, different values", successBody, hdr("Signature", sig, "X-HeyGen-Signature", heygen.Sign(secretOld, []byte("x")))),
		bad("truncated signature", successBody, hdr("Signature", sig[:63])),
		bad("half a signature", successBody, hdr("Signature", sig[:32])),
		bad("non-hex signature", successBody, hdr("Signature", strings.Repeat("z", 64))),
		bad("wrong length: doubled", successBody, hdr("Signature", sig+sig)),
		bad("multibyte UTF-8 signature", successBody, hdr("Signature", utf8Sig)),
		bad("oversized signature header", successBody, hdr("Signature", strings.Repeat("a", 100_000))),
		{name: "sha256= prefix", body: successBody, header: hdr("Signature", "sha256="+sig), wantCode: 200, wantState: "signalled", wantCalls: 1},
		{name: "Heygen-Signature header", body: successBody, header: hdr("Heygen-Signature", sig), wantCode: 200, wantState: "signalled", wantCalls: 1},
		bad("sha256= prefix, wrong secret", successBody, hdr("Signature", "sha256="+heygen.Sign(secretWrong, successBody))),
		bad("base64 signature", successBody, hdr("Signature", "q83vEjRWeJA=")),
		bad("right signature, wrong secret", successBody, hdr("Signature", heygen.Sign(secretWrong, successBody))),
		bad("signed with an empty secret", successBody, hdr("Signature", heygen.Sign("", successBody))),
		bad("one flipped byte", flipped, signed(successBody)),
		bad("trailing newline added after signing", append(append([]byte(nil), successBody...), '\n'), signed(successBody)),
		bad("re-serialised JSON", reserialised, signed(successBody)),
		bad("signature of another body", successBody, signed(failBody)),
		bad("empty body, signature of a body", nil, signed(successBody)),

		// Signed, but not a webhook event.
		status("empty body", []byte{}, 400, "malformed"),
		status("null", []byte("null"), 400, "malformed"),
		status("[]", []byte("[]"), 400, "malformed"),
		status("a string", []byte(`"avatar_video.success"`), 400, "malformed"),
		status("{}", []byte("{}"), 400, "malformed"),
		status("invalid UTF-8 bytes", []byte{0xff, 0xfe, 0xfd, '{', '}'}, 400, "malformed"),
		status("trailing junk", append(append([]byte(nil), successBody...), []byte("garbage")...), 400, "malformed"),
		status("two objects", append(append([]byte(nil), successBody...), successBody...), 400, "malformed"),
		status("truncated JSON", successBody[:len(successBody)-2], 400, "malformed"),
		status("10k levels of nesting", deep, 400, "malformed"),
		status("150k levels of nesting", deeper, 400, "malformed"),
		status("event_type not a string", []byte(`{"event_type":42,"event_data":{"callback_id":"welcome-42/render"}}`), 400, "malformed"),
		status("event_data not an object", []byte(`{"event_type":"avatar_video.success","event_data":[1,2]}`), 400, "malformed"),
		status("empty event_type", []byte(`{"event_type":"  ","event_data":{"callback_id":"welcome-42/render"}}`), 400, "malformed"),

		// Signed and well formed, but not for reelflow to signal.
		status("invalid UTF-8 in event_type", []byte("{\"event_type\":\"avatar_video.success\xff\",\"event_data\":{\"callback_id\":\"welcome-42/render\"}}"), 200, "ignored"),
		status("invalid UTF-8 in callback_id", []byte("{\"event_type\":\"avatar_video.success\",\"event_data\":{\"callback_id\":\"welcome-42/\xff\"}}"), 200, "not_ours"),
		status("unknown event type", []byte(`{"event_type":"avatar_video_gif.success","event_data":{"callback_id":"welcome-42/render"}}`), 200, "ignored"),
		status("no event_data", []byte(`{"event_type":"avatar_video.success"}`), 200, "no_callback_id"),
		status("no callback_id", withData(`"video_id":"v_1","url":"https://x/y.mp4"`), 200, "no_callback_id"),
		status("empty callback_id", withData(`"video_id":"v_1","callback_id":""`), 200, "no_callback_id"),
		status("callback_id not ours", withData(`"video_id":"v_1","callback_id":"other-app-1234"`), 200, "not_ours"),
		status("callback_id names a system workflow", withData(`"video_id":"v_1","callback_id":"temporal-sys-tq-scanner-workflow"`), 200, "not_ours"),
		status("callback_id with path traversal", withData(`"video_id":"v_1","callback_id":"welcome-42/../../etc"`), 200, "not_ours"),
		status("callback_id with a newline", withData(`"video_id":"v_1","callback_id":"welcome-42/render\nX"`), 200, "not_ours"),

		// Sizes.
		{name: "oversized with Content-Length", body: oversized, header: signed(oversized), wantCode: 413, wantState: "too_large"},
		{name: "oversized chunked", body: oversized, header: signed(oversized), chunked: true, wantCode: 413, wantState: "too_large"},

		// Methods and paths.
		{name: "GET on the webhook path", method: http.MethodGet, wantCode: 405, wantState: "method_not_allowed"},
		{name: "PUT on the webhook path", method: http.MethodPut, body: successBody, header: signed(successBody), wantCode: 405, wantState: "method_not_allowed"},
		{name: "DELETE on the webhook path", method: http.MethodDelete, wantCode: 405, wantState: "method_not_allowed"},
		{name: "PATCH on the webhook path", method: http.MethodPatch, body: successBody, header: signed(successBody), wantCode: 405, wantState: "method_not_allowed"},
		{name: "OPTIONS probe", method: http.MethodOptions, wantCode: 200, wantState: "ok"},
		{name: "trailing slash", path: WebhookPath + "/", body: successBody, header: signed(successBody), wantCode: 404, wantState: "not_found"},
		{name: "query string is ignored", path: WebhookPath + "?x=1", body: successBody, header: signed(successBody), wantCode: 200, wantState: "signalled", wantCalls: 1},

		// Temporal's answers.
		{name: "late event (workflow closed)", body: successBody, header: signed(successBody), mode: sigNotFound, wantCode: 200, wantState: "late", wantCalls: 1},
		{name: "Temporal unavailable", body: successBody, header: signed(successBody), mode: sigUnavailable, wantCode: 503, wantState: "unavailable", wantCalls: 1},
		{name: "signal slower than SignalTimeout", body: successBody, header: signed(successBody), mode: sigSlow, wantCode: 503, wantState: "timeout", wantCalls: 1},
		{name: "panic in the signaler", body: successBody, header: signed(successBody), mode: sigPanic, wantCode: 500, wantState: "error"},

		// Request IDs.
		{name: "request ID taken", reqID: "abc-123_X.y", body: successBody, header: signed(successBody), wantCode: 200, wantState: "signalled", wantCalls: 1, wantReqID: "abc-123_X.y"},
		{name: "hostile request ID sanitised", reqID: "<script>a\"b c;d/../e</script>", method: http.MethodOptions, wantCode: 200, wantState: "ok", wantReqID: "scriptabcd..escript"},
		{name: "long request ID shortened", reqID: strings.Repeat("r", 500), body: successBody, header: hdr("Signature", "00"), wantCode: 401, wantState: "unauthorized", wantReqID: strings.Repeat("r", 64)},
		{name: "request ID of only bad characters", reqID: "%%%%", method: http.MethodOptions, wantCode: 200, wantState: "ok"},
	}
}

// do sends tc through the router.
func do(t testing.TB, h http.Handler, tc tcase) *httptest.ResponseRecorder {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	path := tc.path
	if path == "" {
		path = WebhookPath
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(tc.body))
	if tc.chunked {
		req.ContentLength = -1
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(tc.body)))
	}
	for name, vs := range tc.header {
		for _, v := range vs {
			req.Header.Add(name, v)
		}
	}
	if tc.reqID != "" {
		req.Header.Set(RequestIDHeader, tc.reqID)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWebhookTable(t *testing.T) {
	all := cases()
	require.GreaterOrEqual(t, len(all), 30)
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			r, fake := newTestReceiver(t, nil)
			fake.set(tc.mode)
			start := time.Now()
			rec := do(t, r.Handler(), tc)
			elapsed := time.Since(start)

			assert.Equal(t, tc.wantCode, rec.Code, "body: %s", rec.Body.String())
			if tc.mode != sigPanic {
				assert.NotEqual(t, http.StatusInternalServerError, rec.Code, "no input is answered 500")
			}
			var resp response
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp), "body: %q", rec.Body.String())
			assert.Equal(t, tc.wantState, resp.Status)

			id := rec.Header().Get(RequestIDHeader)
			assert.NotEmpty(t, id)
			assert.Equal(t, id, resp.RequestID)
			assert.Regexp(t, `^[A-Za-z0-9._-]{1,64}$`, id)
			if tc.wantReqID != "" {
				assert.Equal(t, tc.wantReqID, id)
			}

			calls := fake.recorded()
			assert.Len(t, calls, tc.wantCalls)
			if rec.Code == http.StatusServiceUnavailable {
				assert.NotEmpty(t, rec.Header().Get("Retry-After"))
			}
			if tc.mode == sigSlow {
				// 503 within the deadline, not after the signaler's 10 s.
				assert.Less(t, elapsed, testTimeout+time.Second)
			}
			if tc.wantState == "signalled" {
				require.Len(t, calls, 1)
				assert.Equal(t, calls[0].ev.CallbackID, calls[0].workflowID)
				assert.Equal(t, calls[0].ev.DedupeKey(), calls[0].requestID)
			}
		})
	}
}

func TestSignalerGetsParsedEventAndDedupeKey(t *testing.T) {
	r, fake := newTestReceiver(t, nil)
	body := withData(`"video_id":9007199254740993,"url":"https://files.example/a.mp4","duration":12.5,"callback_id":"welcome-42/render","folder_id":"f1"`)
	want, err := heygen.ParseEvent(body)
	require.NoError(t, err)

	for range 2 { // a repeated delivery carries the same request ID
		rec := do(t, r.Handler(), tcase{body: body, header: signed(body)})
		require.Equal(t, http.StatusOK, rec.Code)
	}
	calls := fake.recorded()
	require.Len(t, calls, 2)
	for _, c := range calls {
		assert.Equal(t, "welcome-42/render", c.workflowID)
		assert.Equal(t, want.DedupeKey(), c.requestID)
		assert.Equal(t, want, c.ev)
		assert.Equal(t, "9007199254740993", c.ev.JobID, "IDs above 2^53 keep every digit")
		assert.JSONEq(t, `{"video_id":9007199254740993,"url":"https://files.example/a.mp4","duration":12.5,"callback_id":"welcome-42/render","folder_id":"f1"}`, string(c.ev.Data))
	}

	// The fail event of the same job is another fact: another request ID.
	fail := withData(`"video_id":9007199254740993,"msg":"no","callback_id":"welcome-42/render"`)
	fail = bytes.Replace(fail, []byte("avatar_video.success"), []byte("avatar_video.fail"), 1)
	rec := do(t, r.Handler(), tcase{body: fail, header: signed(fail)})
	require.Equal(t, http.StatusOK, rec.Code)
	calls = fake.recorded()
	require.Len(t, calls, 3)
	assert.NotEqual(t, calls[0].requestID, calls[2].requestID)
	assert.Equal(t, "no", calls[2].ev.Message)
}

func TestNewRefusesToRunWithoutSecrets(t *testing.T) {
	for _, secrets := range [][]string{nil, {}, {""}, {" ", "\t"}} {
		_, err := New(Config{Secrets: secrets}, &fakeSignaler{}, nil)
		require.Error(t, err)
		assert.ErrorIs(t, err, heygen.ErrNoSecrets)
		assert.Contains(t, err.Error(), "HEYGEN_WEBHOOK_SECRETS")
		assert.Contains(t, err.Error(), "insecure-skip-verify")
	}
	_, err := New(Config{Secrets: []string{"s"}}, nil, nil)
	assert.Error(t, err, "a nil Signaler is refused")
}

func TestInsecureSkipVerify(t *testing.T) {
	log, logs := observed()
	fake := &fakeSignaler{}
	r, err := New(Config{InsecureSkipVerify: true, Logger: log}, fake, nil)
	require.NoError(t, err)
	require.Equal(t, 1, logs.FilterMessageSnippet("DISABLED").Len(), "a warning at start")

	for range 3 {
		rec := do(t, r.Handler(), tcase{body: successBody})
		require.Equal(t, http.StatusOK, rec.Code)
	}
	assert.Len(t, fake.recorded(), 3)
	assert.Equal(t, 3, logs.FilterMessageSnippet("WITHOUT signature verification").Len(), "a warning per delivery")

	// Even unverified, nothing outside reelflow's ID scheme is signalled.
	rec := do(t, r.Handler(), tcase{body: withData(`"callback_id":"temporal-sys-history-scanner"`)})
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Len(t, fake.recorded(), 3)
}

type healthFunc func(ctx context.Context) error

func (f healthFunc) CheckHealth(ctx context.Context) error { return f(ctx) }

func TestHealthAndReadiness(t *testing.T) {
	tests := []struct {
		name   string
		health HealthChecker
		want   int
	}{
		{"no checker", nil, 200},
		{"healthy", healthFunc(func(context.Context) error { return nil }), 200},
		{"down", healthFunc(func(context.Context) error { return errors.New("connection refused") }), 503},
		{"hangs", healthFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }), 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(Config{Secrets: []string{secretNew}}, &fakeSignaler{}, tc.health)
			require.NoError(t, err)
			rec := do(t, r.Handler(), tcase{method: http.MethodGet, path: "/healthz"})
			assert.Equal(t, 200, rec.Code, "/healthz does not depend on Temporal")

			start := time.Now()
			rec = do(t, r.Handler(), tcase{method: http.MethodGet, path: "/readyz"})
			assert.Equal(t, tc.want, rec.Code)
			assert.Less(t, time.Since(start), readyTimeout+time.Second)
			assert.NotEmpty(t, rec.Header().Get(RequestIDHeader))
		})
	}
}

func TestServerLimits(t *testing.T) {
	r, _ := newTestReceiver(t, nil)
	srv := r.Server("127.0.0.1:0")
	assert.Equal(t, "127.0.0.1:0", srv.Addr)
	// The values docs/receiver.md's Limits table promises.
	assert.Equal(t, 5*time.Second, srv.ReadHeaderTimeout)
	assert.Equal(t, 15*time.Second, srv.ReadTimeout)
	assert.Equal(t, testTimeout+12*time.Second, srv.WriteTimeout, "--signal-timeout + 12 s: the answer waits for the signal")
	assert.Equal(t, 90*time.Second, srv.IdleTimeout)
	assert.Equal(t, 16<<10, srv.MaxHeaderBytes)
	assert.Equal(t, r.Handler(), srv.Handler)

	// And with the defaults: 17 s.
	d, err := New(Config{Secrets: []string{secretNew}}, &fakeSignaler{}, nil)
	require.NoError(t, err)
	assert.Equal(t, 17*time.Second, d.Server("").WriteTimeout)
}

// TestConcurrentRepeatsShareOneRequestID: the same delivery sent 50 times at once is
// answered 200 each time, and every signal carries the same request ID, so that Temporal
// records it once (the end-to-end test checks the history itself).
func TestConcurrentRepeatsShareOneRequestID(t *testing.T) {
	r, fake := newTestReceiver(t, nil)
	h := r.Handler()
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Go(func() {
			codes[i] = do(t, h, tcase{body: successBody, header: signed(successBody)}).Code
		})
	}
	wg.Wait()
	for _, c := range codes {
		assert.Equal(t, http.StatusOK, c)
	}
	calls := fake.recorded()
	require.Len(t, calls, 50)
	for _, c := range calls {
		assert.Equal(t, calls[0].requestID, c.requestID)
	}
}
