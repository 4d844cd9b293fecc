package activities_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

const apiKey = "sk-test-secret-key"

// request is what the fake HeyGen saw.
type request struct {
	method, path, idemKey, apiKey string
	body                          map[string]any
}

// fakeHeyGen answers every request with status, headers and body, and records requests.
type fakeHeyGen struct {
	mu       sync.Mutex
	requests []request
	status   int
	header   map[string]string
	body     string
}

func (f *fakeHeyGen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := request{method: r.Method, path: r.URL.Path, idemKey: r.Header.Get("Idempotency-Key"), apiKey: r.Header.Get("X-Api-Key")}
	if r.Body != nil {
		_ = json.NewDecoder(r.Body).Decode(&req.body)
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	for k, v := range f.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_, _ = w.Write([]byte(f.body))
}

func newEnv(t *testing.T, f *fakeHeyGen) (*testsuite.TestActivityEnvironment, *activities.Activities) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	// The fake answers every request alike, so these tests pin the single-GET path;
	// batcher_test.go covers the bulk one.
	a := activities.New(heygen.NewClient(srv.URL, apiKey, srv.Client()), activities.WithStatusBatchWindow(0))
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env, a
}

func TestCreateJobPerKind(t *testing.T) {
	tests := []struct {
		name     string
		in       activities.CreateJobInput
		answer   string
		wantCall string
		wantID   string
	}{
		{
			name:     "template",
			in:       activities.CreateJobInput{Kind: activities.KindTemplate, TemplateID: "tpl_1", Body: map[string]any{"variables": map[string]any{}}},
			answer:   `{"data":{"id":"v_t","status":"pending"}}`, // the created video object, as published
			wantCall: "POST /v3/templates/tpl_1", wantID: "v_t",
		},
		{
			name: "translation, one language",
			in: activities.CreateJobInput{Kind: activities.KindTranslation, Body: map[string]any{
				"video": map[string]any{"type": "url", "url": "https://cdn/v.mp4"}, "output_languages": []any{"French"}}},
			answer:   `{"data":{"video_translation_ids":["t_fr"]}}`,
			wantCall: "POST /v3/video-translations", wantID: "t_fr",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: http.StatusOK, body: tt.answer}
			env, a := newEnv(t, f)
			tt.in.CallbackID = "p/step"
			val, err := env.ExecuteActivity(a.CreateJob, tt.in)
			require.NoError(t, err)
			var res activities.CreateJobResult
			require.NoError(t, val.Get(&res))
			assert.Equal(t, tt.wantID, res.HeyGenJobID)
			require.Len(t, f.requests, 1)
			assert.Equal(t, tt.wantCall, f.requests[0].method+" "+f.requests[0].path)
			assert.Equal(t, "p/step", f.requests[0].body["callback_id"])
			assert.True(t, heygen.ValidIdempotencyKey(f.requests[0].idemKey), f.requests[0].idemKey)
		})
	}
}

func TestCreateJobRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   activities.CreateJobInput
	}{
		{"template without id", activities.CreateJobInput{Kind: activities.KindTemplate}},
		{"translation into two languages", activities.CreateJobInput{Kind: activities.KindTranslation,
			Body: map[string]any{"output_languages": []any{"French", "German"}}}},
		{"translation without a language", activities.CreateJobInput{Kind: activities.KindTranslation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: http.StatusOK, body: `{}`}
			env, a := newEnv(t, f)
			tt.in.CallbackID = "p/step"
			_, err := env.ExecuteActivity(a.CreateJob, tt.in)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr))
			assert.Equal(t, activities.ErrTypeInvalidJob, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			assert.Empty(t, f.requests, "nothing is sent")
		})
	}
}

// TestCreateJobRefusesSeveralTranslationIDs: one language per request means one ID; a
// second would be a job no step owns, so the step fails rather than guess.
func TestCreateJobRefusesSeveralTranslationIDs(t *testing.T) {
	f := &fakeHeyGen{status: http.StatusOK, body: `{"data":{"video_translation_ids":["t_a","t_b"]}}`}
	env, a := newEnv(t, f)
	_, err := env.ExecuteActivity(a.CreateJob, activities.CreateJobInput{
		CallbackID: "p/translate/french", Kind: activities.KindTranslation,
		Body: map[string]any{"video": map[string]any{"type": "url", "url": "https://cdn/v.mp4"}, "output_languages": []any{"French"}},
	})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	assert.Equal(t, activities.ErrTypeInvalidJob, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, appErr.Error(), "2 translation IDs")
}

