package heygen

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testKey = "test-api-key"

// recorded is one request the fake HeyGen saw.
type recorded struct {
	Method string
	Path   string
	Query  map[string][]string
	Header http.Header
	Body   []byte
}

// fakeHeyGen is an httptest server (on 127.0.0.1) that records requests and answers
// through handle.
type fakeHeyGen struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	handle func(w http.ResponseWriter, r *http.Request, n int)
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) (*fakeHeyGen, *Client) {
	t.Helper()
	f := &fakeHeyGen{t: t, handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		f.handle(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	require.True(t, strings.HasPrefix(f.srv.URL, "http://127.0.0.1:"), f.srv.URL)
	return f, NewClient(f.srv.URL+"/", testKey, f.srv.Client())
}

func (f *fakeHeyGen) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// reply writes status, headers and a body.
func reply(w http.ResponseWriter, status int, body string, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		w.Header().Set(kv[i], kv[i+1])
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func TestNewClientDefaults(t *testing.T) {
	c := NewClient("", "k", nil)
	assert.Equal(t, DefaultBaseURL, c.BaseURL())
	assert.Equal(t, 30*time.Second, c.http.Timeout)
	assert.Equal(t, "http://h:1", NewClient("http://h:1///", "k", nil).BaseURL())
}

func TestCreateVideoSuccess(t *testing.T) {
	tests := []struct {
		name    string
		req     CreateVideoRequest
		wantKey string // Idempotency-Key header; "" means absent
	}{
		{
			name: "a valid callback id doubles as idempotency key",
			req: CreateVideoRequest{
				Body:        map[string]any{"type": "avatar", "avatar_id": "a1", "script": "héllo \"world\"", "voice_id": "v1", "resolution": "1080p", "background": map[string]any{"type": "color", "value": "#fff"}, "caption": map[string]any{"file_format": "srt"}},
				CallbackID:  "Job:123",
				CallbackURL: "https://example.test/cb",
			},
			wantKey: "Job:123",
		},
		{
			name: "explicit idempotency key wins",
			req: CreateVideoRequest{
				Body:           map[string]any{"type": "image", "image_url": "https://x/i.png", "nested": []any{1.5, "x", nil}},
				CallbackID:     "Job:124",
				IdempotencyKey: "idem-1",
			},
			wantKey: "idem-1",
		},
		{
			name:    "no callback, no key",
			req:     CreateVideoRequest{Body: map[string]any{"type": "avatar", "callback_id": "caller-set"}},
			wantKey: "",
		},
		{
			name:    "a callback id HeyGen would refuse is not sent as the key",
			req:     CreateVideoRequest{Body: map[string]any{"type": "avatar"}, CallbackID: "welcome-42/render"},
			wantKey: "",
		},
		{
			name:    "nil body",
			req:     CreateVideoRequest{CallbackID: "Job:125", IdempotencyKey: "welcome-42.render:run-1"},
			wantKey: "welcome-42.render:run-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				reply(w, 200, `{"data":{"video_id":"vid_1","status":"waiting","output_format":"mp4"}}`, "X-Request-Id", "req-ok")
			})
			// A deep copy of the caller's body, to prove it was not mutated.
			before, err := json.Marshal(tt.req.Body)
			require.NoError(t, err)
			var beforeLen int
			if tt.req.Body != nil {
				beforeLen = len(tt.req.Body)
			}

			got, err := c.CreateVideo(context.Background(), tt.req)
			require.NoError(t, err)
			assert.Equal(t, CreatedVideo{VideoID: "vid_1", Status: StatusPending, OutputFormat: "mp4", RequestID: "req-ok"}, got)

			after, err := json.Marshal(tt.req.Body)
			require.NoError(t, err)
			assert.JSONEq(t, string(before), string(after), "caller's body mutated")
			if tt.req.Body != nil {
				assert.Len(t, tt.req.Body, beforeLen, "caller's map gained keys")
			}

			reqs := f.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, "/v3/videos", r.Path)
			assert.Equal(t, testKey, r.Header.Get("X-Api-Key"))
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
			if tt.wantKey == "" {
				assert.Empty(t, r.Header.Values("Idempotency-Key"))
			} else {
				assert.Equal(t, tt.wantKey, r.Header.Get("Idempotency-Key"))
			}

			// The body is the caller's, plus callback_id and callback_url.
			want := map[string]any{}
			require.NoError(t, json.Unmarshal(before, &want))
			if want == nil {
				want = map[string]any{}
			}
			if tt.req.CallbackID != "" {
				want["callback_id"] = tt.req.CallbackID
			}
			if tt.req.CallbackURL != "" {
				want["callback_url"] = tt.req.CallbackURL
			}
			wantJSON, err := json.Marshal(want)
			require.NoError(t, err)
			assert.JSONEq(t, string(wantJSON), string(r.Body))
		})
	}
}

func TestValidIdempotencyKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"a", true},
		{"welcome-42.render:0f3c_9A", true},
		{"123e4567-e89b-12d3-a456-426614174000", true},
		{strings.Repeat("k", 255), true},
		{"", false},
		{strings.Repeat("k", 256), false},
		{"welcome-42/render", false},
		{"welcome-42/render@run-1", false},
		{"Job 1", false},
		{" Job1", false},
		{"Job:1\nX-Evil: 1", false},
		{"Jöb:1", false},
		{"sha256=abc", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ValidIdempotencyKey(tt.key), "%q", tt.key)
	}
	// Every byte, against HeyGen's published pattern itself.
	re := regexp.MustCompile(idempotencyKeyPattern)
	for b := range 256 {
		k := "a" + string([]byte{byte(b)}) + "z"
		assert.Equal(t, re.MatchString(k), ValidIdempotencyKey(k), "byte %#x", b)
	}
}

func TestCreatesRefuseInvalidIdempotencyKey(t *testing.T) {
	const bad = "welcome-42/render@run-1" // the key reelflow used to send
	calls := map[string]func(c *Client) error{
		"video": func(c *Client) error {
			_, err := c.CreateVideo(context.Background(), CreateVideoRequest{Body: map[string]any{"type": "avatar"}, IdempotencyKey: bad})
			return err
		},
		"template": func(c *Client) error {
			_, err := c.CreateTemplateVideo(context.Background(), "tpl", CreateVideoRequest{Body: map[string]any{"variables": map[string]any{}}, IdempotencyKey: bad})
			return err
		},
		"translation": func(c *Client) error {
			_, err := c.CreateTranslation(context.Background(), CreateTranslationRequest{Body: map[string]any{}, IdempotencyKey: bad})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				reply(w, 400, `{"error":{"code":"invalid_parameter","message":"bad key"}}`)
			})
			err := call(c)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidIdempotencyKey)
			assert.True(t, IsPermanent(err), "a caller's bug, never retried")
			assert.Contains(t, err.Error(), "Idempotency-Key")
			assert.Empty(t, f.requests(), "refused before sending")
		})
	}
}

