package workflows

import (
	"cmp"
	"time"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// JobKind says which HeyGen API creates a job and which status call follows it.
type JobKind string

// The job kinds, declared once in activities (which cannot import this package) and
// typed here.
const (
	KindVideo       JobKind = activities.KindVideo
	KindTemplate    JobKind = activities.KindTemplate
	KindTranslation JobKind = activities.KindTranslation
)

// Timeouts bound how a Job waits. Zero fields take the defaults, which suit real HeyGen:
// renders take minutes and sometimes hours, and webhooks are usually prompt.
type Timeouts struct {
	// PushWindow is how long the Job waits for a webhook before it starts polling.
	PushWindow time.Duration `json:"push_window,omitempty"`
	// Deadline is the longest a Job waits in all, from its start; then it fails.
	Deadline time.Duration `json:"deadline,omitempty"`
	// PollInitial is the first interval between polls; it doubles up to PollMax. The
	// first poll itself comes at once when PushWindow ends. Each interval is jittered
	// by up to ±15% (see jitterInterval).
	PollInitial time.Duration `json:"poll_initial,omitempty"`
	// PollMax caps the nominal interval between polls; with jitter, an interval at the
	// cap lies between 0.85 and 1.15 times PollMax.
	PollMax time.Duration `json:"poll_max,omitempty"`
	// Sweep is the interval of the batched sweep: every waiting Job polls at every
	// multiple of it (of the clock, the same instants for every Job), from its create
	// on, so that a lost webhook costs at most this long (job.go, "The sweep"); a Job
	// created less than Sweep/12 before an instant is read Sweep/12 after it instead. A
	// negative Sweep turns it off: the Job then polls only after the push window.
	Sweep time.Duration `json:"sweep,omitempty"`
}

// SweepGrace is how long after a sweep instant a Job young at it (created less than
// this before it) is read instead: a twelfth of the sweep interval, 5 s of a minute
// (job.go, changeSweepGrace).
func SweepGrace(sweep time.Duration) time.Duration { return sweep / 12 }

// Default timeouts.
const (
	DefaultPushWindow  = 10 * time.Minute
	DefaultDeadline    = 24 * time.Hour
	DefaultPollInitial = 30 * time.Second
	DefaultPollMax     = 5 * time.Minute
	DefaultSweep       = time.Minute
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
	if t.Sweep == 0 {
		t.Sweep = DefaultSweep
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
	StateRunning   JobState = "running" // a pipeline step that is not a Job (notify) in flight
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
	// TemplateID is the template to render, for KindTemplate.
	TemplateID string `json:"template_id,omitempty"`
	// Label names the job in the Temporal UI's summaries, for example
	// "translate Spanish (Spain)"; the step name when empty.
	Label string `json:"label,omitempty"`
	// Schedule is how the account scheduler ranks this Job's wait for a slot
	// (scheduler.go): its priority, fairness key and weight, and its campaign.
	Schedule Schedule `json:"schedule,omitzero"`
	// Retries is how many times a failed HeyGen job that is not known to be permanent
	// is created again as a new HeyGen job; 0, the default, never. The Pipeline runs each
	// attempt as a new run of the Job (attempts.go); the Job shows it in its status.
	Retries int `json:"retries,omitempty"`
	// Attempt is this run's attempt, from 1 (0 is 1). Attempts after the first have
	// their own Idempotency-Key (identity.go), so each is a new HeyGen job.
	Attempt int `json:"attempt,omitempty"`
	// FailedAttempts are the reasons the step's earlier attempts failed, oldest first.
	FailedAttempts []string `json:"failed_attempts,omitempty"`
	// RunIdentity, when set, is the Job's run identity (identity.go) in place of its own
	// original run ID: its Pipeline's, or, in a continued run, its first run's.
	RunIdentity string `json:"run_identity,omitempty"`
	// Resume is set only by a Job that continues as new (jobhistory.go): the state its
	// next run takes over. A Job with Resume never creates.
	Resume *JobResume `json:"resume,omitempty"`
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
	// FailureType is the ApplicationError type the step failed with (ErrTypeStillRendering,
	// a heygen.ErrorKind name for a refused create, ...): what a program reads where
	// FailureMessage is for people.
	FailureType string `json:"failure_type,omitempty"`
	// FailureCode is HeyGen's failure code, when it gave one.
	FailureCode string `json:"failure_code,omitempty"`
	// Attempt is the attempt this row shows, from 1, of Attempts in all (1 + the
	// spec's retry.renders); both 0 for a step without a re-render budget.
	Attempt  int `json:"attempt,omitempty"`
	Attempts int `json:"attempts,omitempty"`
	// FailedAttempts are the reasons of the step's failed attempts, oldest first.
	FailedAttempts []string `json:"failed_attempts,omitempty"`
	// Kind is the job's kind; the pipeline fills it in for its rows.
	Kind JobKind `json:"kind,omitempty"`
	// Language is a translation's output language, as the spec names it.
	Language string `json:"language,omitempty"`
	// VTTCaptionURL and AudioURL are a translation's further outputs. CaptionURL
	// holds its SRT captions.
	VTTCaptionURL string `json:"vtt_caption_url,omitempty"`
	AudioURL      string `json:"audio_url,omitempty"`
	// Delivered lists the step's outputs written to the spec's deliver bucket.
	Delivered []Delivery `json:"delivered,omitempty"`
	// DeliverError says why an output of the step was not delivered.
	DeliverError string `json:"deliver_error,omitempty"`
	// Reused is true for a step that completed in an earlier run of the pipeline and
	// whose result this run took over instead of rendering again.
	Reused bool `json:"reused,omitempty"`
}

// Delivery is one output written to the deliver bucket.
type Delivery struct {
	// Output is what was delivered: activities.OutputVideo, OutputThumbnail ...
	Output string `json:"output"`
	// Key is the object key, "<pipeline id>/<step>/<name>.<ext>".
	Key string `json:"key"`
	// URL is the object's address: the bucket URL with the key appended.
	URL    string `json:"url"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Skipped is true when an identical object (same size and sha256) was there already.
	Skipped bool `json:"skipped,omitempty"`
}

// JobResult is what a finished Job returns: its final status.
type JobResult = JobStatus

// PipelineInput starts a Pipeline workflow; it is the validated spec. Exactly one of
// Video, Template and Source is set.
type PipelineInput struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Video is a v3 POST /v3/videos body, passed through.
	Video map[string]any `json:"video,omitempty"`
	// Template renders a v3 template instead.
	Template *TemplateSource `json:"template,omitempty"`
	// Source skips the render: an existing video to translate.
	Source *VideoSource `json:"source,omitempty"`
	// Translate, when set, translates the video into each language, in parallel.
	Translate *Translate `json:"translate,omitempty"`
	// Deliver, when set, copies every output to a bucket.
	Deliver *Deliver `json:"deliver,omitempty"`
	// Notify, when set, posts a signed summary at the end.
	Notify   *Notify  `json:"notify,omitempty"`
	Timeouts Timeouts `json:"timeouts,omitempty"`
	// FailFast fails the whole pipeline, cancelling the rest, at the first failed step.
	// Without it only a failed render fails the pipeline.
	FailFast bool `json:"fail_fast,omitempty"`
	// Schedule ranks the pipeline's Jobs at the account scheduler, and sets Temporal's
	// Priority on the Pipeline, its Jobs and their activities.
	Schedule Schedule `json:"schedule,omitzero"`
	// Retry is the re-render budget of the render and of each translation.
	Retry *Retry `json:"retry,omitempty"`
	// Fresh, on a rerun, renders again a step that completed in an earlier run but whose
	// spec has changed since. Without it such a step fails the pipeline before anything
	// runs; unchanged completed steps are reused either way.
	Fresh bool `json:"fresh,omitempty"`
}

// TemplateSource is a POST /v3/templates/{id} call.
type TemplateSource struct {
	ID string `json:"id"`
	// Body is the call's body (variables, title, caption ...), passed through.
	Body map[string]any `json:"body,omitempty"`
}

// VideoSource is an existing video.
type VideoSource struct {
	URL string `json:"url"`
}

// Translate says which translations to make.
type Translate struct {
	// Languages are HeyGen output language names, such as "Spanish (Spain)".
	Languages []string `json:"languages"`
	// Mode is speed or precision; HeyGen's default when empty.
	Mode string `json:"mode,omitempty"`
	// Captions asks for caption files (SRT and VTT), which are delivered too.
	Captions bool `json:"captions,omitempty"`
}

// Deliver says where outputs go.
type Deliver struct {
	// To is a gocloud.dev/blob bucket URL: file://, s3://, gs://, azblob://.
	To string `json:"to"`
}

// Notify says whom to tell when the pipeline ends.
type Notify struct {
	URL string `json:"url"`
	// SecretEnv names the environment variable, on the worker, that holds the
	// Standard Webhooks signing secret (whsec_...). The secret itself never enters
	// workflow input or history.
	SecretEnv string `json:"secret_env"`
}

// PipelineStatus is the step table: the answer to a Pipeline's status query.
type PipelineStatus struct {
	ID    string      `json:"id"`
	Title string      `json:"title,omitempty"`
	Stage string      `json:"stage"`
	Steps []JobStatus `json:"steps"`
}

// Running reports whether the row's Job may still change state.
func (s JobStatus) Running() bool {
	switch s.State {
	case StateCreating, StateQueued, StatePaused, StateWaiting, StatePolling, StateRunning:
		return true
	}
	return false
}

// WithLive returns the step table with each running Job's row replaced by that Job's
// own state, as its status query answers it (live reports it, by callback_id, or false
// when it cannot). The Pipeline knows when a Job starts and ends, but not whether it
// is waiting for its webhook or polling; the Job does. The CLI's status command queries
// each running Job and merges it in here, so that the Pipeline's history does not grow
// a signal per state change. Rows the Pipeline owns (kind, language, deliveries) keep
// the Pipeline's values.
func (p PipelineStatus) WithLive(live func(callbackID string) (JobStatus, bool)) PipelineStatus {
	steps := make([]JobStatus, len(p.Steps))
	copy(steps, p.Steps)
	for i, row := range steps {
		if !row.Running() || row.CallbackID == "" {
			continue
		}
		js, ok := live(row.CallbackID)
		if !ok {
			continue
		}
		js.Step, js.CallbackID = row.Step, row.CallbackID
		js.Kind = cmp.Or(row.Kind, js.Kind)
		js.Language = cmp.Or(row.Language, js.Language)
		js.Delivered, js.DeliverError = row.Delivered, row.DeliverError
		steps[i] = js
	}
	p.Steps = steps
	return p
}

// PipelineResult is what a finished Pipeline returns. A cancelled pipeline returns it
// as the details of its CanceledError, with Stage StageCancelled.
type PipelineResult struct {
	ID     string      `json:"id"`
	Title  string      `json:"title,omitempty"`
	Render *JobResult  `json:"render,omitempty"`
	Steps  []JobStatus `json:"steps"`
	// Stage is StageDone, StageFailed or StageCancelled (empty for render-only
	// pipelines started before multi-step pipelines existed).
	Stage string `json:"stage,omitempty"`
}

// NotifyPayload is the JSON body of the notification, shaped as Standard Webhooks
// suggest: a type, a timestamp and the data.
type NotifyPayload struct {
	// Type is "pipeline.completed" or "pipeline.failed".
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      PipelineResult `json:"data"`
}

// Priorities, Temporal's convention: 1 is the most urgent, 5 the least, 3 the default.
const (
	PriorityHighest = 1
	PriorityDefault = 3
	PriorityLowest  = 5
)

// Schedule is how a pipeline and its Jobs are ranked for the account's HeyGen slots.
// Zero fields take the defaults: priority 3, the pipeline's ID as fairness key (a
// --rows campaign's rows all get the spec's id), weight 1, and no budget.
type Schedule struct {
	// Priority is 1 (most urgent) to 5; 0 is the default, 3.
	Priority int `json:"priority,omitempty"`
	// FairnessKey is the key slots rotate between within one priority.
	FairnessKey string `json:"fairness_key,omitempty"`
	// FairnessWeight is the key's share relative to the others; 0 is 1.
	FairnessWeight float64 `json:"fairness_weight,omitempty"`
	// Campaign is the spec's id of a --rows campaign; "" for a one-off pipeline.
	Campaign string `json:"campaign,omitempty"`
	// Budget, above 0, caps how many HeyGen jobs (renders plus translations) the
	// campaign may start; past it, its Jobs wait as over budget.
	Budget int `json:"budget,omitempty"`
}

// Retry is a spec's re-render budget.
type Retry struct {
	// Renders is how many times a failed render (or translation) is created again.
	Renders int `json:"renders,omitempty"`
}
