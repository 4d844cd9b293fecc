package heygen

// Status is a job's state, normalised across API generations and endpoints.
type Status string

// The normalised statuses. HeyGen's "waiting" and "queued" map to StatusPending, and
// "running" to StatusProcessing.
const (
	StatusPending    Status = "pending"
	StatusProcessing Status = "processing"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusNotFound   Status = "not_found"
)

// NormaliseStatus maps any status spelling HeyGen uses to a Status.
func NormaliseStatus(s string) Status {
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
	CallbackID        string  `json:"callback_id,omitempty"`
	FolderID          string  `json:"folder_id,omitempty"`
}

// CreateVideoRequest is a POST /v3/videos call. Body is the caller's v3 body, passed
// through untouched except for callback_id and callback_url, which the client sets.
type CreateVideoRequest struct {
	Body           map[string]any
	CallbackID     string
	CallbackURL    string
	IdempotencyKey string // defaults to CallbackID
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

// WebhookEndpoint is a registered webhook endpoint. Secret is set only by create and
// rotate, the two calls where HeyGen reveals it.
type WebhookEndpoint struct {
	ID        string   `json:"endpoint_id"`
	URL       string   `json:"url"`
	Events    []string `json:"events,omitempty"`
	Status    string   `json:"status,omitempty"`
	CreatedAt FlexString `json:"created_at,omitempty"`
	Secret    string   `json:"secret,omitempty"`
}