func TestCreateVideoErrors(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		status        int
		body          string
		headers       []string
		wantKind      ErrorKind
		wantRetry     time.Duration
		wantRateLimit bool
		wantCode      string
		wantMessage   string
		wantParam     string
		wantDocURL    string
		wantInText    []string
	}{
		{
			name: "429 retry-after seconds", status: 429,
			body:     `{"error":{"code":"rate_limit_exceeded","message":"too many jobs"}}`,
			headers:  []string{"Retry-After", "17", "X-Request-Id", "rq-429"},
			wantKind: KindRateLimited, wantRetry: 17 * time.Second, wantRateLimit: true,
			wantCode: "rate_limit_exceeded", wantMessage: "too many jobs",
			wantInText: []string{"POST /v3/videos", "429", "rate_limit_exceeded", "too many jobs", "rq-429"},
		},
		{
			name: "429 retry-after http date", status: 429,
			body:     `{"error":{"code":"rate_limit_exceeded","message":"slow down"}}`,
			headers:  []string{"Retry-After", now.Add(90 * time.Second).Format(http.TimeFormat)},
			wantKind: KindRateLimited, wantRetry: 90 * time.Second, wantRateLimit: true,
			wantCode: "rate_limit_exceeded", wantMessage: "slow down",
		},
		{
			name: "429 without retry-after", status: 429, body: ``,
			wantKind: KindRateLimited, wantRetry: 0, wantRateLimit: true,
			wantMessage: "Too Many Requests",
		},
		{
			name: "500", status: 500, body: `{"error":{"code":"internal_error","message":"boom"}}`,
			headers:  []string{"Retry-After", "5"},
			wantKind: KindRetryable, wantCode: "internal_error", wantMessage: "boom",
		},
		{
			name: "502 html", status: 502, body: `<html>bad gateway</html>`, headers: []string{"Content-Type", "text/html"},
			wantKind: KindRetryable, wantMessage: "Bad Gateway",
		},
		{
			name: "400 v3 envelope", status: 400,
			body:     `{"error":{"code":"invalid_parameter","message":"avatar_id is required","param":"avatar_id","doc_url":"https://docs"}}`,
			headers:  []string{"X-Request-Id", "rq-400"},
			wantKind: KindPermanent, wantCode: "invalid_parameter", wantMessage: "avatar_id is required", wantParam: "avatar_id",
			wantDocURL: "https://docs",
			wantInText: []string{"400 invalid_parameter: avatar_id is required", "(request rq-400)"},
		},
		{
			name: "401", status: 401, body: `{"error":{"code":"unauthorized","message":"bad key"}}`,
			wantKind: KindPermanent, wantCode: "unauthorized", wantMessage: "bad key",
		},
		{
			name: "402", status: 402, body: `{"error":{"code":"insufficient_credit","message":"no credit"}}`,
			wantKind: KindPermanent, wantCode: "insufficient_credit", wantMessage: "no credit",
		},
		{
			name: "408", status: 408, body: ``,
			wantKind: KindRetryable, wantMessage: "Request Timeout",
		},
		{
			name: "409 request_in_progress", status: 409,
			body:     `{"error":{"code":"request_in_progress","message":"a request with this key is in progress"}}`,
			wantKind: KindRetryable, wantCode: "request_in_progress", wantMessage: "a request with this key is in progress",
		},
		{
			name: "409 other", status: 409, body: `{"error":{"code":"conflict","message":"no"}}`,
			wantKind: KindPermanent, wantCode: "conflict", wantMessage: "no",
		},
		{
			name: "legacy v1 envelope", status: 400, body: `{"code":400,"message":"invalid avatar","data":null}`,
			wantKind: KindPermanent, wantCode: "400", wantMessage: "invalid avatar",
		},
		{
			name: "legacy v2 string error", status: 400, body: `{"error":"video_inputs is required","data":null}`,
			wantKind: KindPermanent, wantMessage: "video_inputs is required",
		},
		{
			name: "legacy v2 error object with numeric code", status: 400, body: `{"error":{"code":40001,"message":"bad dimension"},"data":null}`,
			wantKind: KindPermanent, wantCode: "40001", wantMessage: "bad dimension",
		},
		{
			name: "error null and message", status: 403, body: `{"error":null,"message":"forbidden here"}`,
			wantKind: KindPermanent, wantMessage: "forbidden here",
		},
		{
			name: "non-json error body", status: 404, body: `not found`,
			wantKind: KindPermanent, wantMessage: "Not Found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				reply(w, tt.status, tt.body, tt.headers...)
			})
			c.now = func() time.Time { return now }
			_, err := c.CreateVideo(context.Background(), CreateVideoRequest{Body: map[string]any{"type": "avatar"}, CallbackID: "Job:1"})
			require.Error(t, err)
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.wantKind, ae.Kind, "kind")
			assert.Equal(t, tt.wantKind, KindOf(err))
			assert.Equal(t, tt.wantKind == KindPermanent, IsPermanent(err))
			assert.Equal(t, tt.status, ae.Status)
			assert.Equal(t, "POST /v3/videos", ae.Op)
			assert.Equal(t, tt.wantCode, ae.Code)
			assert.Equal(t, tt.wantMessage, ae.Message)
			assert.Equal(t, tt.wantParam, ae.Param)
			assert.Equal(t, tt.wantDocURL, ae.DocURL)
			d, ok := RetryAfter(err)
			assert.Equal(t, tt.wantRateLimit, ok)
			assert.Equal(t, tt.wantRetry, d)
			assert.Equal(t, tt.wantRetry, ae.RetryAfter)
			for _, s := range tt.wantInText {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestCreateVideoBadSuccessAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		wantInText string
	}{
		{"non-json 200", `<html>ok</html>`, "decode response"},
		{"no video_id", `{"data":{"status":"pending"}}`, "no video_id"},
		{"empty video_id", `{"data":{"video_id":""}}`, "no video_id"},
		{"no data", `{"video_id":"v"}`, "no data"},
		{"data null", `{"data":null}`, "no data"},
		{"empty body", ``, "no data"},
		{"data wrong type", `{"data":[1,2]}`, "decode data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				reply(w, 200, tt.body, "X-Request-Id", "rq-x")
			})
			_, err := c.CreateVideo(context.Background(), CreateVideoRequest{Body: map[string]any{}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantInText)
			assert.Contains(t, err.Error(), "POST /v3/videos")
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 200, ae.Status)
			// HeyGen accepted (and billed) the create: the retry under the same
			// Idempotency-Key gets the replay, so this is never permanent.
			assert.Equal(t, KindRetryable, KindOf(err))
			assert.ErrorIs(t, err, ErrUndecodable)
		})
	}
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens any more
	c := NewClient(base, testKey, nil)
	_, err := c.CreateVideo(context.Background(), CreateVideoRequest{Body: map[string]any{}, CallbackID: "j"})
	require.Error(t, err)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, KindRetryable, ae.Kind)
	assert.Equal(t, 0, ae.Status)
	require.Error(t, ae.Err)
	assert.ErrorIs(t, err, ae.Err)
	assert.Contains(t, err.Error(), "POST /v3/videos: network: ")
	assert.False(t, IsPermanent(err))
	_, limited := RetryAfter(err)
	assert.False(t, limited)
}

