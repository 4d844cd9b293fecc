package activities

import (
	"cmp"
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
)

// The job kinds, heygen's: workflows.JobKind's constants are defined from them. Kinds
// travel as plain strings because workflows imports this package (for method values),
// so this package cannot import workflows.
const (
	KindVideo       = heygen.JobKindVideo
	KindTemplate    = heygen.JobKindTemplate
	KindTranslation = heygen.JobKindTranslation
)

// CreateJobInput starts a HeyGen job.
type CreateJobInput struct {
	// CallbackID is the Job workflow's ID. HeyGen echoes it in webhooks, and it is the
	// Idempotency-Key of the create call.
	CallbackID string `json:"callback_id"`
	// Kind selects the HeyGen API: the string value of a workflows.JobKind.
	Kind string `json:"kind"`
	// Body is the HeyGen create body, passed through.
	Body map[string]any `json:"body,omitempty"`
	// CallbackURL, when set, is HeyGen's extra (unsigned) delivery URL.
	CallbackURL string `json:"callback_url,omitempty"`
	// IdempotencyKey, when set, replaces CallbackID as the Idempotency-Key. The Job
	// workflow sets it from its identity (workflows/identity.go): the callback_id and the
	// run identity that a Reset keeps, in HeyGen's pattern.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// TemplateID is the template to render, for KindTemplate.
	TemplateID string `json:"template_id,omitempty"`
	// Slot is the scheduler (its workflow ID) whose slot the Job holds; "" for none. On
	// a worker whose account is scheduled, a create without that account's slot creates
	// nothing and answers SlotRequired (scheduler.go).
	Slot string `json:"slot,omitempty"`
}

// CreateJobResult is the HeyGen job that CreateJob started.
type CreateJobResult struct {
	// HeyGenJobID is HeyGen's ID of the job (a video_id for KindVideo).
	HeyGenJobID string `json:"heygen_job_id"`
	// Status is the job's status as the create call reported it.
	Status heygen.Status `json:"status,omitempty"`
	// Adopted is true when a retried attempt found the job an earlier attempt had made
	// (see create.go) and created nothing.
	Adopted bool `json:"adopted,omitempty"`
	// SlotRequired, when set, means nothing was created: the Job must first hold a slot
	// of that scheduler, and create again.
	SlotRequired *SlotRequired `json:"slot_required,omitempty"`
}

// CreateJob starts a HeyGen job, sending CallbackID as the callback_id.
//
// The Idempotency-Key (IdempotencyKey, else CallbackID) is stable across retries of this
// activity and across worker crashes. When a create call fails ambiguously (a timeout
// after HeyGen accepted the job, a lost response), the retry carries the same key, and
// HeyGen replays the original answer instead of rendering, and billing, a second video.
// A duplicate that is still in flight gets 409 request_in_progress, which the heygen
// client classes as retryable, so the next attempt picks up the first one's answer.
// HeyGen remembers keys for 24 h, which is why the Job workflow adds its run identity: a
// deliberate new run of a failed job must render anew, not be handed the failed video
// again, while a Reset, which keeps the identity, must not render twice.
//
// Video kinds also carry a title tag (TitleTag), and an attempt after the first looks
// for the video an earlier attempt made before it creates: see create.go for the
// argument.
//
// On a worker whose account is scheduled (WithAccount), a create that holds no slot of
// the account's scheduler sends nothing and answers SlotRequired: the check sits here,
// on the worker that would call HeyGen, so that a Job never learns the worker's account
// other than from history, and a Job without a limit writes the same history as before.
func (a *Activities) CreateJob(ctx context.Context, in CreateJobInput) (CreateJobResult, error) {
	if req := a.slotRequired(in); req != nil {
		return CreateJobResult{SlotRequired: req}, nil
	}
	if res, ok := a.adoptRetried(ctx, in); ok {
		return res, nil
	}
	body := in.Body
	if in.Kind != KindTranslation {
		body = taggedBody(in)
	}
	req := heygen.CreateVideoRequest{
		Body:           body,
		CallbackID:     in.CallbackID,
		CallbackURL:    in.CallbackURL,
		IdempotencyKey: idempotencyKey(in),
	}
	var (
		v   heygen.CreatedVideo
		err error
		op  string
	)
	switch in.Kind {
	case KindVideo:
		op = "create video"
		v, err = a.heygen.CreateVideo(ctx, req)
	case KindTemplate:
		if in.TemplateID == "" {
			return CreateJobResult{}, temporal.NewNonRetryableApplicationError("template job without a template id", ErrTypeInvalidJob, nil)
		}
		op = "create template video " + in.TemplateID
		v, err = a.heygen.CreateTemplateVideo(ctx, in.TemplateID, req)
	case KindTranslation:
		return a.createTranslation(ctx, in, req)
	default:
		return CreateJobResult{}, unknownKind(in.Kind)
	}
	if err != nil {
		return CreateJobResult{}, createFailed(ctx, op, err)
	}
	activity.GetLogger(ctx).Info("heygen job created", "Kind", in.Kind,
		"CallbackID", in.CallbackID, "HeyGenJobID", v.VideoID, "RequestID", v.RequestID)
	return CreateJobResult{HeyGenJobID: v.VideoID, Status: heygen.NormaliseStatus(string(v.Status))}, nil
}

