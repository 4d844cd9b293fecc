package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
)

// KindVideo is the value of workflows.KindVideo: POST /v3/videos, GET /v3/videos/{id}.
// Kinds travel as plain strings because workflows imports this package (for method
// values), so this package cannot import workflows; a test pins the two together.
const KindVideo = "video"

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
	// workflow sets it to its callback_id plus its run ID: see CreateJob.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// CreateJobResult is the HeyGen job that CreateJob started.
type CreateJobResult struct {
	// HeyGenJobID is HeyGen's ID of the job (a video_id for KindVideo).
	HeyGenJobID string `json:"heygen_job_id"`
	// Status is the job's status as the create call reported it.
	Status heygen.Status `json:"status,omitempty"`
}

// CreateJob starts a HeyGen job, sending CallbackID as the callback_id.
//
// The Idempotency-Key (IdempotencyKey, else CallbackID) is stable across retries of this
// activity and across worker crashes. When a create call fails ambiguously (a timeout
// after HeyGen accepted the job, a lost response), the retry carries the same key, and
// HeyGen replays the original answer instead of rendering, and billing, a second video.
// A duplicate that is still in flight gets 409 request_in_progress, which the heygen
// client classes as retryable, so the next attempt picks up the first one's answer.
// HeyGen remembers keys for 24 h, which is why the Job workflow adds its run ID: a new
// run of a failed job must render anew, not be handed the failed video again.
func (a *Activities) CreateJob(ctx context.Context, in CreateJobInput) (CreateJobResult, error) {
	switch in.Kind {
	case KindVideo:
		v, err := a.heygen.CreateVideo(ctx, heygen.CreateVideoRequest{
			Body:           in.Body,
			CallbackID:     in.CallbackID,
			CallbackURL:    in.CallbackURL,
			IdempotencyKey: idempotencyKey(in),
		})
		if err != nil {
			return CreateJobResult{}, applicationError("create video", err)
		}
		activity.GetLogger(ctx).Info("heygen job created",
			"CallbackID", in.CallbackID, "HeyGenJobID", v.VideoID, "RequestID", v.RequestID)
		return CreateJobResult{HeyGenJobID: v.VideoID, Status: heygen.NormaliseStatus(string(v.Status))}, nil
	default:
		return CreateJobResult{}, unknownKind(in.Kind)
	}
}

// PollJobInput asks for a HeyGen job's status.
type PollJobInput struct {
	// Kind selects the HeyGen status API: the string value of a workflows.JobKind.
	Kind string `json:"kind"`
	// HeyGenJobID is HeyGen's ID of the job.
	HeyGenJobID string `json:"heygen_job_id"`
}

// PollJobResult is a HeyGen job's status, normalised across APIs.
type PollJobResult struct {
	// Status is the normalised status; Terminal() says whether it can still change.
	Status heygen.Status `json:"status"`
	// VideoURL is the presigned URL of the rendered file; it expires.
	VideoURL string `json:"video_url,omitempty"`
	// ThumbnailURL is the presigned URL of the thumbnail.
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
	// CaptionURL is the URL of the subtitle file, when captions were asked for.
	CaptionURL string `json:"caption_url,omitempty"`
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
func (a *Activities) PollJob(ctx context.Context, in PollJobInput) (PollJobResult, error) {
	switch in.Kind {
	case KindVideo:
		v, err := a.heygen.GetVideo(ctx, in.HeyGenJobID)
		if err != nil {
			return PollJobResult{}, applicationError("get video "+in.HeyGenJobID, err)
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
	default:
		return PollJobResult{}, unknownKind(in.Kind)
	}
}

// maxIdempotencyKey is the longest Idempotency-Key HeyGen accepts.
const maxIdempotencyKey = 255

// idempotencyKey returns the key for in. A key past HeyGen's limit is replaced by its
// SHA-256, which is as stable across retries as the key itself.
func idempotencyKey(in CreateJobInput) string {
	key := in.IdempotencyKey
	if key == "" {
		key = in.CallbackID
	}
	if len(key) > maxIdempotencyKey {
		sum := sha256.Sum256([]byte(key))
		return hex.EncodeToString(sum[:])
	}
	return key
}

func unknownKind(k string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown job kind %q", k), ErrUnknownJobKind, nil)
}