func TestConnectionDroppedMidAnswerIsRetryable(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		hj, ok := w.(http.Hijacker)
		require.True(t, ok)
		conn, _, err := hj.Hijack()
		require.NoError(t, err)
		_ = conn.Close()
	})
	_, err := c.GetVideo(context.Background(), "v1")
	require.Error(t, err)
	assert.Equal(t, KindRetryable, KindOf(err))
}

func TestContextCancelled(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 200, `{"data":{"id":"v1","status":"completed"}}`)
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.GetVideo(ctx, "v1")
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, KindRetryable, KindOf(err))
}

func TestGetVideo(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Video
	}{
		{
			name: "completed, all fields",
			body: `{"data":{"id":"v1","status":"completed","title":"T","video_url":"https://v","captioned_video_url":"https://cv","subtitle_url":"https://s","thumbnail_url":"https://t","gif_url":"https://g","video_page_url":"https://p","duration":12.5,"created_at":1714550000,"completed_at":1714550300,"callback_id":"Job:1","folder_id":"f1"}}`,
			want: Video{ID: "v1", Status: StatusCompleted, Title: "T", VideoURL: "https://v", CaptionedVideoURL: "https://cv", SubtitleURL: "https://s", ThumbnailURL: "https://t", GIFURL: "https://g", VideoPageURL: "https://p", Duration: 12.5, CreatedAt: 1714550000, CompletedAt: 1714550300, CallbackID: "Job:1", FolderID: "f1"},
		},
		{name: "waiting", body: `{"data":{"id":"v1","status":"waiting"}}`, want: Video{ID: "v1", Status: StatusPending}},
		{name: "queued", body: `{"data":{"id":"v1","status":"queued"}}`, want: Video{ID: "v1", Status: StatusPending}},
		{name: "pending", body: `{"data":{"id":"v1","status":"pending"}}`, want: Video{ID: "v1", Status: StatusPending}},
		{name: "running", body: `{"data":{"id":"v1","status":"running"}}`, want: Video{ID: "v1", Status: StatusProcessing}},
		{name: "processing", body: `{"data":{"id":"v1","status":"processing"}}`, want: Video{ID: "v1", Status: StatusProcessing}},
		{name: "upper case", body: `{"data":{"id":"v1","status":"Completed"}}`, want: Video{ID: "v1", Status: StatusCompleted}},
		{
			name: "failed with message",
			body: `{"data":{"id":"v1","status":"failed","failure_code":"AVATAR_NOT_FOUND","failure_message":"no avatar"}}`,
			want: Video{ID: "v1", Status: StatusFailed, FailureCode: "AVATAR_NOT_FOUND", FailureMessage: "no avatar"},
		},
		{
			name: "numeric failure code, float and string timestamps",
			body: `{"data":{"id":"v1","status":"failed","failure_code":40012,"created_at":1714550000.75,"completed_at":"1714550300","duration":"3.5"}}`,
			want: Video{ID: "v1", Status: StatusFailed, FailureCode: "40012", CreatedAt: 1714550000, CompletedAt: 1714550300, Duration: 3.5},
		},
		{
			name: "rfc3339 timestamp, null fields",
			body: `{"data":{"id":"v1","status":"processing","created_at":"2024-05-01T08:00:00Z","completed_at":null,"duration":null,"video_url":null}}`,
			want: Video{ID: "v1", Status: StatusProcessing, CreatedAt: 1714550400},
		},
		{name: "no id in answer", body: `{"data":{"status":"processing"}}`, want: Video{ID: "v/1 ?", Status: StatusProcessing}},
		{name: "unknown status kept", body: `{"data":{"id":"v1","status":"draft"}}`, want: Video{ID: "v1", Status: "draft"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, 200, tt.body) })
			id := tt.want.ID
			got, err := c.GetVideo(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			r := f.requests()[0]
			assert.Equal(t, http.MethodGet, r.Method)
			assert.Equal(t, "/v3/videos/"+id, r.Path, "id is path-escaped")
			assert.Equal(t, testKey, r.Header.Get("X-Api-Key"))
			assert.Empty(t, r.Header.Get("Idempotency-Key"))
			assert.Empty(t, r.Body)
		})
	}
}