func TestPollJobPerKind(t *testing.T) {
	tests := []struct {
		name     string
		kind     string
		answer   string
		wantCall string
		want     activities.PollJobResult
	}{
		{
			name: "template reads the v3 video", kind: activities.KindTemplate,
			answer:   `{"data":{"id":"v_t","status":"processing"}}`,
			wantCall: "GET /v3/videos/v_t",
			want:     activities.PollJobResult{Status: heygen.StatusProcessing},
		},
		{
			name: "translation", kind: activities.KindTranslation,
			answer: `{"data":{"id":"t_fr","status":"completed","video_url":"https://cdn/fr.mp4","audio_url":"https://cdn/fr.mp3",
				"srt_caption_url":"https://cdn/fr.srt","vtt_caption_url":"https://cdn/fr.vtt","duration":9.5}}`,
			wantCall: "GET /v3/video-translations/t_fr",
			want: activities.PollJobResult{Status: heygen.StatusCompleted, VideoURL: "https://cdn/fr.mp4", AudioURL: "https://cdn/fr.mp3",
				CaptionURL: "https://cdn/fr.srt", VTTCaptionURL: "https://cdn/fr.vtt", Duration: 9.5},
		},
		{
			name: "failed translation", kind: activities.KindTranslation,
			answer:   `{"data":{"id":"t_fr","status":"failed","failure_message":"language not supported"}}`,
			wantCall: "GET /v3/video-translations/t_fr",
			want:     activities.PollJobResult{Status: heygen.StatusFailed, FailureMessage: "language not supported"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: http.StatusOK, body: tt.answer}
			env, a := newEnv(t, f)
			id := map[string]string{activities.KindTemplate: "v_t", activities.KindTranslation: "t_fr"}[tt.kind]
			val, err := env.ExecuteActivity(a.PollJob, activities.PollJobInput{Kind: tt.kind, HeyGenJobID: id})
			require.NoError(t, err)
			var res activities.PollJobResult
			require.NoError(t, val.Get(&res))
			assert.Equal(t, tt.want, res)
			assert.Equal(t, tt.wantCall, f.requests[0].method+" "+f.requests[0].path)
		})
	}
}

func TestCreateJobSuccess(t *testing.T) {
	f := &fakeHeyGen{status: http.StatusOK, body: `{"data":{"video_id":"v_123","status":"pending"}}`}
	env, a := newEnv(t, f)

	val, err := env.ExecuteActivity(a.CreateJob, activities.CreateJobInput{
		CallbackID:  "welcome-42/render",
		Kind:        string(workflows.KindVideo),
		Body:        map[string]any{"type": "avatar", "avatar_id": "a1"},
		CallbackURL: "https://example.com/cb",
	})
	require.NoError(t, err)
	var res activities.CreateJobResult
	require.NoError(t, val.Get(&res))
	assert.Equal(t, activities.CreateJobResult{HeyGenJobID: "v_123", Status: heygen.StatusPending}, res)

	require.Len(t, f.requests, 1)
	got := f.requests[0]
	assert.Equal(t, "POST /v3/videos", got.method+" "+got.path)
	assert.True(t, heygen.ValidIdempotencyKey(got.idemKey), "a key in HeyGen's pattern: %q", got.idemKey)
	assert.Equal(t, "welcome-42/render", got.body["callback_id"])
	assert.Equal(t, "https://example.com/cb", got.body["callback_url"])
	assert.Equal(t, "a1", got.body["avatar_id"])
}

func TestCreateJobIdempotencyKey(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		in   activities.CreateJobInput
		want string
	}{
		{"callback id by default, hashed for its /", activities.CreateJobInput{CallbackID: "p/render"}, ""},
		{"explicit key", activities.CreateJobInput{CallbackID: "p/render", IdempotencyKey: "p:render.run-1"}, "p:render.run-1"},
		{"a key HeyGen's pattern refuses is hashed", activities.CreateJobInput{CallbackID: "p/render", IdempotencyKey: "p/render@run-1"}, ""},
		{"too long is hashed", activities.CreateJobInput{CallbackID: "p/render", IdempotencyKey: long}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: http.StatusOK, body: `{"data":{"video_id":"v_1"}}`}
			env, a := newEnv(t, f)
			tt.in.Kind = activities.KindVideo
			for range 2 { // a retry sends the same key
				_, err := env.ExecuteActivity(a.CreateJob, tt.in)
				require.NoError(t, err)
			}
			require.Len(t, f.requests, 2)
			key := f.requests[0].idemKey
			assert.Equal(t, key, f.requests[1].idemKey)
			assert.True(t, heygen.ValidIdempotencyKey(key), key)
			assert.Equal(t, tt.in.CallbackID, f.requests[0].body["callback_id"])
			if tt.want != "" {
				assert.Equal(t, tt.want, key)
			} else {
				assert.Len(t, key, 64)
			}
		})
	}
}

