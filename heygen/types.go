package heygen

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Status is a job's state, normalised across API generations and endpoints.
type Status string

// The normalised statuses. Every status HeyGen publishes maps to one of them: "waiting"
// (a create's answer), "queued" (a bulk row) and "pending" to StatusPending; "processing"
// and "running" (a translation) to StatusProcessing; "completed", "failed" and
// "not_found" (a bulk row for an unknown ID) to themselves.
const (
	StatusPending    Status = "pending"
	StatusProcessing Status = "processing"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusNotFound   Status = "not_found"
)

// NormaliseStatus maps any status spelling HeyGen uses to a Status.
// Case and surrounding spaces are ignored.
func NormaliseStatus(s string) Status {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "waiting", "queued", "pending":
		return StatusPending
	case "processing", "running":
		return StatusProcessing
	case "completed", "success", "succeeded":
		return StatusCompleted
	case "failed", "fail", "error":
		return StatusFailed
	case "not_found":
		return StatusNotFound
	default:
		return Status(s)
	}
}

// Terminal reports whether no further change can come.
func (s Status) Terminal() bool { return s == StatusCompleted || s == StatusFailed }

// Video is a v3 video as GET /v3/videos/{id} returns it.
type Video struct {
	ID                string  `json:"id"`
	Status            Status  `json:"status"`
	Title             string  `json:"title,omitempty"`
	VideoURL          string  `json:"video_url,omitempty"`
	CaptionedVideoURL string  `json:"captioned_video_url,omitempty"`
	SubtitleURL       string  `json:"subtitle_url,omitempty"`
	ThumbnailURL      string  `json:"thumbnail_url,omitempty"`
	GIFURL            string  `json:"gif_url,omitempty"`
	VideoPageURL      string  `json:"video_page_url,omitempty"`
	Duration          float64 `json:"duration,omitempty"`
	CreatedAt         int64   `json:"created_at,omitempty"`
	CompletedAt       int64   `json:"completed_at,omitempty"`
	FailureCode       string  `json:"failure_code,omitempty"`
	FailureMessage    string  `json:"failure_message,omitempty"`
	// CallbackID is not published for a v3 video: it is read when an answer has it, and
	// nothing in reelflow depends on it.
	CallbackID string `json:"callback_id,omitempty"`
	FolderID   string `json:"folder_id,omitempty"`
}