// createTranslation creates a translation into exactly one language. HeyGen makes one
// translation per output language but takes one callback_id per request, so a request
// with several languages would leave all but one job without its own callback_id.
func (a *Activities) createTranslation(ctx context.Context, in CreateJobInput, req heygen.CreateVideoRequest) (CreateJobResult, error) {
	if langs, ok := in.Body["output_languages"].([]any); !ok || len(langs) != 1 {
		return CreateJobResult{}, temporal.NewNonRetryableApplicationError(
			"a translation job takes exactly one output language", ErrTypeInvalidJob, nil)
	}
	ids, err := a.heygen.CreateTranslation(ctx, heygen.CreateTranslationRequest{
		Body:           req.Body,
		CallbackID:     req.CallbackID,
		CallbackURL:    req.CallbackURL,
		IdempotencyKey: req.IdempotencyKey,
	})
	if err != nil {
		return CreateJobResult{}, createFailed(ctx, "create translation", err)
	}
	if len(ids) != 1 {
		// One language per request, so one ID; anything else is not a job this step owns.
		return CreateJobResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("create translation: HeyGen returned %d translation IDs for one language", len(ids)),
			ErrTypeInvalidJob, nil)
	}
	activity.GetLogger(ctx).Info("heygen job created", "Kind", in.Kind,
		"CallbackID", in.CallbackID, "HeyGenJobID", ids[0])
	return CreateJobResult{HeyGenJobID: ids[0], Status: heygen.StatusPending}, nil
}

// PollJobInput asks for a HeyGen job's status.
type PollJobInput struct {
	// Kind selects the HeyGen status API: the string value of a workflows.JobKind.
	Kind string `json:"kind"`
	// HeyGenJobID is HeyGen's ID of the job.
	HeyGenJobID string `json:"heygen_job_id"`
	// Details asks for the job's full record (URLs, duration, failure message) with one
	// single GET, skipping the bulk status call. The Job sets it when it knows the job
	// is over (a success webhook without its details), where a bulk call would only add
	// a call before the GET.
	Details bool `json:"details,omitempty"`
}

// PollJobResult is a HeyGen job's status, normalised across APIs.
type PollJobResult struct {
	// Status is the normalised status; Terminal() says whether it can still change.
	Status heygen.Status `json:"status"`
	// VideoURL is the presigned URL of the rendered file; it expires.
	VideoURL string `json:"video_url,omitempty"`
	// ThumbnailURL is the presigned URL of the thumbnail.
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
	// CaptionURL is the URL of the subtitle file, when captions were asked for (a
	// translation's SRT file).
	CaptionURL string `json:"caption_url,omitempty"`
	// VTTCaptionURL is a translation's WebVTT caption file.
	VTTCaptionURL string `json:"vtt_caption_url,omitempty"`
	// AudioURL is a translation's audio track.
	AudioURL string `json:"audio_url,omitempty"`
	// CaptionedVideoURL is the URL of the video with burnt-in captions.
	CaptionedVideoURL string `json:"captioned_video_url,omitempty"`
	// Duration is the video's length in seconds.
	Duration float64 `json:"duration,omitempty"`
	// FailureCode is HeyGen's code when Status is failed.
	FailureCode string `json:"failure_code,omitempty"`
	// FailureMessage is HeyGen's explanation when Status is failed.
	FailureMessage string `json:"failure_message,omitempty"`
}

