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
	// FailureCode is a failure event's code: failure_code, error_code or error.code, or
	// for a translation's preflight event the failure its type names (download_failed).
	FailureCode string `json:"failure_code,omitempty"`
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

// PublishedEventTypes are the 30 event types HeyGen publishes (the enum of a webhook
// endpoint's events, webhook-endpoints-create.json). reelflow acts on the six Known ones
// and acknowledges the others.
var PublishedEventTypes = []string{
	"avatar_video.success", "avatar_video.fail", "avatar_video_gif.success", "avatar_video_gif.fail",
	"video_translate.success", "video_translate.fail", "video_translate.preflight.validation_failed",
	"video_translate.preflight.download_failed", "personalized_video", "instant_avatar.success",
	"instant_avatar.fail", "photo_avatar_generation.success", "photo_avatar_generation.fail",
	"photo_avatar_train.success", "photo_avatar_train.fail", "photo_avatar_add_motion.success",
	"photo_avatar_add_motion.fail", "proofread_creation.success", "proofread_creation.fail",
	"live_avatar.success", "live_avatar.fail", "avatar_video_caption.success", "avatar_video_caption.fail",
	"video_agent.success", "video_agent.fail", "hyperframes_video.success", "hyperframes_video.fail",
	"ai_clipping.success", "ai_clipping.fail", "batch.finished",
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

// Every spelling of every event_data field reelflow reads, best first.
var (
	callbackIDKeys     = []string{"callback_id"}
	videoJobIDKeys     = []string{"video_id", "video_translate_id", "id"}
	translateJobIDKeys = []string{"video_translate_id", "video_id", "id"}
	urlKeys            = []string{"url", "video_url"}
	gifURLKeys         = []string{"gif_url", "gif_download_url"}
	messageKeys        = []string{"msg", "message"}
)

// ParseEvent reads a webhook body. It needs a JSON object with a string event_type;
// event_data, when present, must be an object. Every other oddity is tolerated: a known
// field of an unexpected type reads as empty rather than failing the whole delivery,
// because refusing a terminal event would leave its job waiting until its deadline.
func ParseEvent(body []byte) (Event, error) {
	var env struct {
		EventType *string         `json:"event_type"`
		EventID   flexText        `json:"event_id"`
		CreatedAt flexText        `json:"created_at"`
		EventData json.RawMessage `json:"event_data"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Event{}, fmt.Errorf("%w: body is not a JSON object", ErrMalformedEvent)
	}
	// json.Unmarshal, unlike a Decoder, refuses anything after the object (even a stray '}').
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
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
	var d map[string]json.RawMessage
	if data[0] != '{' || json.Unmarshal(data, &d) != nil {
		return Event{}, fmt.Errorf("%w: event_data is not an object", ErrMalformedEvent)
	}
	ev.Data = json.RawMessage(data)
	ev.CallbackID = field(d, callbackIDKeys...)
	if strings.HasPrefix(ev.Type, "video_translate") {
		ev.JobID = field(d, translateJobIDKeys...)
	} else {
		ev.JobID = field(d, videoJobIDKeys...)
	}
	ev.URL = field(d, urlKeys...)
	ev.ThumbnailURL = field(d, "thumbnail_url")
	ev.GIFURL = field(d, gifURLKeys...)
	ev.CaptionURL = field(d, "caption_url")
	ev.SharePageURL = field(d, "video_share_page_url")
	if raw, ok := d["duration"]; ok {
		var n flexNumber
		_ = n.UnmarshalJSON(raw) // never fails
		ev.Duration = float64(n)
	}
	ev.OutputLanguage = field(d, "output_language")
	ev.Message = firstNonEmpty(field(d, messageKeys...), field(d, "failure_message", "error_message"), errorText(d["error"]))
	ev.FailureCode = firstNonEmpty(field(d, "failure_code", "error_code"), errorCode(d["error"]))
	if ev.FailureCode == "" && strings.HasPrefix(ev.Type, "video_translate.preflight.") {
		ev.FailureCode = strings.TrimPrefix(ev.Type, "video_translate.preflight.")
	}
	return ev, nil
}

// field returns the first of keys in d that holds a non-empty string, number or boolean.
func field(d map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		raw, ok := d[k]
		if !ok {
			continue
		}
		var t flexText
		_ = t.UnmarshalJSON(raw) // never fails
		if t != "" {
			return string(t)
		}
	}
	return ""
}

// errorText reads an error given as a string or as {code, message, detail}.
func errorText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "false" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
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

// errorCode reads the code of an error given as {code, message}; "" otherwise.
func errorCode(raw json.RawMessage) string {
	var obj struct {
		Code FlexString `json:"code"`
	}
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		return ""
	}
	return string(obj.Code)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