func TestGetVideoNotFound(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 404, `{"error":{"code":"not_found","message":"video not found"}}`)
	})
	_, err := c.GetVideo(context.Background(), "v2-only")
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
	assert.Contains(t, err.Error(), "GET /v3/videos/v2-only: 404 not_found: video not found")
}

func TestVideoStatusesPaginates(t *testing.T) {
	pages := []string{
		`{"data":[{"video_id":"a","status":"queued"},{"video_id":"b","status":"processing","error":null}],"has_more":true,"next_token":"t1"}`,
		`{"data":[{"video_id":"c","status":"failed","error":{"code":400,"message":"bad script","detail":"too long"}}],"has_more":true,"next_token":"t2"}`,
		`{"data":[{"video_id":"d","status":"not_found"},{"video_id":"e","status":"completed"},{"video_id":"f","status":"failed","error":"render crashed"}],"has_more":false,"next_token":""}`,
	}
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, pages[n]) })
	ids := []string{"a", "b", "c", "d", "e", "f"}
	got, err := c.VideoStatuses(context.Background(), ids)
	require.NoError(t, err)
	assert.Equal(t, []StatusEntry{
		{VideoID: "a", Status: StatusPending},
		{VideoID: "b", Status: StatusProcessing},
		{VideoID: "c", Status: StatusFailed, Error: "400: bad script"},
		{VideoID: "d", Status: StatusNotFound},
		{VideoID: "e", Status: StatusCompleted},
		{VideoID: "f", Status: StatusFailed, Error: "render crashed"},
	}, got)
	reqs := f.requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, "/v3/videos/statuses", r.Path)
		assert.Equal(t, []string{"a,b,c,d,e,f"}, r.Query["video_ids"])
		assert.Equal(t, testKey, r.Header.Get("X-Api-Key"))
		switch i {
		case 0:
			assert.NotContains(t, r.Query, "token")
		case 1:
			assert.Equal(t, []string{"t1"}, r.Query["token"])
		case 2:
			assert.Equal(t, []string{"t2"}, r.Query["token"])
		}
	}
}

func TestVideoStatusesStopsOnRepeatedToken(t *testing.T) {
	// A server that cycles t1 -> t2 -> t1 must not keep the client busy forever.
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		next := "t1"
		if n%2 == 0 {
			next = "t2"
		}
		if n == 0 {
			next = "t1"
		}
		reply(w, 200, `{"data":[{"video_id":"x","status":"queued"}],"has_more":true,"next_token":"`+next+`"}`)
	})
	got, err := c.VideoStatuses(context.Background(), []string{"x"})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(f.requests()), 3)
	assert.Len(t, got, len(f.requests()))
}

