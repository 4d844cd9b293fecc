package heygen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is HeyGen's production API.
const DefaultBaseURL = "https://api.heygen.com"

// maxResponseBytes caps how much of a response body is read; HeyGen's answers are small.
const maxResponseBytes = 4 << 20

// Client calls HeyGen. It is safe for concurrent use.
type Client struct {
	baseURL string
	apiKey  string
	http    *http.Client
	now     func() time.Time
}

// NewClient returns a client for baseURL (DefaultBaseURL when empty) that authenticates
// with apiKey. hc may be nil, in which case a client with a 30 s timeout is used.
func NewClient(baseURL, apiKey string, hc *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{baseURL: strings.TrimRight(baseURL, "/"), apiKey: apiKey, http: hc, now: time.Now}
}

// BaseURL returns the API root the client talks to.
func (c *Client) BaseURL() string { return c.baseURL }

// CreateVideo calls POST /v3/videos with the caller's body, callback_id and
// callback_url (except for cinematic_avatar, see createBody) and the caller's
// Idempotency-Key, so that a retried create does not render twice. The answer's
// data.video_id is the job's ID.
func (c *Client) CreateVideo(ctx context.Context, req CreateVideoRequest) (CreatedVideo, error) {
	return c.create(ctx, "/v3/videos", "video_id", req)
}

// create sends a create to path and reads the job's ID from data.<idField>: video_id for
// POST /v3/videos, id for a template, whose answer is the created video object.
func (c *Client) create(ctx context.Context, path, idField string, req CreateVideoRequest) (CreatedVideo, error) {
	op := opName(http.MethodPost, path)
	body, err := createBody(op, req.Body, req.CallbackID, req.CallbackURL, req.IdempotencyKey)
	if err != nil {
		return CreatedVideo{}, err
	}
	var data map[string]json.RawMessage
	rid, err := c.do(ctx, http.MethodPost, path, body, requestKey(req.IdempotencyKey, req.CallbackID), &data)
	out := CreatedVideo{RequestID: rid}
	if err != nil {
		return out, err
	}
	var id, status, format flexText
	_ = id.UnmarshalJSON(data[idField]) // flexText never fails; absent reads as ""
	_ = status.UnmarshalJSON(data["status"])
	_ = format.UnmarshalJSON(data["output_format"])
	out.VideoID, out.OutputFormat = string(id), string(format)
	if status != "" {
		out.Status = NormaliseStatus(string(status))
	}
	if out.VideoID == "" {
		return out, undecodable(op, http.StatusOK, "response has no %s", idField)
	}
	return out, nil
}

// TypeCinematicAvatar is the v3 video type whose published body has no callback_id and
// no callback_url.
const TypeCinematicAvatar = "cinematic_avatar"

// createBody copies the caller's body (never mutating it) and sets callback_id and
// callback_url. It refuses an Idempotency-Key that HeyGen would refuse.
//
// A cinematic_avatar body gets neither field: HeyGen publishes neither for that type, so
// it is sent exactly as the caller wrote it. Its webhook then carries no callback_id; the
// receiver finds its Job by the video ID, and polling finishes it when that misses.
func createBody(op string, src map[string]any, callbackID, callbackURL, key string) (map[string]any, error) {
	if key != "" && !ValidIdempotencyKey(key) {
		return nil, &APIError{Kind: KindPermanent, Op: op, Err: ErrInvalidIdempotencyKey,
			Message: fmt.Sprintf("Idempotency-Key %q does not match %s (a bug in the caller)", truncate(key, 40), idempotencyKeyPattern)}
	}
	body := maps.Clone(src)
	if body == nil {
		body = map[string]any{}
	}
	if t, _ := body["type"].(string); t == TypeCinematicAvatar {
		return body, nil
	}
	if callbackID != "" {
		body["callback_id"] = callbackID
	}
	if callbackURL != "" {
		body["callback_url"] = callbackURL
	}
	return body, nil
}

// truncate shortens s to at most n bytes, for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// GetVideo calls GET /v3/videos/{id}.
func (c *Client) GetVideo(ctx context.Context, videoID string) (Video, error) {
	var out Video
	_, err := c.do(ctx, http.MethodGet, "/v3/videos/"+url.PathEscape(videoID), nil, "", &out)
	out.Status = NormaliseStatus(string(out.Status))
	if out.ID == "" {
		out.ID = videoID
	}
	return out, err
}

