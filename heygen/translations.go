package heygen

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// CreateTranslationRequest is a POST /v3/video-translations call. Body is the caller's
// body (video {type:"url",url} or {type:"asset_id",asset_id}, output_languages, mode,
// title, enable_caption ...), passed through untouched except for callback_id and
// callback_url, which the client sets. Send one output language per request when each
// translation needs its own callback_id.
type CreateTranslationRequest struct {
	Body        map[string]any
	CallbackID  string
	CallbackURL string
	// IdempotencyKey is sent as the Idempotency-Key header. It must pass
	// ValidIdempotencyKey, or the call is refused before it is sent. When empty, CallbackID
	// is sent instead if it passes, and otherwise no key.
	IdempotencyKey string
}

// Translation is a video translation as GET /v3/video-translations/{id} returns it.
// Status is normalised: HeyGen's "running" reads as StatusProcessing.
type Translation struct {
	ID             string  `json:"id"`
	OutputLanguage string  `json:"output_language,omitempty"`
	Status         Status  `json:"status"`
	VideoURL       string  `json:"video_url,omitempty"`
	AudioURL       string  `json:"audio_url,omitempty"`
	SRTCaptionURL  string  `json:"srt_caption_url,omitempty"`
	VTTCaptionURL  string  `json:"vtt_caption_url,omitempty"`
	FailureMessage string  `json:"failure_message,omitempty"`
	CallbackID     string  `json:"callback_id,omitempty"`
	Duration       float64 `json:"duration,omitempty"`
}

// UnmarshalJSON reads a translation tolerantly: the ID may be named id,
// video_translation_id or video_translate_id; the failure may be failure_message,
// message or error; numbers may be strings. An odd field never fails a poll.
func (t *Translation) UnmarshalJSON(b []byte) error {
	var aux struct {
		ID             flexText        `json:"id"`
		TranslationID  flexText        `json:"video_translation_id"`
		TranslateID    flexText        `json:"video_translate_id"`
		OutputLanguage flexText        `json:"output_language"`
		Status         flexText        `json:"status"`
		VideoURL       flexText        `json:"video_url"`
		URL            flexText        `json:"url"`
		AudioURL       flexText        `json:"audio_url"`
		SRTCaptionURL  flexText        `json:"srt_caption_url"`
		VTTCaptionURL  flexText        `json:"vtt_caption_url"`
		FailureMessage flexText        `json:"failure_message"`
		Message        flexText        `json:"message"`
		Error          json.RawMessage `json:"error"`
		CallbackID     flexText        `json:"callback_id"`
		Duration       flexNumber      `json:"duration"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*t = Translation{
		ID:             firstNonEmpty(string(aux.ID), string(aux.TranslationID), string(aux.TranslateID)),
		OutputLanguage: string(aux.OutputLanguage),
		Status:         Status(aux.Status),
		VideoURL:       firstNonEmpty(string(aux.VideoURL), string(aux.URL)),
		AudioURL:       string(aux.AudioURL),
		SRTCaptionURL:  string(aux.SRTCaptionURL),
		VTTCaptionURL:  string(aux.VTTCaptionURL),
		FailureMessage: firstNonEmpty(string(aux.FailureMessage), string(aux.Message), errorText(aux.Error)),
		CallbackID:     string(aux.CallbackID),
		Duration:       float64(aux.Duration),
	}
	return nil
}

// CreateTranslation calls POST /v3/video-translations and returns
// data.video_translation_ids, one per output language, in HeyGen's order.
func (c *Client) CreateTranslation(ctx context.Context, req CreateTranslationRequest) ([]string, error) {
	const path = "/v3/video-translations"
	body, err := createBody(opName(http.MethodPost, path), req.Body, req.CallbackID, req.CallbackURL, req.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	var out struct {
		IDs []flexText `json:"video_translation_ids"`
	}
	if _, err := c.do(ctx, http.MethodPost, path, body, requestKey(req.IdempotencyKey, req.CallbackID), &out); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.IDs))
	for _, id := range out.IDs {
		if id != "" {
			ids = append(ids, string(id))
		}
	}
	if len(ids) == 0 {
		return nil, undecodable(opName(http.MethodPost, path), http.StatusOK, "response has no video_translation_ids")
	}
	return ids, nil
}

// GetTranslation calls GET /v3/video-translations/{id}.
func (c *Client) GetTranslation(ctx context.Context, id string) (Translation, error) {
	var out Translation
	_, err := c.do(ctx, http.MethodGet, "/v3/video-translations/"+url.PathEscape(id), nil, "", &out)
	out.Status = NormaliseStatus(string(out.Status))
	if out.ID == "" {
		out.ID = id
	}
	return out, err
}

// TranslationStatuses calls GET /v3/video-translations/statuses for up to 100 IDs and
// follows next_token. Each entry carries its translation ID in VideoID, as HeyGen does.
func (c *Client) TranslationStatuses(ctx context.Context, ids []string) ([]StatusEntry, error) {
	return c.bulkStatuses(ctx, "/v3/video-translations/statuses", "video_translation_ids", ids)
}

// TranslationLanguages calls GET /v3/video-translations/languages and returns the
// language names output_languages accepts. data may be the list itself or
// {"languages":[...]}.
func (c *Client) TranslationLanguages(ctx context.Context) ([]string, error) {
	const path = "/v3/video-translations/languages"
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, path, nil, "", &raw); err != nil {
		return nil, err
	}
	raw = bytes.TrimSpace(raw)
	var langs []string
	if len(raw) > 0 && raw[0] == '{' {
		var obj struct {
			Languages []string `json:"languages"`
		}
		if json.Unmarshal(raw, &obj) != nil {
			return nil, undecodable(opName(http.MethodGet, path), http.StatusOK, "cannot read the languages")
		}
		langs = obj.Languages
	} else if json.Unmarshal(raw, &langs) != nil {
		return nil, undecodable(opName(http.MethodGet, path), http.StatusOK, "cannot read the languages")
	}
	return langs, nil
}