func TestVideoStatusesLimits(t *testing.T) {
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 200, `{"data":[],"has_more":false}`)
	})
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = "v"
	}
	_, err := c.VideoStatuses(context.Background(), ids)
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
	assert.Equal(t, "GET /v3/videos/statuses: 101 ids, at most 100", err.Error())

	got, err := c.VideoStatuses(context.Background(), ids[:100])
	require.NoError(t, err)
	assert.Empty(t, got)

	got, err = c.VideoStatuses(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Len(t, f.requests(), 1, "101 ids and no ids make no request")
}

func TestVideoStatusesError(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			reply(w, 200, `{"data":[{"video_id":"a","status":"queued"}],"has_more":true,"next_token":"t1"}`)
			return
		}
		reply(w, 503, `{"error":{"code":"unavailable","message":"try later"}}`)
	})
	got, err := c.VideoStatuses(context.Background(), []string{"a", "b"})
	require.Error(t, err)
	assert.Nil(t, got)
	assert.Equal(t, KindRetryable, KindOf(err))
}

func TestCreateWebhookEndpoint(t *testing.T) {
	tests := []struct {
		name       string
		events     []string
		wantBody   string
		wantEvents []string
	}{
		{"all events", nil, `{"url":"https://r.test/hook"}`, nil},
		{"some events", []string{"avatar_video.success", "avatar_video.fail"}, `{"url":"https://r.test/hook","events":["avatar_video.success","avatar_video.fail"]}`, []string{"avatar_video.success", "avatar_video.fail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				ev, _ := json.Marshal(tt.events)
				reply(w, 200, `{"data":{"endpoint_id":"ep1","url":"https://r.test/hook","events":`+string(ev)+`,"status":"enabled","created_at":1714550000,"secret":"whsec_abc"}}`)
			})
			got, err := c.CreateWebhookEndpoint(context.Background(), "https://r.test/hook", tt.events)
			require.NoError(t, err)
			assert.Equal(t, WebhookEndpoint{ID: "ep1", URL: "https://r.test/hook", Events: tt.wantEvents, Status: "enabled", CreatedAt: "1714550000", Secret: "whsec_abc"}, got)
			r := f.requests()[0]
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, "/v3/webhooks/endpoints", r.Path)
			assert.Equal(t, testKey, r.Header.Get("X-Api-Key"))
			assert.JSONEq(t, tt.wantBody, string(r.Body))
		})
	}
}

func TestListWebhookEndpointsPaginates(t *testing.T) {
	pages := []string{
		`{"data":[{"endpoint_id":"ep1","url":"https://a","status":"enabled","created_at":"2024-05-01T00:00:00Z"}],"has_more":true,"next_token":"n1"}`,
		`{"data":[{"endpoint_id":"ep2","url":"https://b","events":["avatar_video.success"],"status":"disabled"}],"has_more":true,"next_token":"n2"}`,
		`{"data":[],"has_more":false}`,
	}
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, pages[n]) })
	got, err := c.ListWebhookEndpoints(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []WebhookEndpoint{
		{ID: "ep1", URL: "https://a", Status: "enabled", CreatedAt: "2024-05-01T00:00:00Z"},
		{ID: "ep2", URL: "https://b", Events: []string{"avatar_video.success"}, Status: "disabled"},
	}, got)
	reqs := f.requests()
	require.Len(t, reqs, 3)
	wantTokens := []string{"", "n1", "n2"}
	for i, r := range reqs {
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Equal(t, "/v3/webhooks/endpoints", r.Path)
		assert.Equal(t, []string{"100"}, r.Query["limit"])
		if wantTokens[i] == "" {
			assert.NotContains(t, r.Query, "token")
		} else {
			assert.Equal(t, []string{wantTokens[i]}, r.Query["token"])
		}
	}
}

