package heygen

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// ListWebhookEventsRequest filters GET /v3/webhooks/events, HeyGen's history of the
// events it delivered. Every field is optional.
type ListWebhookEventsRequest struct {
	// EventType keeps one type, for example EventAvatarVideoSuccess (HeyGen's event_type).
	EventType string
	// EntityID keeps the events about one video or translation (HeyGen's entity_id).
	EntityID string
	// Since drops events created before it. HeyGen publishes no time filter, nor the
	// order of the list, so the client reads every page and filters by created_at. An
	// event whose created_at cannot be read is kept: replaying too much is harmless,
	// because every delivery is deduplicated, and missing one is not.
	Since time.Time
}

// WebhookEvent is one event of HeyGen's delivery history.
type WebhookEvent struct {
	ID        string          `json:"event_id"`
	Type      string          `json:"event_type"`
	Data      json.RawMessage `json:"event_data"`
	CreatedAt string          `json:"created_at"` // ISO 8601, as HeyGen sends it
}

// Time parses CreatedAt (RFC 3339), and reports whether it could.
func (e WebhookEvent) Time() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, e.CreatedAt)
	return t, err == nil
}

// Body is the event as a webhook delivery body ({event_id, event_type, event_data,
// created_at}), the bytes a receiver verifies and ParseEvent reads.
func (e WebhookEvent) Body() []byte {
	data := e.Data
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage("{}")
	}
	b, err := json.Marshal(WebhookEvent{ID: e.ID, Type: e.Type, Data: data, CreatedAt: e.CreatedAt})
	if err != nil {
		// Only invalid JSON in Data can fail, and Data came from a decoded answer.
		return nil
	}
	return b
}

// Event normalises the historical event exactly as ParseEvent normalises a delivery.
func (e WebhookEvent) Event() (Event, error) {
	return ParseEvent(e.Body())
}

// ListWebhookEvents calls GET /v3/webhooks/events with limit=100 and follows every page,
// returning the events that pass req's filters in HeyGen's order.
func (c *Client) ListWebhookEvents(ctx context.Context, req ListWebhookEventsRequest) ([]WebhookEvent, error) {
	const path = "/v3/webhooks/events"
	q := url.Values{"limit": {listLimit}}
	if req.EventType != "" {
		q.Set("event_type", req.EventType)
	}
	if req.EntityID != "" {
		q.Set("entity_id", req.EntityID)
	}
	var all []WebhookEvent
	err := c.eachPage(ctx, path, q, func(data json.RawMessage) error {
		var evs []WebhookEvent
		if err := decodeList(data, &evs); err != nil {
			return undecodable(opName(http.MethodGet, path), http.StatusOK, "decode data: %v", err)
		}
		for _, ev := range evs {
			if t, ok := ev.Time(); ok && !req.Since.IsZero() && t.Before(req.Since) {
				continue
			}
			all = append(all, ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// decodeList reads a list's data array into out; null or absent reads as empty.
func decodeList(data json.RawMessage, out any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	return json.Unmarshal(data, out)
}