// VideoStatuses calls GET /v3/videos/statuses for up to 100 IDs and follows next_token.
func (c *Client) VideoStatuses(ctx context.Context, videoIDs []string) ([]StatusEntry, error) {
	return c.bulkStatuses(ctx, "/v3/videos/statuses", "video_ids", videoIDs)
}

// bulkStatuses asks path for the status of up to 100 IDs, given as a comma-separated
// param, and follows next_token. HeyGen publishes no limit parameter for it.
func (c *Client) bulkStatuses(ctx context.Context, path, param string, ids []string) ([]StatusEntry, error) {
	if len(ids) > 100 {
		return nil, errorf("GET "+path, 0, "%d ids, at most 100", len(ids))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var all []StatusEntry
	err := c.eachPage(ctx, path, url.Values{param: {strings.Join(ids, ",")}}, func(data json.RawMessage) error {
		var rows []StatusEntry
		if err := decodeList(data, &rows); err != nil {
			return undecodable(opName(http.MethodGet, path), http.StatusOK, "decode data: %v", err)
		}
		for _, e := range rows {
			e.Status = NormaliseStatus(string(e.Status))
			all = append(all, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// CreateWebhookEndpoint calls POST /v3/webhooks/endpoints. events nil means all events.
// The returned endpoint carries the signing secret, which HeyGen shows only here.
func (c *Client) CreateWebhookEndpoint(ctx context.Context, endpointURL string, events []string) (WebhookEndpoint, error) {
	body := map[string]any{"url": endpointURL}
	if events != nil {
		body["events"] = events
	}
	var out WebhookEndpoint
	_, err := c.do(ctx, http.MethodPost, "/v3/webhooks/endpoints", body, "", &out)
	return out, err
}

// ListWebhookEndpoints calls GET /v3/webhooks/endpoints with limit=100 and follows
// every page. HeyGen lists every endpoint with secret null.
func (c *Client) ListWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	const path = "/v3/webhooks/endpoints"
	var all []WebhookEndpoint
	err := c.eachPage(ctx, path, url.Values{"limit": {listLimit}}, func(data json.RawMessage) error {
		var eps []WebhookEndpoint
		if err := decodeList(data, &eps); err != nil {
			return undecodable(opName(http.MethodGet, path), http.StatusOK, "decode data: %v", err)
		}
		all = append(all, eps...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// WebhookEndpointUpdate is a PATCH /v3/webhooks/endpoints/{id} call. A nil field is left
// as it is.
type WebhookEndpointUpdate struct {
	URL    *string  // the new HTTPS URL
	Events []string // the new event types; nil leaves them, empty is sent as []
}

// UpdateWebhookEndpoint calls PATCH /v3/webhooks/endpoints/{id} and returns the endpoint
// as HeyGen now has it (without its secret).
func (c *Client) UpdateWebhookEndpoint(ctx context.Context, endpointID string, upd WebhookEndpointUpdate) (WebhookEndpoint, error) {
	body := map[string]any{}
	if upd.URL != nil {
		body["url"] = *upd.URL
	}
	if upd.Events != nil {
		body["events"] = upd.Events
	}
	var out WebhookEndpoint
	_, err := c.do(ctx, http.MethodPatch, "/v3/webhooks/endpoints/"+url.PathEscape(endpointID), body, "", &out)
	return out, err
}

// DeleteWebhookEndpoint calls DELETE /v3/webhooks/endpoints/{id}.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, endpointID string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v3/webhooks/endpoints/"+url.PathEscape(endpointID), nil, "", nil)
	return err
}

// RotateWebhookSecret calls POST /v3/webhooks/endpoints/{id}/rotate-secret. HeyGen stops
// accepting the old secret at once: give receivers the new secret next to the old one
// (HEYGEN_WEBHOOK_SECRETS=new,old) right after the call, then drop the old one.
//
// The answer is read both as {"data":{endpoint_id, secret}} and as a bare
// {endpoint_id, secret}, because the documentation shows the latter: once HeyGen has
// rotated, the old secret is dead, so refusing an unexpected envelope would lose the new one.
func (c *Client) RotateWebhookSecret(ctx context.Context, endpointID string) (WebhookEndpoint, error) {
	path := "/v3/webhooks/endpoints/" + url.PathEscape(endpointID) + "/rotate-secret"
	var raw json.RawMessage
	var out WebhookEndpoint
	_, err := c.doRaw(ctx, http.MethodPost, path, nil, "", &raw)
	if err == nil {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		src := []byte(raw)
		if json.Unmarshal(raw, &env) == nil && len(env.Data) > 0 && string(env.Data) != "null" {
			src = env.Data
		}
		if len(src) == 0 || json.Unmarshal(src, &out) != nil {
			err = undecodable(opName(http.MethodPost, path), http.StatusOK, "cannot read the answer")
		} else if out.Secret == "" {
			err = undecodable(opName(http.MethodPost, path), http.StatusOK, "response has no secret")
		}
	}
	if out.ID == "" {
		out.ID = endpointID
	}
	return out, err
}

// do sends a request and decodes the "data" member of the answer into out.
func (c *Client) do(ctx context.Context, method, path string, body any, idemKey string, out any) (string, error) {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	rid, err := c.doRaw(ctx, method, path, body, idemKey, &env)
	if err != nil || out == nil {
		return rid, err
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return rid, undecodable(opName(method, path), http.StatusOK, "response has no data")
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return rid, undecodable(opName(method, path), http.StatusOK, "decode data: %v", err)
	}
	return rid, nil
}

// doRaw sends a request and decodes the whole answer into out.
func (c *Client) doRaw(ctx context.Context, method, path string, body any, idemKey string, out any) (string, error) {
	op := opName(method, path)
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return "", errorf(op, 0, "encode body: %v", err)
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, rdr)
	if err != nil {
		return "", errorf(op, 0, "build request: %v", err)
	}
	req.Header.Set("X-Api-Key", c.apiKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &APIError{Kind: KindRetryable, Op: op, Err: err}
	}
	defer resp.Body.Close()
	rid := resp.Header.Get("X-Request-Id")
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return rid, &APIError{Kind: KindRetryable, Op: op, Status: resp.StatusCode, RequestID: rid, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return rid, c.apiError(op, resp, raw)
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return rid, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return rid, undecodable(op, resp.StatusCode, "decode response: %v", err)
	}
	return rid, nil
}

// apiError reads HeyGen's error envelope in either generation's shape.
func (c *Client) apiError(op string, resp *http.Response, raw []byte) *APIError {
	e := &APIError{Op: op, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(raw, &env) == nil {
		var body struct {
			Code    FlexString `json:"code"`
			Message flexText   `json:"message"`
			Param   flexText   `json:"param"`
			DocURL  flexText   `json:"doc_url"`
		}
		if len(env.Error) > 0 && json.Unmarshal(env.Error, &body) == nil {
			e.Code, e.Message, e.Param, e.DocURL = string(body.Code), string(body.Message), string(body.Param), string(body.DocURL)
		} else if len(env.Error) > 0 {
			var s string
			if json.Unmarshal(env.Error, &s) == nil {
				e.Message = s
			}
		}
		if e.Message == "" {
			e.Message = env.Message
		}
		if e.Code == "" && len(env.Code) > 0 {
			var fs FlexString
			if json.Unmarshal(env.Code, &fs) == nil {
				e.Code = string(fs)
			}
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Kind = kindForStatus(resp.StatusCode, e.Code)
	if e.Kind == KindRateLimited {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

// opName is "METHOD /path" without the query, for errors and logs.
func opName(method, path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return method + " " + path
}

// FlexString decodes a JSON string, number or boolean as a string. HeyGen sends some
// fields (error codes, timestamps) as numbers in one API generation and strings in another.
type FlexString string

// UnmarshalJSON accepts a string, a number, a boolean or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*f = ""
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*f = FlexString(n.String())
		return nil
	}
	var v bool
	if err := json.Unmarshal(b, &v); err == nil {
		*f = FlexString(strconv.FormatBool(v))
		return nil
	}
	return fmt.Errorf("heygen: want a string or number, got %.20s", b)
}
