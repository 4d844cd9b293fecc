package heygen

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorClasses pins the class of every failure reelflow's retry policy depends on.
func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	create := func(c *Client) error {
		_, err := c.CreateVideo(ctx, CreateVideoRequest{Body: map[string]any{"type": "avatar", "avatar_id": "a"}, IdempotencyKey: "p.render:r1"})
		return err
	}
	template := func(c *Client) error {
		_, err := c.CreateTemplateVideo(ctx, "tpl", CreateVideoRequest{Body: map[string]any{"variables": map[string]any{}}, IdempotencyKey: "k"})
		return err
	}
	translate := func(c *Client) error {
		_, err := c.CreateTranslation(ctx, CreateTranslationRequest{Body: map[string]any{}, IdempotencyKey: "k"})
		return err
	}
	getVideo := func(c *Client) error { _, err := c.GetVideo(ctx, "v1"); return err }
	getTranslation := func(c *Client) error { _, err := c.GetTranslation(ctx, "t1"); return err }
	statuses := func(c *Client) error { _, err := c.VideoStatuses(ctx, []string{"v1"}); return err }

	tests := []struct {
		name   string
		call   func(*Client) error
		status int
		body   string
		kind   ErrorKind
		is     error
	}{
		// HeyGen accepted and billed these: the retry under the same key gets the replay.
		{"create 200, not JSON", create, 200, `<html>`, KindRetryable, ErrUndecodable},
		{"create 200, no video_id", create, 200, `{"data":{"status":"waiting"}}`, KindRetryable, ErrUndecodable},
		{"create 201, data null", create, 201, `{"data":null}`, KindRetryable, ErrUndecodable},
		{"template 200, no id", template, 200, `{"data":{"status":"pending"}}`, KindRetryable, ErrUndecodable},
		{"translation 200, ids not a list", translate, 200, `{"data":{"video_translation_ids":"t1"}}`, KindRetryable, ErrUndecodable},
		// A read whose answer cannot be read costs nothing to ask again.
		{"status read 200, not JSON", getVideo, 200, `nope`, KindRetryable, ErrUndecodable},
		{"bulk statuses 200, data not a list", statuses, 200, `{"data":{"video_id":"v1"}}`, KindRetryable, ErrUndecodable},
		// HeyGen's verdicts.
		{"video read 404", getVideo, 404, `{"error":{"code":"not_found","message":"no such video","param":null,"doc_url":null}}`, KindPermanent, nil},
		{"translation read 404", getTranslation, 404, `{"error":{"code":"not_found","message":"no such translation"}}`, KindPermanent, nil},
		{"create 400", create, 400, `{"error":{"code":"invalid_parameter","message":"bad","param":"avatar_id","doc_url":"https://docs.heygen.com/x"}}`, KindPermanent, nil},
		{"create 409 in progress", create, 409, `{"error":{"code":"request_in_progress","message":"wait"}}`, KindRetryable, nil},
		{"create 429", create, 429, `{"error":{"code":"rate_limit_exceeded","message":"slow"}}`, KindRateLimited, nil},
		{"status read 503", getVideo, 503, ``, KindRetryable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, tt.status, tt.body) })
			err := tt.call(c)
			require.Error(t, err)
			assert.Equal(t, tt.kind, KindOf(err), "%v", err)
			assert.Equal(t, tt.kind == KindPermanent, IsPermanent(err))
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			} else {
				assert.NotErrorIs(t, err, ErrUndecodable)
			}
		})
	}
}

func TestErrorEnvelopeIsAnObject(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		reply(w, 400, `{"error":{"code":"invalid_parameter","message":"avatar_id is required","param":"avatar_id","doc_url":"https://docs.heygen.com/e"}}`, "X-Request-Id", "rq")
	})
	_, err := c.GetVideo(context.Background(), "v")
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, APIError{Kind: KindPermanent, Op: "GET /v3/videos/v", Status: 400, Code: "invalid_parameter",
		Message: "avatar_id is required", Param: "avatar_id", DocURL: "https://docs.heygen.com/e", RequestID: "rq"}, *ae)
}