func TestPollJobSuccess(t *testing.T) {
	f := &fakeHeyGen{status: http.StatusOK, body: `{"data":{"id":"v_123","status":"completed",
		"video_url":"https://cdn/v.mp4","thumbnail_url":"https://cdn/t.jpg","subtitle_url":"https://cdn/s.srt",
		"captioned_video_url":"https://cdn/c.mp4","duration":61.5}}`}
	env, a := newEnv(t, f)

	val, err := env.ExecuteActivity(a.PollJob, activities.PollJobInput{Kind: activities.KindVideo, HeyGenJobID: "v_123"})
	require.NoError(t, err)
	var res activities.PollJobResult
	require.NoError(t, val.Get(&res))
	assert.Equal(t, activities.PollJobResult{
		Status: heygen.StatusCompleted, VideoURL: "https://cdn/v.mp4", ThumbnailURL: "https://cdn/t.jpg",
		CaptionURL: "https://cdn/s.srt", CaptionedVideoURL: "https://cdn/c.mp4", Duration: 61.5,
	}, res)
	assert.Equal(t, "GET /v3/videos/v_123", f.requests[0].method+" "+f.requests[0].path)
}

func TestPollJobFailedStatus(t *testing.T) {
	f := &fakeHeyGen{status: http.StatusOK, body: `{"data":{"id":"v_9","status":"failed","failure_code":"avatar_error","failure_message":"avatar not found"}}`}
	env, a := newEnv(t, f)

	val, err := env.ExecuteActivity(a.PollJob, activities.PollJobInput{Kind: activities.KindVideo, HeyGenJobID: "v_9"})
	require.NoError(t, err, "a failed render is an answer, not an activity error")
	var res activities.PollJobResult
	require.NoError(t, val.Get(&res))
	assert.Equal(t, heygen.StatusFailed, res.Status)
	assert.Equal(t, "avatar_error", res.FailureCode)
	assert.Equal(t, "avatar not found", res.FailureMessage)
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		header       map[string]string
		body         string
		wantType     string
		wantMsg      string
		nonRetryable bool
		wantDelay    time.Duration
	}{
		{
			name: "429 with Retry-After", status: http.StatusTooManyRequests,
			header:   map[string]string{"Retry-After": "7"},
			body:     `{"error":{"code":"rate_limit_exceeded","message":"too many jobs"}}`,
			wantType: heygen.KindRateLimited.String(), wantMsg: "too many jobs", wantDelay: 7 * time.Second,
		},
		{
			name: "429 without Retry-After", status: http.StatusTooManyRequests,
			body:     `{"error":{"code":"rate_limit_exceeded","message":"too many jobs"}}`,
			wantType: heygen.KindRateLimited.String(), wantMsg: "too many jobs",
		},
		{
			name: "500 is retryable", status: http.StatusInternalServerError,
			body:     `{"error":{"code":"internal_error","message":"oops"}}`,
			wantType: heygen.KindRetryable.String(), wantMsg: "oops",
		},
		{
			name: "400 is permanent", status: http.StatusBadRequest,
			body:     `{"error":{"code":"invalid_parameter","message":"avatar_id not found","param":"avatar_id"}}`,
			wantType: heygen.KindPermanent.String(), wantMsg: "avatar_id not found", nonRetryable: true,
		},
		{
			name: "401 is permanent", status: http.StatusUnauthorized,
			body:     `{"error":{"code":"unauthorized","message":"bad key"}}`,
			wantType: heygen.KindPermanent.String(), wantMsg: "bad key", nonRetryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: tt.status, header: tt.header, body: tt.body}
			env, a := newEnv(t, f)
			// The test environment runs one attempt: retries are the server's business.
			_, err := env.ExecuteActivity(a.CreateJob, activities.CreateJobInput{
				CallbackID: "p/render", Kind: activities.KindVideo, Body: map[string]any{"type": "avatar"},
			})
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %T: %v", err, err)
			assert.Equal(t, tt.wantType, appErr.Type())
			assert.Equal(t, tt.nonRetryable, appErr.NonRetryable())
			assert.Equal(t, tt.wantDelay, appErr.NextRetryDelay())
			assert.Contains(t, err.Error(), "create video")
			assert.Contains(t, err.Error(), tt.wantMsg, "HeyGen's message travels in the cause")
			assert.NotContains(t, err.Error(), apiKey)
		})
	}
}

func TestPollJobErrorMapping(t *testing.T) {
	f := &fakeHeyGen{status: http.StatusNotFound, body: `{"error":{"code":"not_found","message":"no such video"}}`}
	env, a := newEnv(t, f)
	_, err := env.ExecuteActivity(a.PollJob, activities.PollJobInput{Kind: activities.KindVideo, HeyGenJobID: "v_x"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	assert.Equal(t, heygen.KindPermanent.String(), appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, err.Error(), "get video v_x")
}

func TestUnknownKind(t *testing.T) {
	f := &fakeHeyGen{status: http.StatusOK, body: `{}`}
	env, a := newEnv(t, f)
	_, err := env.ExecuteActivity(a.CreateJob, activities.CreateJobInput{CallbackID: "p/render", Kind: "hologram"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	assert.Equal(t, activities.ErrTypeUnknownJobKind, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Empty(t, f.requests, "nothing is sent for an unknown kind")
}
