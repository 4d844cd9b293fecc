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
