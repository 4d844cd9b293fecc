package heygen

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateTranslation(t *testing.T) {
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 200, `{"data":{"video_translation_ids":["tr_1"]}}`)
	})
	body := map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}, "output_languages": []string{"French"}, "mode": "speed"}
	ids, err := c.CreateTranslation(context.Background(), CreateTranslationRequest{Body: body, CallbackID: "p/translate/fr", CallbackURL: "https://cb.test/", IdempotencyKey: "k1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"tr_1"}, ids)
	assert.Len(t, body, 3, "caller's body untouched")
	r := f.requests()[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/v3/video-translations", r.Path)
	assert.Equal(t, "k1", r.Header.Get("Idempotency-Key"))
	var sent map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &sent))
	assert.Equal(t, "p/translate/fr", sent["callback_id"])
	assert.Equal(t, "https://cb.test/", sent["callback_url"])
	assert.Equal(t, []any{"French"}, sent["output_languages"])
}

func TestCreateTranslationErrors(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		wantErr    string
		kind       ErrorKind
	}{
		{name: "400", status: 400, body: `{"error":{"code":"invalid_parameter","message":"unknown language","param":"output_languages"}}`, wantErr: "POST /v3/video-translations: 400 invalid_parameter: unknown language", kind: KindPermanent},
		{name: "409 in progress", status: 409, body: `{"error":{"code":"request_in_progress","message":"wait"}}`, wantErr: "409 request_in_progress", kind: KindRetryable},
		{name: "no ids", status: 200, body: `{"data":{"video_translation_ids":[]}}`, wantErr: "no video_translation_ids", kind: KindRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, tt.status, tt.body) })
			_, err := c.CreateTranslation(context.Background(), CreateTranslationRequest{CallbackID: "x"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.kind, KindOf(err))
		})
	}
}

func TestGetTranslation(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Translation
	}{
		{
			name: "completed",
			body: `{"data":{"id":"tr_1","status":"completed","output_language":"French","video_url":"https://v","audio_url":"https://a","srt_caption_url":"https://s","vtt_caption_url":"https://t","callback_id":"p/translate/fr","duration":"12.5"}}`,
			want: Translation{ID: "tr_1", Status: StatusCompleted, OutputLanguage: "French", VideoURL: "https://v", AudioURL: "https://a", SRTCaptionURL: "https://s", VTTCaptionURL: "https://t", CallbackID: "p/translate/fr", Duration: 12.5},
		},
		{name: "running", body: `{"data":{"video_translation_id":"tr_1","status":"running"}}`, want: Translation{ID: "tr_1", Status: StatusProcessing}},
		{name: "no id", body: `{"data":{"status":"pending"}}`, want: Translation{ID: "tr_1", Status: StatusPending}},
		{name: "failed", body: `{"data":{"id":"tr_1","status":"failed","failure_message":"no speech"}}`, want: Translation{ID: "tr_1", Status: StatusFailed, FailureMessage: "no speech"}},
		{name: "failed, error object", body: `{"data":{"id":"tr_1","status":"failed","error":{"code":"E","message":"bad"}}}`, want: Translation{ID: "tr_1", Status: StatusFailed, FailureMessage: "E: bad"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, 200, tt.body) })
			got, err := c.GetTranslation(context.Background(), "tr_1")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, "/v3/video-translations/tr_1", f.requests()[0].Path)
		})
	}
}

func TestTranslationJSONRoundTrip(t *testing.T) {
	in := Translation{ID: "tr_1", Status: StatusCompleted, OutputLanguage: "German", VideoURL: "https://v", SRTCaptionURL: "https://s", CallbackID: "c", Duration: 3}
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	var out Translation
	require.NoError(t, json.Unmarshal(raw, &out))
	assert.Equal(t, in, out)
}

func TestGetTranslationNotFound(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 404, `{"error":{"code":"not_found","message":"translation not found"}}`)
	})
	_, err := c.GetTranslation(context.Background(), "nope")
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
}

func TestTranslationStatuses(t *testing.T) {
	pages := []string{
		`{"data":[{"video_id":"a","status":"running"},{"video_translation_id":"b","status":"completed"}],"has_more":true,"next_token":"t1"}`,
		`{"data":[{"video_id":"c","status":"failed","error":"no speech"}],"has_more":false}`,
	}
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, pages[n]) })
	got, err := c.TranslationStatuses(context.Background(), []string{"a", "b", "c"})
	require.NoError(t, err)
	assert.Equal(t, []StatusEntry{
		{VideoID: "a", Status: StatusProcessing},
		{VideoID: "b", Status: StatusCompleted},
		{VideoID: "c", Status: StatusFailed, Error: "no speech"},
	}, got)
	reqs := f.requests()
	assert.Equal(t, "/v3/video-translations/statuses", reqs[0].Path)
	assert.Equal(t, []string{"a,b,c"}, reqs[0].Query["video_translation_ids"])
	assert.Equal(t, []string{"t1"}, reqs[1].Query["token"])
}

func TestTranslationStatusesErrors(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 429, `{"error":{"code":"rate_limit_exceeded","message":"slow"}}`, "Retry-After", "3")
	})
	_, err := c.TranslationStatuses(context.Background(), []string{"a"})
	d, ok := RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, 3_000_000_000, int(d))

	many := make([]string, 101)
	_, err = c.TranslationStatuses(context.Background(), many)
	assert.True(t, IsPermanent(err))
}

func TestTranslationLanguages(t *testing.T) {
	for _, body := range []string{`{"data":{"languages":["French","German"]}}`, `{"data":["French","German"]}`} {
		_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, 200, body) })
		got, err := c.TranslationLanguages(context.Background())
		require.NoError(t, err, body)
		assert.Equal(t, []string{"French", "German"}, got)
	}
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, 200, `{"data":{"languages":7}}`) })
	_, err := c.TranslationLanguages(context.Background())
	assert.ErrorIs(t, err, ErrUndecodable)
	assert.Equal(t, KindRetryable, KindOf(err))
}