// PollJob reads a HeyGen job's status once. It does not wait: the Job workflow decides
// when to ask again.
//
// A video, template or translation job is read through the shared bulk status call
// (batcher.go), which costs a running job 1/100 of a call per poll at best. The bulk
// row has no URLs, so when it says completed or failed, PollJob reads the job once
// more with a single GET and returns that: one GET per job, at its end. An ID the
// bulk call does not know and a poll with Details set go straight to the single GET.
func (a *Activities) PollJob(ctx context.Context, in PollJobInput) (PollJobResult, error) {
	var (
		b  *batcher
		op string
	)
	switch in.Kind {
	case KindVideo, KindTemplate:
		b, op = a.videoStatuses, "video statuses"
	case KindTranslation:
		b, op = a.translationStatuses, "translation statuses"
	}
	if b == nil || in.Details {
		return a.status(ctx, in.Kind, in.HeyGenJobID)
	}
	e, err := b.status(ctx, in.HeyGenJobID)
	switch {
	case err != nil && heygen.IsPermanent(err) && ctx.Err() == nil:
		// A refused bulk call (a 4xx other than 429) may be one malformed ID spoiling
		// the batch for all: each poll asks alone, which isolates it.
		return a.status(ctx, in.Kind, in.HeyGenJobID)
	case err != nil:
		// A failed bulk call fails every poll that shared it, each retried by its own
		// retry policy according to the error's kind (a 429 carries Retry-After).
		return PollJobResult{}, applicationError(op+" "+in.HeyGenJobID, err)
	}
	switch e.Status {
	case heygen.StatusPending, heygen.StatusProcessing:
		return PollJobResult{Status: e.Status}, nil
	default:
		// completed or failed: fetch the details only the single GET has. not_found
		// (perhaps a bulk index that lags a new job) and any status reelflow does not
		// know: let the single GET decide.
		return a.status(ctx, in.Kind, in.HeyGenJobID)
	}
}

// status is one status call of the API that created the job.
func (a *Activities) status(ctx context.Context, kind, id string) (PollJobResult, error) {
	var (
		v   heygen.Video
		err error
		op  string
	)
	switch kind {
	case KindVideo, KindTemplate:
		op = "get video " + id
		v, err = a.heygen.GetVideo(ctx, id)
	case KindTranslation:
		t, err := a.heygen.GetTranslation(ctx, id)
		if err != nil {
			return PollJobResult{}, applicationError("get translation "+id, err)
		}
		return PollJobResult{
			Status:         heygen.NormaliseStatus(string(t.Status)),
			VideoURL:       t.VideoURL,
			CaptionURL:     t.SRTCaptionURL,
			VTTCaptionURL:  t.VTTCaptionURL,
			AudioURL:       t.AudioURL,
			Duration:       t.Duration,
			FailureMessage: t.FailureMessage,
		}, nil
	default:
		return PollJobResult{}, unknownKind(kind)
	}
	if err != nil {
		return PollJobResult{}, applicationError(op, err)
	}
	return PollJobResult{
		Status:            heygen.NormaliseStatus(string(v.Status)),
		VideoURL:          v.VideoURL,
		ThumbnailURL:      v.ThumbnailURL,
		CaptionURL:        v.SubtitleURL,
		CaptionedVideoURL: v.CaptionedVideoURL,
		Duration:          v.Duration,
		FailureCode:       v.FailureCode,
		FailureMessage:    v.FailureMessage,
	}, nil
}

// idempotencyKey is in's Idempotency-Key: its own, else its callback_id, made one HeyGen
// takes (heygen.IdempotencyKey). The Job always sets its own; the default serves
// direct callers.
func idempotencyKey(in CreateJobInput) string {
	return heygen.IdempotencyKey(cmp.Or(in.IdempotencyKey, in.CallbackID))
}

func unknownKind(k string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown job kind %q", k), ErrTypeUnknownJobKind, nil)
}