// UnmarshalJSON reads a video tolerantly: timestamps and duration may come as numbers
// (integer or not), numeric strings or RFC 3339 strings, and failure_code as a string or
// a number. A field of an odd shape must not turn a poll into a permanent error.
func (v *Video) UnmarshalJSON(b []byte) error {
	type plain Video // no methods, so no recursion
	var aux struct {
		plain
		ID          FlexString `json:"id"`
		Status      flexText   `json:"status"`
		Duration    flexNumber `json:"duration"`
		CreatedAt   flexNumber `json:"created_at"`
		CompletedAt flexNumber `json:"completed_at"`
		FailureCode flexText   `json:"failure_code"`
		CallbackID  flexText   `json:"callback_id"`
		FolderID    flexText   `json:"folder_id"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*v = Video(aux.plain)
	v.ID = string(aux.ID)
	v.Status = Status(aux.Status)
	v.Duration = float64(aux.Duration)
	v.CreatedAt = unixSeconds(float64(aux.CreatedAt))
	v.CompletedAt = unixSeconds(float64(aux.CompletedAt))
	v.FailureCode = string(aux.FailureCode)
	v.CallbackID = string(aux.CallbackID)
	v.FolderID = string(aux.FolderID)
	return nil
}

// CreateVideoRequest is a video create call (v3 or template). Body is the
// caller's body, passed through untouched except for callback_id and callback_url, which
// the client sets (never for a cinematic_avatar body, whose published schema has neither).
type CreateVideoRequest struct {
	Body        map[string]any
	CallbackID  string
	CallbackURL string
	// IdempotencyKey is sent as the Idempotency-Key header. It must pass
	// ValidIdempotencyKey, or the call is refused before it is sent. When empty, CallbackID
	// is sent instead if it passes, and otherwise no key.
	IdempotencyKey string
}

// CreatedVideo is the answer to a create call.
type CreatedVideo struct {
	VideoID      string `json:"video_id"`
	Status       Status `json:"status,omitempty"`
	OutputFormat string `json:"output_format,omitempty"`
	RequestID    string `json:"-"`
}

// StatusEntry is one row of a bulk status answer.
type StatusEntry struct {
	VideoID string `json:"video_id"`
	Status  Status `json:"status"`
	Error   string `json:"error,omitempty"`
}

// UnmarshalJSON reads a status row; error is published as an object or null
// ({code, message}), and a string is read too.
// The ID is read from video_id, and failing that from video_translation_id or id, because
// the translation statuses carry their ID as video_id by the documentation only.
func (e *StatusEntry) UnmarshalJSON(b []byte) error {
	var aux struct {
		VideoID       FlexString      `json:"video_id"`
		TranslationID flexText        `json:"video_translation_id"`
		ID            flexText        `json:"id"`
		Status        flexText        `json:"status"`
		Error         json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	id := firstNonEmpty(string(aux.VideoID), string(aux.TranslationID), string(aux.ID))
	*e = StatusEntry{VideoID: id, Status: Status(aux.Status), Error: errorText(aux.Error)}
	return nil
}

// WebhookEndpoint is a registered webhook endpoint. Secret is set only by create and
// rotate, the two calls where HeyGen reveals it.
type WebhookEndpoint struct {
	ID        string     `json:"endpoint_id"`
	URL       string     `json:"url"`
	Events    []string   `json:"events,omitempty"`
	Status    string     `json:"status,omitempty"`
	CreatedAt FlexString `json:"created_at,omitempty"`
	Secret    string     `json:"secret,omitempty"`
}

// flexText reads a JSON string or number as text and never fails: anything else (an
// object, an array, a boolean) reads as "", because none of those is a usable ID, URL
// or message.
type flexText string

// UnmarshalJSON implements json.Unmarshaler.
func (t *flexText) UnmarshalJSON(b []byte) error {
	var f FlexString
	switch s := string(bytes.TrimSpace(b)); {
	case s == "true" || s == "false":
		f = ""
	case f.UnmarshalJSON(b) != nil:
		f = ""
	}
	*t = flexText(strings.TrimSpace(string(f)))
	return nil
}

// flexNumber reads a number given as a JSON number, a numeric string or an RFC 3339
// time (as unix seconds). It never fails: anything else, NaN and Inf read as 0.
type flexNumber float64

// UnmarshalJSON implements json.Unmarshaler.
func (n *flexNumber) UnmarshalJSON(b []byte) error {
	*n = 0
	b = bytes.TrimSpace(b)
	var s string
	if len(b) > 0 && b[0] == '"' {
		if json.Unmarshal(b, &s) != nil {
			return nil
		}
		s = strings.TrimSpace(s)
	} else {
		s = string(b)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			*n = flexNumber(f)
		}
		return nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		*n = flexNumber(t.Unix())
	}
	return nil
}

// unixSeconds truncates f to whole seconds, 0 when it does not fit an int64.
func unixSeconds(f float64) int64 {
	if f <= math.MinInt64 || f >= math.MaxInt64 {
		return 0
	}
	return int64(f)
}

// Job kinds: which HeyGen API makes a job and which status call reads it. reelflow's
// activities and workflows (activities.Kind*, workflows.Kind*) and the sandbox's
// (sandbox.JobKind*) are these.
const (
	JobKindVideo       = "video"       // POST /v3/videos, GET /v3/videos/{id}
	JobKindTemplate    = "template"    // POST /v3/templates/{id}, GET /v3/videos/{id}
	JobKindTranslation = "translation" // POST /v3/video-translations, GET /v3/video-translations/{id}
)