func TestListWebhookEndpointsStopsOnRepeatedToken(t *testing.T) {
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"data":[{"endpoint_id":"ep","url":"u"}],"has_more":true,"next_token":"same"}`)
	})
	got, err := c.ListWebhookEndpoints(context.Background())
	require.NoError(t, err)
	assert.Len(t, got, 2)
	assert.Len(t, f.requests(), 2)
}

func TestDeleteWebhookEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  bool
		wantKind ErrorKind
	}{
		{"204", 204, ``, false, 0},
		{"200 with data", 200, `{"data":{"endpoint_id":"ep 1"}}`, false, 0},
		{"200 empty", 200, ``, false, 0},
		{"404", 404, `{"error":{"code":"not_found","message":"no endpoint"}}`, true, KindPermanent},
		{"500", 500, ``, true, KindRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, tt.status, tt.body) })
			err := c.DeleteWebhookEndpoint(context.Background(), "ep 1")
			r := f.requests()[0]
			assert.Equal(t, http.MethodDelete, r.Method)
			assert.Equal(t, "/v3/webhooks/endpoints/ep 1", r.Path)
			assert.Equal(t, testKey, r.Header.Get("X-Api-Key"))
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantKind, KindOf(err))
		})
	}
}

func TestRotateWebhookSecret(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    WebhookEndpoint
		wantErr string
	}{
		{"data envelope", 200, `{"data":{"endpoint_id":"ep1","secret":"whsec_new"}}`, WebhookEndpoint{ID: "ep1", Secret: "whsec_new"}, ""},
		{"bare object as documented", 200, `{"endpoint_id":"ep1","secret":"whsec_new"}`, WebhookEndpoint{ID: "ep1", Secret: "whsec_new"}, ""},
		{"no endpoint id in answer", 200, `{"data":{"secret":"whsec_new"}}`, WebhookEndpoint{ID: "ep1", Secret: "whsec_new"}, ""},
		{"no secret", 200, `{"data":{"endpoint_id":"ep1"}}`, WebhookEndpoint{ID: "ep1"}, "no secret"},
		{"empty body", 200, ``, WebhookEndpoint{ID: "ep1"}, "cannot read"},
		{"not json", 200, `secret=x`, WebhookEndpoint{ID: "ep1"}, "decode response"},
		{"404", 404, `{"error":{"code":"not_found","message":"no endpoint"}}`, WebhookEndpoint{ID: "ep1"}, "404 not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, tt.status, tt.body) })
			got, err := c.RotateWebhookSecret(context.Background(), "ep1")
			assert.Equal(t, tt.want, got)
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
			}
			r := f.requests()[0]
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, "/v3/webhooks/endpoints/ep1/rotate-secret", r.Path)
			assert.Equal(t, testKey, r.Header.Get("X-Api-Key"))
		})
	}
}

func TestAPIErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *APIError
		want string
	}{
		{"full", &APIError{Op: "POST /v3/videos", Status: 429, Code: "rate_limit_exceeded", Message: "too many jobs", RequestID: "abc"}, "POST /v3/videos: 429 rate_limit_exceeded: too many jobs (request abc)"},
		{"status only", &APIError{Op: "GET /x", Status: 500}, "GET /x: 500"},
		{"network", &APIError{Op: "GET /x", Err: errors.New("dial tcp: refused")}, "GET /x: network: dial tcp: refused"},
		{"refused before sending", errorf("GET /x", 0, "encode body: %s", "oops"), "GET /x: encode body: oops"},
		{"read failure keeps cause", &APIError{Op: "GET /x", Status: 200, RequestID: "r", Err: io.ErrUnexpectedEOF}, "GET /x: 200: unexpected EOF (request r)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestKindHelpers(t *testing.T) {
	plain := errors.New("plain")
	assert.Equal(t, KindRetryable, KindOf(plain))
	assert.False(t, IsPermanent(nil))
	assert.False(t, IsPermanent(plain))
	wrapped := errors.Join(errors.New("ctx"), &APIError{Kind: KindRateLimited, RetryAfter: time.Second})
	d, ok := RetryAfter(wrapped)
	assert.True(t, ok)
	assert.Equal(t, time.Second, d)
	assert.Equal(t, KindRateLimited, KindOf(wrapped))
	assert.Equal(t, "HeyGenPermanent", KindPermanent.String())
	assert.Equal(t, "HeyGenRetryable", KindRetryable.String())
	assert.Equal(t, "HeyGenRateLimited", KindRateLimited.String())
}

func TestIdempotencyKey(t *testing.T) {
	assert.Equal(t, "welcome-42:render.r1", IdempotencyKey("welcome-42:render.r1"), "a key HeyGen takes is kept")
	assert.Equal(t, "702b0b7ad31a9e0a14677451810aaf7effc816b500f06619b818876dd9da5f31", IdempotencyKey("welcome-42/render"), "a refused one becomes its SHA-256")
	assert.Len(t, IdempotencyKey(strings.Repeat("k", 256)), 64)
	assert.Empty(t, IdempotencyKey(""))
}
