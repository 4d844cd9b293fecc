package heygen

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requestCase is one call the client makes with a body, and the published operation
// whose request schema must take that body.
type requestCase struct {
	name   string
	op     string
	answer string // a published answer, so the call succeeds
	call   func(c *Client) error
	// check looks at the body sent, beyond the schema.
	check func(t *testing.T, body map[string]any)
}

// The bodies below are the ones reelflow builds: the examples' v3 video, template and
// translation blocks (workflows pass them through; activities add a title tag), plus
// every other published video type a spec can name.
func requestCases() []requestCase {
	return append(videoRequestCases(), endpointRequestCases()...)
}

// hooksURL is the callback and endpoint URL of the request cases.
const hooksURL = "https://hooks.example.com/heygen"

// videoRequestCases are the creates: every v3 video type, a template, a translation.
func videoRequestCases() []requestCase {
	ctx := context.Background()
	video := func(body map[string]any) func(c *Client) error {
		return func(c *Client) error {
			_, err := c.CreateVideo(ctx, CreateVideoRequest{Body: body, CallbackID: "welcome-42/render",
				CallbackURL: hooksURL, IdempotencyKey: "welcome-42.render:run-1"})
			return err
		}
	}
	hasCallback := func(t *testing.T, body map[string]any) {
		assert.Equal(t, "welcome-42/render", body["callback_id"])
		assert.Equal(t, hooksURL, body["callback_url"])
	}
	videoAnswer := `{"data":{"video_id":"v1","status":"waiting"}}`
	url := hooksURL
	return []requestCase{
		{name: "avatar, the welcome example", op: "video-create", answer: videoAnswer, check: hasCallback,
			call: video(map[string]any{"type": "avatar", "avatar_id": "Daisy-inskirt-20220818",
				"voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54", "script": "Hi!", "title": "Welcome [rf:welcome-42/render#0a1b2c3d]"})},
		{name: "avatar, every common option", op: "video-create", answer: videoAnswer, check: hasCallback,
			call: video(map[string]any{"type": "avatar", "avatar_id": "a1", "voice_id": "v1", "script": "Hi",
				"aspect_ratio": "9:16", "resolution": "1080p", "background": map[string]any{"type": "color", "value": "#FAFAFA"},
				"caption": map[string]any{"file_format": "srt"}, "engine": map[string]any{"type": "avatar_iv"},
				"output_format": "mp4", "remove_background": false})},
		{name: "image", op: "video-create", answer: videoAnswer, check: hasCallback,
			call: video(map[string]any{"type": "image", "image": map[string]any{"type": "url", "url": "https://cdn.example.com/p.png"},
				"script": "Hi", "voice_id": "v1"})},
		{name: "studio", op: "video-create", answer: videoAnswer, check: hasCallback,
			call: video(map[string]any{"type": "studio", "scenes": []any{map[string]any{"type": "avatar_video",
				"input": map[string]any{"type": "avatar", "avatar_id": "a1", "script": "Scene one", "voice_id": "v1"}}}})},
		{name: "cinematic_avatar, passed through without callback fields", op: "video-create", answer: videoAnswer,
			call: video(map[string]any{"type": TypeCinematicAvatar, "avatar_id": []any{"a1", "a2"},
				"prompt": "Two presenters walk through a sunlit office", "title": "Launch [rf:c/render#00000000]"}),
			check: func(t *testing.T, body map[string]any) {
				assert.NotContains(t, body, "callback_id", "unpublished for cinematic_avatar")
				assert.NotContains(t, body, "callback_url", "unpublished for cinematic_avatar")
				assert.Equal(t, []any{"a1", "a2"}, body["avatar_id"])
			}},
		{name: "template, the template example", op: "template-generate",
			answer: `{"data":{"id":"v1","status":"pending"}}`, check: hasCallback,
			call: func(c *Client) error {
				_, err := c.CreateTemplateVideo(ctx, "tpl_product_update", CreateVideoRequest{
					Body: map[string]any{"title": "Product update", "variables": map[string]any{
						"first_name": map[string]any{"name": "first_name", "type": "text", "properties": map[string]any{"content": "Ana"}}}},
					CallbackID: "welcome-42/render", CallbackURL: url, IdempotencyKey: "k1"})
				return err
			}},
		{name: "translation, one language as the workflows build it", op: "video-translate-create",
			answer: `{"data":{"video_translation_ids":["t1"]}}`,
			call: func(c *Client) error {
				_, err := c.CreateTranslation(ctx, CreateTranslationRequest{Body: map[string]any{
					"video":            map[string]any{"type": "url", "url": "https://cdn.example.com/launch.mp4"},
					"output_languages": []any{"Spanish (Spain)"}, "title": "Launch (Spanish (Spain))",
					"mode": "speed", "enable_caption": true}, CallbackID: "t/translate/es", CallbackURL: url, IdempotencyKey: "k1"})
				return err
			},
			check: func(t *testing.T, body map[string]any) { assert.Equal(t, "t/translate/es", body["callback_id"]) }},
	}
}

