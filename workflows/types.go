package workflows

import (
	"time"

	"github.com/reelflow/reelflow/heygen"
)

// JobKind says which HeyGen API creates a job and which status call follows it.
type JobKind string

// The job kinds.
const (
	KindVideo JobKind = "video" // POST /v3/videos, GET /v3/videos/{id}
)

// Timeouts bound how a Job waits. Zero fields take the defaults, which suit real HeyGen:
// renders take minutes and sometimes hours, and webhooks are usually prompt.
type Timeouts struct {
	// PushWindow is how long the Job waits for a webhook before it starts polling.
	PushWindow time.Duration `json:"push_window,omitempty"`
	// Deadline is the longest a Job waits in all, from its start; then it fails.
	Deadline time.Duration `json:"deadline,omitempty"`
	// PollInitial is the first interval between polls; it doubles up to PollMax.
	PollInitial time.Duration `json:"poll_initial,omitempty"`
	// PollMax caps the interval between polls.
	PollMax time.Duration `json:"poll_max,omitempty"`
}

// Default timeouts.
const (
	DefaultPushWindow  = 10 * time.Minute
	DefaultDeadline    = 24 * time.Hour
	DefaultPollInitial = 30 * time.Second
	DefaultPollMax     = 5 * time.Minute
)

// WithDefaults fills zero fields with the defaults.
func (t Timeouts) WithDefaults() Timeouts {
	if t.PushWindow <= 0 {
		t.PushWindow = DefaultPushWindow
	}
	if t.Deadline <= 0 {
		t.Deadline = DefaultDeadline
	}
	if t.PollInitial <= 0 {
		t.PollInitial = DefaultPollInitial
	}
	if t.PollMax <= 0 {
		t.PollMax = DefaultPollMax
	}
	if t.PollMax < t.PollInitial {
		t.PollMax = t.PollInitial
	}
	return t
}

// JobState is where a Job is, as the status query and the step table show it.
type JobState string

// The states of a Job.
const (
	StateCreating  JobState = "creating"
	StateWaiting   JobState = "waiting for webhook"
	StatePolling   JobState = "polling"
	StateDone      JobState = "done"
	StateFailed    JobState = "failed"
	StateCancelled JobState = "cancelled"
	StatePending   JobState = "pending" // a pipeline step not started yet
)

// How a Job learnt its outcome.
const (
	FinishedByWebhook = "webhook"
	FinishedByPoll    = "poll"
)

// JobInput starts a Job workflow. The workflow's own ID is the HeyGen callback_id.
type JobInput struct {
	PipelineID string  `json:"pipeline_id"`
	Step       string  `json:"step"`
	Kind       JobKind `json:"kind"`
	// Body is the HeyGen create body, passed through; reelflow sets only callback_id
	// and, when CallbackURL is set, callback_url.
	Body        map[string]any `json:"body,omitempty"`
	CallbackURL string         `json:"callback_url,omitempty"`
	Timeouts    Timeouts       `json:"timeouts,omitempty"`
}

// JobStatus is a Job's state, the answer to its status query and a row of the
// pipeline's step table.
type JobStatus struct {
	Step           string        `json:"step"`
	CallbackID     string        `json:"callback_id,omitempty"`
	HeyGenJobID    string        `json:"heygen_job_id,omitempty"`
	State          JobState      `json:"state"`
	FinishedBy     string        `json:"finished_by,omitempty"`
	Polls          int           `json:"polls,omitempty"`
	Events         int           `json:"events,omitempty"` // signals received, duplicates included
	StartedAt      time.Time     `json:"started_at,omitzero"`
	FinishedAt     time.Time     `json:"finished_at,omitzero"`
	VideoURL       string        `json:"video_url,omitempty"`
	ThumbnailURL   string        `json:"thumbnail_url,omitempty"`
	CaptionURL     string        `json:"caption_url,omitempty"`
	Duration       float64       `json:"duration,omitempty"` // of the video, seconds
	HeyGenStatus   heygen.Status `json:"heygen_status,omitempty"`
	FailureMessage string        `json:"failure_message,omitempty"`
}

// JobResult is what a finished Job returns: its final status.
type JobResult = JobStatus

// PipelineInput starts a Pipeline workflow; it is the validated spec.
type PipelineInput struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Video is a v3 POST /v3/videos body, passed through.
	Video    map[string]any `json:"video,omitempty"`
	Timeouts Timeouts       `json:"timeouts,omitempty"`
}

// PipelineStatus is the step table: the answer to a Pipeline's status query.
type PipelineStatus struct {
	ID    string      `json:"id"`
	Title string      `json:"title,omitempty"`
	Stage string      `json:"stage"`
	Steps []JobStatus `json:"steps"`
}

// PipelineResult is what a finished Pipeline returns.
type PipelineResult struct {
	ID     string      `json:"id"`
	Title  string      `json:"title,omitempty"`
	Render *JobResult  `json:"render,omitempty"`
	Steps  []JobStatus `json:"steps"`
}
