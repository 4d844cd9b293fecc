package heygen

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateTemplateVideo(t *testing.T) {
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		// HeyGen answers with the created video object: data.id, never data.video_id.
		reply(w, 200, mustPublished(t, "template-generate", `{"data":{"id":"tv_1","status":"pending","video_id":"not-this"}}`), "X-Request-Id", "rq")
	})
	body := map[string]any{"variables": map[string]any{"name": map[string]any{"type": "text", "properties": map[string]any{"content": "Ada"}}}, "title": "T"}
	got, err := c.CreateTemplateVideo(context.Background(), "tpl 1/x", CreateVideoRequest{Body: body, CallbackID: "p/render", CallbackURL: "https://cb.test/x", IdempotencyKey: "p.render:r1"})
	require.NoError(t, err)
	assert.Equal(t, CreatedVideo{VideoID: "tv_1", Status: StatusPending, RequestID: "rq"}, got)
	assert.Len(t, body, 2, "caller's body untouched")
	r := f.requests()[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/v3/templates/tpl 1/x", r.Path, "template id is path-escaped, one segment")
	assert.Equal(t, "p.render:r1", r.Header.Get("Idempotency-Key"))
	var sent map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &sent))
	assert.Equal(t, "p/render", sent["callback_id"])
	assert.Equal(t, "https://cb.test/x", sent["callback_url"])
	assert.Equal(t, "T", sent["title"])
	assert.NotNil(t, sent["variables"])
}

func TestCreateTemplateVideoNeverReadsVideoID(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 200, `{"data":{"video_id":"tv_1","status":"pending"}}`)
	})
	_, err := c.CreateTemplateVideo(context.Background(), "tpl", CreateVideoRequest{Body: map[string]any{"variables": map[string]any{}}})
	require.ErrorIs(t, err, ErrUndecodable, "the published answer has data.id")
	assert.Contains(t, err.Error(), "response has no id")
}

func TestCreateTemplateVideoErrors(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		reply(w, 404, `{"error":{"code":"not_found","message":"template not found"}}`)
	})
	_, err := c.CreateTemplateVideo(context.Background(), "tpl_missing", CreateVideoRequest{CallbackID: "x"})
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
	assert.Contains(t, err.Error(), "POST /v3/templates/tpl_missing: 404 not_found")

	_, err = c.CreateTemplateVideo(context.Background(), "", CreateVideoRequest{})
	assert.True(t, IsPermanent(err), "an empty template id is refused before sending")
}

func TestCreateLegacyVideo(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantID  string
		wantErr string
		kind    ErrorKind
	}{
		{name: "ok", status: 200, body: `{"error":null,"data":{"video_id":"lv_1"}}`, wantID: "lv_1"},
		{name: "ok without error member", status: 200, body: `{"data":{"video_id":"lv_2"}}`, wantID: "lv_2"},
		{name: "400 legacy envelope", status: 400, body: `{"error":{"code":"invalid_parameter","message":"video_inputs is required"},"data":null}`, wantErr: "POST /v2/video/generate: 400 invalid_parameter: video_inputs is required", kind: KindPermanent},
		{name: "429", status: 429, body: `{"error":{"code":"rate_limit_exceeded","message":"slow down"},"data":null}`, wantErr: "429 rate_limit_exceeded", kind: KindRateLimited},
		{name: "error inside a 200", status: 200, body: `{"error":{"code":40012,"message":"bad avatar"},"data":null}`, wantErr: "200 40012: bad avatar", kind: KindPermanent},
		{name: "no video id", status: 200, body: `{"error":null,"data":{}}`, wantErr: "response has no video_id", kind: KindRetryable},
		{name: "no data", status: 200, body: `{"error":null,"data":null}`, wantErr: "response has no data", kind: KindRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, tt.status, tt.body, "Retry-After", "2") })
			got, err := c.CreateLegacyVideo(context.Background(), CreateVideoRequest{
				Body:           map[string]any{"video_inputs": []any{map[string]any{"character": map[string]any{"type": "avatar", "avatar_id": "a"}}}},
				CallbackID:     "p/render",
				IdempotencyKey: "p.render:r1",
			})
			r := f.requests()[0]
			assert.Equal(t, "/v2/video/generate", r.Path)
			assert.Equal(t, "p.render:r1", r.Header.Get("Idempotency-Key"))
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.wantID, got.VideoID)
				var sent map[string]any
				require.NoError(t, json.Unmarshal(r.Body, &sent))
				assert.Equal(t, "p/render", sent["callback_id"])
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.kind, KindOf(err))
		})
	}
}

