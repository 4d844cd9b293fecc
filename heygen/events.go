package heygen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Event types reelflow acts on. Every other type is accepted and ignored.
const (
	EventAvatarVideoSuccess    = "avatar_video.success"
	EventAvatarVideoFail       = "avatar_video.fail"
	EventVideoTranslateSuccess = "video_translate.success"
	EventVideoTranslateFail    = "video_translate.fail"
	// The two preflight failures of a translation end it just as video_translate.fail does.
	EventTranslatePreflightValidationFailed = "video_translate.preflight.validation_failed"
	EventTranslatePreflightDownloadFailed   = "video_translate.preflight.download_failed"
)

// Outcome is what an event says about the job it names.
type Outcome string

// The outcomes of an event.
const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
	OutcomeOther   Outcome = "other" // not about the end of a job reelflow waits for
)

// Event is a webhook delivery, normalised. It is also the payload of the Temporal signal
// that the receiver sends, so its JSON form is reelflow's, not HeyGen's.
type Event struct {
	ID             string  `json:"event_id,omitempty"`
	Type           string  `json:"event_type"`
	CreatedAt      string  `json:"created_at,omitempty"`
	CallbackID     string  `json:"callback_id,omitempty"`
	JobID          string  `json:"job_id,omitempty"` // video_id or video_translate_id
	URL            string  `json:"url,omitempty"`    // url or video_url
	ThumbnailURL   string  `json:"thumbnail_url,omitempty"`
	GIFURL         string  `json:"gif_url,omitempty"`
	CaptionURL     string  `json:"caption_url,omitempty"`
	SharePageURL   string  `json:"share_page_url,omitempty"`
	Duration       float64 `json:"duration,omitempty"`
	OutputLanguage string  `json:"output_language,omitempty"`
	Message        string  `json:"message,omitempty"` // msg, message or error
	// Data is event_data exactly as received, so that fields reelflow does not know
	// survive into the workflow's history.
	Data json.RawMessage `json:"data,omitempty"`
}

// ErrMalformedEvent is returned, wrapped, for a body that is not a webhook delivery.
var ErrMalformedEvent = errors.New("malformed event")

// Outcome classifies the event by its type.
func (e Event) Outcome() Outcome {
	switch {
	case strings.HasSuffix(e.Type, ".success"):
		return OutcomeSuccess
	case strings.HasSuffix(e.Type, ".fail"), strings.HasSuffix(e.Type, "_failed"):
		return OutcomeFailure
	default:
		return OutcomeOther
	}
}

// Known reports whether reelflow acts on this event type.
func (e Event) Known() bool {
	switch e.Type {
	case EventAvatarVideoSuccess, EventAvatarVideoFail,
		EventVideoTranslateSuccess, EventVideoTranslateFail,
		EventTranslatePreflightValidationFailed, EventTranslatePreflightDownloadFailed:
		return true
	}
	return false
}

// DedupeKey is stable for every delivery of the same fact: the same type, job and
// callback_id. It is the request ID of the signal, so that Temporal drops repeats.
func (e Event) DedupeKey() string {
	sum := sha256.Sum256([]byte(e.Type + "\x00" + e.JobID + "\x00" + e.CallbackID))
	return hex.EncodeToString(sum[:16])
}

// rawEventData lists every spelling of every field reelflow reads.
type rawEventData struct {
	CallbackID       FlexString      `json:"callback_id"`
	VideoID          FlexString      `json:"video_id"`
	VideoTranslateID FlexString      `json:"video_translate_id"`
	ID               FlexString      `json:"id"`
	URL              string          `json:"url"`
	VideoURL         string          `json:"video_url"`
	ThumbnailURL     string          `json:"thumbnail_url"`
	GIFURL           string          `json:"gif_url"`
	GIFDownloadURL   string          `json:"gif_download_url"`
	CaptionURL       string          `json:"caption_url"`
	SharePageURL     string          `json:"video_share_page_url"`
	Duration         json.Number     `json:"duration"`
	OutputLanguage   string          `json:"output_language"`
	Msg              string          `json:"msg"`
	Message          string          `json:"message"`
	Error            json.RawMessage `json:"error"`
}

// ParseEvent reads a webhook body. It needs a JSON object with a string event_type;
// event_data, when present, must be an object. Every other oddity is tolerated.
func ParseEvent(body []byte) (Event, error) {
	var env struct {
		EventType *string         `json:"event_type"`
		EventID   FlexString      `json:"event_id"`
		CreatedAt FlexString      `json:"created_at"`
		EventData json.RawMessage `json:"event_data"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Event{}, fmt.Errorf("%w: body is not a JSON object", ErrMalformedEvent)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformedEvent)
	}
	if env.EventType == nil || strings.TrimSpace(*env.EventType) == "" {
		return Event{}, fmt.Errorf("%w: no event_type", ErrMalformedEvent)
	}
	ev := Event{
		ID:        string(env.EventID),
		Type:      strings.TrimSpace(*env.EventType),
		CreatedAt: string(env.CreatedAt),
	}
	data := bytes.TrimSpace(env.EventData)
	if len(data) == 0 || string(data) == "null" {
		return ev, nil
	}
	if data[0] != '{' {
		return Event{}, fmt.Errorf("%w: event_data is not an object", ErrMalformedEvent)
	}
	var d rawEventData
	if err := json.Unmarshal(data, &d); err != nil {
		return Event{}, fmt.Errorf("%w: event_data: %v", ErrMalformedEvent, err)
	}
	ev.Data = json.RawMessage(data)
	ev.CallbackID = strings.TrimSpace(string(d.CallbackID))
	ev.JobID = firstNonEmpty(string(d.VideoID), string(d.VideoTranslateID), string(d.ID))
	ev.URL = firstNonEmpty(d.URL, d.VideoURL)
	ev.ThumbnailURL = d.ThumbnailURL
	ev.GIFURL = firstNonEmpty(d.GIFURL, d.GIFDownloadURL)
	ev.CaptionURL = d.CaptionURL
	ev.SharePageURL = d.SharePageURL
	if f, err := d.Duration.Float64(); err == nil {
		ev.Duration = f
	}
	ev.OutputLanguage = d.OutputLanguage
	ev.Message = firstNonEmpty(d.Msg, d.Message, errorText(d.Error))
	return ev, nil
}

// errorText reads an error given as a string or as {code, message, detail}.
func errorText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Code    FlexString `json:"code"`
		Message string     `json:"message"`
		Detail  string     `json:"detail"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		msg := firstNonEmpty(obj.Message, obj.Detail)
		if obj.Code != "" && msg != "" {
			return string(obj.Code) + ": " + msg
		}
		return firstNonEmpty(msg, string(obj.Code))
	}
	return string(raw)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