// endpointRequestCases are the webhook-endpoint calls.
func endpointRequestCases() []requestCase {
	ctx := context.Background()
	url := hooksURL
	return []requestCase{
		{name: "webhook endpoint create, chosen events", op: "webhook-endpoints-create",
			answer: `{"data":{"endpoint_id":"e1","url":"u","status":"enabled","created_at":"2026-12-01T00:00:00Z","secret":"whsec_x"}}`,
			call: func(c *Client) error {
				_, err := c.CreateWebhookEndpoint(ctx, url, []string{EventAvatarVideoSuccess, EventAvatarVideoFail,
					EventVideoTranslateSuccess, EventVideoTranslateFail,
					EventTranslatePreflightValidationFailed, EventTranslatePreflightDownloadFailed})
				return err
			}},
		{name: "webhook endpoint create, every event", op: "webhook-endpoints-create",
			answer: `{"data":{"endpoint_id":"e1","url":"u","status":"enabled","created_at":"2026-12-01T00:00:00Z","secret":"whsec_x"}}`,
			call: func(c *Client) error {
				_, err := c.CreateWebhookEndpoint(ctx, url, nil)
				return err
			},
			check: func(t *testing.T, body map[string]any) { assert.NotContains(t, body, "events") }},
		{name: "webhook endpoint update", op: "webhook-endpoints-update",
			answer: `{"data":{"endpoint_id":"e1","url":"u","status":"enabled","created_at":"2026-12-01T00:00:00Z","secret":null}}`,
			call: func(c *Client) error {
				u := url + "/v2"
				_, err := c.UpdateWebhookEndpoint(ctx, "e1", WebhookEndpointUpdate{URL: &u, Events: []string{EventAvatarVideoSuccess}})
				return err
			},
			check: func(t *testing.T, body map[string]any) {
				assert.Equal(t, url+"/v2", body["url"])
				assert.Equal(t, []any{EventAvatarVideoSuccess}, body["events"])
			}},
		{name: "webhook endpoint update, nothing changed", op: "webhook-endpoints-update",
			answer: `{"data":{"endpoint_id":"e1","url":"u","status":"enabled","created_at":"2026-12-01T00:00:00Z"}}`,
			call: func(c *Client) error {
				_, err := c.UpdateWebhookEndpoint(ctx, "e1", WebhookEndpointUpdate{})
				return err
			}},
		{name: "webhook endpoint rotate", op: "webhook-endpoints-rotate-secret",
			answer: `{"data":{"endpoint_id":"e1","secret":"whsec_y"}}`,
			call: func(c *Client) error {
				_, err := c.RotateWebhookSecret(ctx, "e1")
				return err
			}},
		{name: "webhook endpoint delete", op: "webhook-endpoints-delete", answer: `{"data":{},"error":null}`,
			call: func(c *Client) error { return c.DeleteWebhookEndpoint(ctx, "e1") }},
	}
}

func TestClientSendsPublishedBodies(t *testing.T) {
	for _, rc := range requestCases() {
		t.Run(rc.name, func(t *testing.T) {
			o := op(t, rc.op)
			answer := mustPublished(t, rc.op, rc.answer)
			f, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, 200, answer) })
			require.NoError(t, rc.call(c))
			reqs := f.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			got, _, ok := mustLoad(t).Match(r.Method, r.Path)
			require.True(t, ok, "%s %s is not a published operation", r.Method, r.Path)
			assert.Equal(t, o.Name, got.Name)
			require.NoError(t, o.ValidateRequest(r.Body), "body the schema refuses:\n%s", r.Body)
			if key := r.Header.Get("Idempotency-Key"); key != "" {
				assert.True(t, ValidIdempotencyKey(key), "Idempotency-Key %q", key)
			}
			if rc.check != nil {
				var body map[string]any
				require.NoError(t, json.Unmarshal(r.Body, &body))
				rc.check(t, body)
			}
		})
	}
}

// TestSchemaRefusesWhatTheClientAvoids proves the request tests can fail: the bodies the
// client must not send are refused by the published schemas.
func TestSchemaRefusesWhatTheClientAvoids(t *testing.T) {
	bad := map[string]string{
		"cinematic without prompt":      `{"type":"cinematic_avatar","avatar_id":["a1"]}`,
		"cinematic avatar_id as string": `{"type":"cinematic_avatar","avatar_id":"a1","prompt":"p"}`,
		"avatar without avatar_id":      `{"type":"avatar","script":"hi"}`,
		"unknown type":                  `{"type":"talking_photo","avatar_id":"a"}`,
		"callback_id not a string":      `{"type":"avatar","avatar_id":"a","callback_id":7}`,
	}
	o := op(t, "video-create")
	for name, body := range bad {
		assert.Error(t, o.ValidateRequest([]byte(body)), name)
	}
	assert.Error(t, op(t, "template-generate").ValidateRequest([]byte(`{"title":"no variables"}`)))
	assert.Error(t, op(t, "webhook-endpoints-create").ValidateRequest([]byte(`{"url":"u","events":["no.such"]}`)))
}