func TestGetLegacyVideo(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Video
	}{
		{
			name: "completed",
			body: `{"code":100,"data":{"id":"lv_1","status":"completed","video_url":"https://v","thumbnail_url":"https://t","gif_url":"https://g","caption_url":"https://c.srt","duration":7.25,"callback_id":"p/render","created_at":1714550000,"error":null},"message":"Success"}`,
			want: Video{ID: "lv_1", Status: StatusCompleted, VideoURL: "https://v", ThumbnailURL: "https://t", GIFURL: "https://g", SubtitleURL: "https://c.srt", Duration: 7.25, CallbackID: "p/render", CreatedAt: 1714550000},
		},
		{name: "waiting", body: `{"code":100,"data":{"id":"lv_1","status":"waiting"}}`, want: Video{ID: "lv_1", Status: StatusPending}},
		{name: "no id, no code", body: `{"data":{"status":"processing"}}`, want: Video{ID: "lv_1", Status: StatusProcessing}},
		{
			name: "failed",
			body: `{"code":100,"data":{"id":"lv_1","status":"failed","error":{"code":40001,"message":"avatar gone","detail":"more"}}}`,
			want: Video{ID: "lv_1", Status: StatusFailed, FailureCode: "40001", FailureMessage: "avatar gone"},
		},
		{
			name: "failed, detail only",
			body: `{"code":100,"data":{"id":"lv_1","status":"failed","error":{"code":"X","detail":"why"}}}`,
			want: Video{ID: "lv_1", Status: StatusFailed, FailureCode: "X", FailureMessage: "why"},
		},
		{
			name: "failed, error as text",
			body: `{"code":100,"data":{"id":"lv_1","status":"failed","error":"boom"}}`,
			want: Video{ID: "lv_1", Status: StatusFailed, FailureMessage: "boom"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, 200, tt.body) })
			got, err := c.GetLegacyVideo(context.Background(), "lv_1")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			r := f.requests()[0]
			assert.Equal(t, "/v1/video_status.get", r.Path)
			assert.Equal(t, []string{"lv_1"}, r.Query["video_id"])
		})
	}
}

func TestGetLegacyVideoErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
		kind    ErrorKind
	}{
		{name: "404", status: 404, body: `{"code":404,"message":"video not found","data":null}`, wantErr: "GET /v1/video_status.get: 404 404: video not found", kind: KindPermanent},
		{name: "500", status: 500, body: `{"code":500,"message":"oops"}`, wantErr: "500", kind: KindRetryable},
		{name: "code not 100 in a 200", status: 200, body: `{"code":400140,"message":"no such video","data":null}`, wantErr: "400140: no such video", kind: KindPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) { reply(w, tt.status, tt.body) })
			_, err := c.GetLegacyVideo(context.Background(), "lv_1")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, tt.kind, KindOf(err))
		})
	}
}

func TestListVideosPaginates(t *testing.T) {
	pages := []string{
		`{"data":[{"id":"a","status":"completed","title":"x p/render"},{"id":"b","status":"pending"}],"has_more":true,"next_token":"t1"}`,
		`{"data":[{"id":"c","status":"processing"}],"next_token":"t2"}`,
		`{"data":[{"id":"d","status":"failed"}],"has_more":false,"next_token":"t3"}`,
	}
	for _, p := range pages {
		mustPublished(t, "video-list", p)
	}
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, pages[n]) })
	got, err := c.ListVideos(context.Background(), "p/render")
	require.NoError(t, err)
	require.Len(t, got, 4)
	assert.Equal(t, Video{ID: "a", Status: StatusCompleted, Title: "x p/render"}, got[0])
	assert.Equal(t, StatusPending, got[1].Status)
	assert.Equal(t, StatusProcessing, got[2].Status)
	assert.Equal(t, StatusFailed, got[3].Status)
	reqs := f.requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, "/v3/videos", r.Path)
		assert.Equal(t, []string{"p/render"}, r.Query["title"])
		assert.Equal(t, []string{"100"}, r.Query["limit"], "HeyGen's default page is 10")
		if i == 0 {
			assert.Empty(t, r.Query["token"])
		}
	}
	assert.Equal(t, []string{"t1"}, reqs[1].Query["token"])
	assert.Equal(t, []string{"t2"}, reqs[2].Query["token"])
}

func TestListVideosNoTitleAndRepeatedToken(t *testing.T) {
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"data":[{"id":"a","status":"completed"}],"has_more":true,"next_token":"same"}`)
	})
	got, err := c.ListVideos(context.Background(), "")
	require.NoError(t, err)
	assert.Len(t, got, 2, "a repeated token ends the walk")
	assert.Empty(t, f.requests()[0].Query["title"])
}

func TestListVideosError(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 503, `{"error":{"code":"unavailable","message":"later"}}`)
	})
	_, err := c.ListVideos(context.Background(), "x")
	require.Error(t, err)
	assert.Equal(t, KindRetryable, KindOf(err))
	assert.Contains(t, err.Error(), "GET /v3/videos: 503")
}
