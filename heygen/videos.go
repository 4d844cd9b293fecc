package heygen

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// CreateTemplateVideo calls POST /v3/templates/{template_id}. req.Body carries the
// template's variables, title, caption, dimension and so on, passed through; the client
// sets callback_id, callback_url and the Idempotency-Key as CreateVideo does. HeyGen
// answers with the created video object, so the ID is read from data.id (there is no
// data.video_id). The status of the video is read with GetVideo.
func (c *Client) CreateTemplateVideo(ctx context.Context, templateID string, req CreateVideoRequest) (CreatedVideo, error) {
	if templateID == "" {
		return CreatedVideo{}, errorf("POST /v3/templates/{template_id}", 0, "empty template id")
	}
	return c.create(ctx, "/v3/templates/"+url.PathEscape(templateID), "id", req)
}

// CreateLegacyVideo calls POST /v2/video/generate with a video_inputs body, answered in
// the legacy envelope {"error":null,"data":{"video_id"}}. The Idempotency-Key is sent
// too: HeyGen does not document it for v2, and an ignored header costs nothing. The
// status of the video is read with GetLegacyVideo, because a v2 video may be unknown
// to GET /v3/videos/{id}.
func (c *Client) CreateLegacyVideo(ctx context.Context, req CreateVideoRequest) (CreatedVideo, error) {
	const path = "/v2/video/generate"
	op := opName(http.MethodPost, path)
	body, err := createBody(op, req.Body, req.CallbackID, req.CallbackURL, req.IdempotencyKey)
	if err != nil {
		return CreatedVideo{}, err
	}
	var env legacyEnvelope
	rid, err := c.doRaw(ctx, http.MethodPost, path, body, requestKey(req.IdempotencyKey, req.CallbackID), &env)
	out := CreatedVideo{RequestID: rid}
	if err != nil {
		return out, err
	}
	if aerr := env.err(op, rid); aerr != nil {
		return out, aerr
	}
	var data struct {
		VideoID flexText `json:"video_id"`
		ID      flexText `json:"id"`
	}
	if d := bytes.TrimSpace(env.Data); len(d) == 0 || string(d) == "null" || json.Unmarshal(d, &data) != nil {
		return out, undecodable(op, http.StatusOK, "response has no data")
	}
	out.VideoID = firstNonEmpty(string(data.VideoID), string(data.ID))
	if out.VideoID == "" {
		return out, undecodable(op, http.StatusOK, "response has no video_id")
	}
	return out, nil
}

// GetLegacyVideo calls GET /v1/video_status.get?video_id=, which answers
// {"code":100,"data":{...}}. caption_url is read into SubtitleURL, and
// error {code, message, detail} into FailureCode and FailureMessage.
func (c *Client) GetLegacyVideo(ctx context.Context, videoID string) (Video, error) {
	const path = "/v1/video_status.get"
	op := opName(http.MethodGet, path)
	var env legacyEnvelope
	rid, err := c.doRaw(ctx, http.MethodGet, path+"?"+url.Values{"video_id": {videoID}}.Encode(), nil, "", &env)
	out := Video{ID: videoID}
	if err != nil {
		return out, err
	}
	if aerr := env.err(op, rid); aerr != nil {
		return out, aerr
	}
	if d := bytes.TrimSpace(env.Data); len(d) == 0 || string(d) == "null" {
		return out, undecodable(op, http.StatusOK, "response has no data")
	}
	if err := out.UnmarshalJSON(env.Data); err != nil {
		return Video{ID: videoID}, undecodable(op, http.StatusOK, "decode data: %v", err)
	}
	var aux struct {
		VideoID    flexText        `json:"video_id"`
		CaptionURL flexText        `json:"caption_url"`
		Error      json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(env.Data, &aux) // the same object decoded above, so it cannot fail
	out.ID = firstNonEmpty(out.ID, string(aux.VideoID), videoID)
	out.Status = NormaliseStatus(string(out.Status))
	if out.SubtitleURL == "" {
		out.SubtitleURL = string(aux.CaptionURL)
	}
	if code, msg := errorParts(aux.Error); code != "" || msg != "" {
		out.FailureCode = firstNonEmpty(out.FailureCode, code)
		out.FailureMessage = firstNonEmpty(out.FailureMessage, msg)
	}
	return out, nil
}

// ListVideos calls GET /v3/videos?title= with limit=100 and follows every page
// (has_more and next_token). title is a substring filter; "" lists every video. It exists
// to adopt a job that an ambiguous create made: find it by the tag in its title.
func (c *Client) ListVideos(ctx context.Context, title string) ([]Video, error) {
	const path = "/v3/videos"
	q := url.Values{"limit": {listLimit}}
	if title != "" {
		q.Set("title", title)
	}
	var all []Video
	err := c.eachPage(ctx, path, q, func(data json.RawMessage) error {
		var videos []Video
		if err := decodeList(data, &videos); err != nil {
			return undecodable(opName(http.MethodGet, path), http.StatusOK, "decode data: %v", err)
		}
		for _, v := range videos {
			v.Status = NormaliseStatus(string(v.Status))
			all = append(all, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// legacyEnvelope is both legacy shapes: v2 {"error":..., "data":...} and
// v1 {"code":100, "data":..., "message":...}.
type legacyEnvelope struct {
	Error   json.RawMessage `json:"error"`
	Data    json.RawMessage `json:"data"`
	Code    FlexString      `json:"code"`
	Message string          `json:"message"`
}

// legacyOK is the v1 envelope's code for success.
const legacyOK = "100"

// err returns the error a 2xx legacy answer carries, if any: a non-null error member,
// or a v1 code other than 100 with no data.
func (e legacyEnvelope) err(op, rid string) *APIError {
	data := bytes.TrimSpace(e.Data)
	noData := len(data) == 0 || string(data) == "null"
	code, msg := errorParts(e.Error)
	if code == "" && msg == "" {
		if e.Code == "" || e.Code == legacyOK || !noData {
			return nil
		}
		code, msg = string(e.Code), e.Message
	}
	if msg == "" {
		msg = "error in a 2xx answer"
	}
	kind := KindPermanent
	if code == "rate_limit_exceeded" {
		kind = KindRateLimited
	}
	return &APIError{Kind: kind, Op: op, Status: http.StatusOK, Code: code, Message: msg, RequestID: rid}
}

// errorParts reads an error given as a string or {code, message, detail}: its code and
// its message (the detail when there is no message).
func errorParts(raw json.RawMessage) (code, msg string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "false" {
		return "", ""
	}
	var obj struct {
		Code    FlexString `json:"code"`
		Message flexText   `json:"message"`
		Detail  flexText   `json:"detail"`
	}
	if raw[0] == '{' && json.Unmarshal(raw, &obj) == nil {
		return string(obj.Code), firstNonEmpty(string(obj.Message), string(obj.Detail))
	}
	return "", errorText(raw)
}
