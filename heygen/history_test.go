package heygen

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListWebhookEventsPaginatesAndFilters(t *testing.T) {
	pages := []string{
		// Full shape, has_more true.
		`{"data":[
			{"event_id":"e1","event_type":"avatar_video.success","created_at":"2026-12-01T00:00:00Z",
			 "event_data":{"video_id":"v1","callback_id":"welcome-1/render","url":"https://cdn/v1.mp4"}},
			{"event_id":"e2","event_type":"avatar_video.success","created_at":"2026-12-01T02:00:00Z",
			 "event_data":{"video_id":"v2"}}],
		  "has_more":true,"next_token":"t1"}`,
		// has_more absent: the token alone leads on.
		`{"data":[{"event_id":"e3","event_type":"avatar_video.fail","created_at":"not a time","event_data":{}}],"next_token":"t2"}`,
		// Minimal last page: next_token null.
		`{"data":[{"event_id":"e4","event_type":"avatar_video.success","created_at":"2026-12-01T03:00:00.5+01:00","event_data":{}}],"next_token":null}`,
	}
	for _, p := range pages {
		mustPublished(t, "webhook-events-list", p)
	}
	f, c := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, pages[n])
	})
	since := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	got, err := c.ListWebhookEvents(context.Background(), ListWebhookEventsRequest{
		EventType: EventAvatarVideoSuccess, EntityID: "v1", Since: since,
	})
	require.NoError(t, err)

	ids := []string{}
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	// e1 is before Since; e3's time cannot be read, so it is kept; e4 is 02:00Z.
	assert.Equal(t, []string{"e2", "e3", "e4"}, ids)

	reqs := f.requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Equal(t, "/v3/webhooks/events", r.Path)
		assert.Equal(t, []string{"100"}, r.Query["limit"])
		assert.Equal(t, []string{"avatar_video.success"}, r.Query["event_type"])
		assert.Equal(t, []string{"v1"}, r.Query["entity_id"])
		assert.Equal(t, []string{testKey}, r.Header["X-Api-Key"])
		assert.Equal(t, []string{"", "t1", "t2"}[i], url.Values(r.Query).Get("token"), "page %d", i)
	}
	assert.NotContains(t, reqs[0].Query, "token")
}

func TestListWebhookEventsNoFilters(t *testing.T) {
	body := mustPublished(t, "webhook-events-list", `{"data":[],"has_more":false,"next_token":"ignored"}`)
	f, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, 200, body) })
	got, err := c.ListWebhookEvents(context.Background(), ListWebhookEventsRequest{})
	require.NoError(t, err)
	assert.Empty(t, got)
	reqs := f.requests()
	require.Len(t, reqs, 1, "has_more false ends the walk")
	assert.NotContains(t, reqs[0].Query, "event_type")
	assert.NotContains(t, reqs[0].Query, "entity_id")
}

func TestListWebhookEventsErrors(t *testing.T) {
	t.Run("server error on a later page is retryable", func(t *testing.T) {
		_, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 0 {
				reply(w, 200, `{"data":[],"has_more":true,"next_token":"t1"}`)
				return
			}
			reply(w, 503, `{"error":{"code":"unavailable","message":"try later","param":null,"doc_url":null}}`)
		})
		_, err := c.ListWebhookEvents(context.Background(), ListWebhookEventsRequest{})
		require.Error(t, err)
		assert.Equal(t, KindRetryable, KindOf(err))
	})
	t.Run("undecodable data is an error", func(t *testing.T) {
		_, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			reply(w, 200, `{"data":{"not":"a list"}}`)
		})
		_, err := c.ListWebhookEvents(context.Background(), ListWebhookEventsRequest{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "GET /v3/webhooks/events")
	})
	t.Run("repeated token stops", func(t *testing.T) {
		f, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			reply(w, 200, `{"data":[],"has_more":true,"next_token":"same"}`)
		})
		_, err := c.ListWebhookEvents(context.Background(), ListWebhookEventsRequest{})
		require.NoError(t, err)
		assert.Len(t, f.requests(), 2)
	})
}

func TestWebhookEventToEvent(t *testing.T) {
	we := WebhookEvent{
		ID: "e1", Type: EventVideoTranslateSuccess, CreatedAt: "2026-12-01T00:00:00Z",
		Data: []byte(`{"video_translate_id":"tr1","callback_id":"p/translate/es","url":"https://cdn/x.mp4","output_language":"es"}`),
	}
	ev, err := we.Event()
	require.NoError(t, err)
	assert.Equal(t, "e1", ev.ID)
	assert.Equal(t, "tr1", ev.JobID)
	assert.Equal(t, "p/translate/es", ev.CallbackID)
	assert.Equal(t, "https://cdn/x.mp4", ev.URL)
	assert.Equal(t, "2026-12-01T00:00:00Z", ev.CreatedAt)
	assert.JSONEq(t, `{"event_id":"e1","event_type":"video_translate.success","created_at":"2026-12-01T00:00:00Z",
		"event_data":{"video_translate_id":"tr1","callback_id":"p/translate/es","url":"https://cdn/x.mp4","output_language":"es"}}`, string(we.Body()))

	empty, err := WebhookEvent{ID: "e2", Type: "batch.finished"}.Event()
	require.NoError(t, err)
	assert.Equal(t, "batch.finished", empty.Type)
}
