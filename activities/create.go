package activities

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
)

// No render paid for twice: the argument.
//
// A create call can fail after HeyGen made the job: the answer is lost (a closed
// connection, a timeout, a worker killed mid-call). The activity is then retried, and a
// naive retry renders, and bills, a second video. Two independent defences stop that:
//
//  1. The Idempotency-Key (the Job's identity, workflows/identity.go: the callback_id and
//     the run identity that a Reset keeps) is the same on every attempt, across worker
//     crashes and across Resets of the Job or its Pipeline. HeyGen replays the first
//     answer for 24 h, so a retry gets the original video_id. This is the only defence for translations, which have no
//     list endpoint to search.
//  2. HeyGen does not document that every create endpoint honours the key. So every
//     video create (v3 and template) carries a title tag that
//     names the Job run, and every attempt after the first lists the videos whose
//     title contains the tag (GET /v3/videos?title=). A video found there was made by an
//     earlier attempt of this very run: the attempt adopts it and creates nothing.
//
// Either defence alone closes the window in which one of them is blind: a list that does
// not show a video made a moment ago (eventual consistency) still meets the key, and an
// endpoint that ignores the key is still searched. A retry that starts while the first
// attempt is still being served at HeyGen gets 409 request_in_progress (retryable), and
// the attempt after it finds the video by one route or the other.
//
// The tag carries the run identity (a digest of the Idempotency-Key), not only the
// callback_id, so that a deliberate new run of a failed or timed-out step (a pipeline
// started again) never adopts the failed, or stuck, video of the run before it, while a
// Reset, which keeps the identity, still finds its first render. The list is a second defence: when it
// fails, the attempt logs that and creates with the key, the first defence.

// titleTagPrefix starts the tag CreateJob appends to a video's title:
// "[rf:<callback_id>#<8 hex digits>]".
const titleTagPrefix = "[rf:"

// TitleTag returns the tag that CreateJob adds to the title of the video that in makes:
// "[rf:<callback_id>#<first 8 hex digits of the SHA-256 of the Idempotency-Key>]". It is
// deterministic: the same on every attempt and across Resets, which keep the key, and
// different for a deliberate new run. The
// closing bracket keeps "p1/render" from matching "p10/render" in a substring search.
func TitleTag(in CreateJobInput) string {
	sum := sha256.Sum256([]byte(idempotencyKey(in)))
	return titleTagPrefix + in.CallbackID + "#" + hex.EncodeToString(sum[:4]) + "]"
}

// taggedBody returns a copy of the create body whose title carries TitleTag: the user's
// title, a space and the tag, or the tag alone when the body has no title. The user's
// title stays first, so HeyGen's dashboard still reads as the user wrote it. A title that
// already ends in the tag (a body built by an earlier attempt) is left as it is. The
// caller's map is never changed: it belongs to the workflow's history.
func taggedBody(in CreateJobInput) map[string]any {
	tag := TitleTag(in)
	body := maps.Clone(in.Body)
	if body == nil {
		body = map[string]any{}
	}
	title, _ := body["title"].(string)
	title = strings.TrimSpace(title)
	switch {
	case strings.HasSuffix(title, tag):
	case title == "":
		title = tag
	default:
		title += " " + tag
	}
	body["title"] = title
	return body
}

// videoLister is the list call that adoption needs. *heygen.Client has it; a HeyGen
// double without it turns adoption off and leaves the Idempotency-Key alone on guard.
type videoLister interface {
	ListVideos(ctx context.Context, title string) ([]heygen.Video, error)
}

// lookupCreated returns the video that an earlier attempt of this Job run made, found by
// its title tag, and whether there is one. Only video kinds are searched: translations
// have no list endpoint. Rows whose callback_id is set must carry ours; when several
// match (only possible if HeyGen ignored both the key and an earlier lookup), the oldest
// is adopted, deterministically, and the duplicates are logged.
func (a *Activities) lookupCreated(ctx context.Context, in CreateJobInput) (heygen.Video, bool) {
	l, ok := a.heygen.(videoLister)
	if !ok {
		return heygen.Video{}, false
	}
	logger := activity.GetLogger(ctx)
	tag := TitleTag(in)
	videos, err := l.ListVideos(ctx, tag)
	if err != nil {
		logger.Warn("list videos before a retried create failed; creating with the idempotency key",
			"CallbackID", in.CallbackID, "Error", err)
		return heygen.Video{}, false
	}
	var found []heygen.Video
	for _, v := range videos {
		if v.ID != "" && strings.Contains(v.Title, tag) && (v.CallbackID == "" || v.CallbackID == in.CallbackID) {
			found = append(found, v)
		}
	}
	if len(found) == 0 {
		return heygen.Video{}, false
	}
	slices.SortFunc(found, func(x, y heygen.Video) int {
		return cmp.Or(cmp.Compare(x.CreatedAt, y.CreatedAt), strings.Compare(x.ID, y.ID))
	})
	if len(found) > 1 {
		ids := make([]string, len(found))
		for i, v := range found {
			ids[i] = v.ID
		}
		logger.Error("several heygen videos carry one job's title tag; adopting the oldest",
			"CallbackID", in.CallbackID, "VideoIDs", ids)
	}
	return found[0], true
}

// adoptRetried is the first step of a create attempt after the first: when an earlier
// attempt's video exists, it returns that video as the attempt's result.
func (a *Activities) adoptRetried(ctx context.Context, in CreateJobInput) (CreateJobResult, bool) {
	if in.Kind == KindTranslation || activity.GetInfo(ctx).Attempt <= 1 {
		return CreateJobResult{}, false
	}
	v, ok := a.lookupCreated(ctx, in)
	if !ok {
		return CreateJobResult{}, false
	}
	activity.GetLogger(ctx).Info("heygen job adopted: an earlier create attempt made it", "Kind", in.Kind,
		"CallbackID", in.CallbackID, "HeyGenJobID", v.ID, "Attempt", activity.GetInfo(ctx).Attempt)
	return CreateJobResult{HeyGenJobID: v.ID, Status: heygen.NormaliseStatus(string(v.Status)), Adopted: true}, true
}

// createFailed is the error of a failed create call: createError's, except for a
// request HeyGen refused for what is in it (refusedInput), the spec's own problem such
// as an unknown avatar or an unsupported language. That one is logged here, once, as a
// warning with HeyGen's message, and the error is marked benign, so that the SDK logs it
// at debug rather than as an activity ERROR with a stack trace. It stays non-retryable,
// and the Job still fails with HeyGen's message.
func createFailed(ctx context.Context, op string, err error) error {
	var ae *heygen.APIError
	if !errors.As(err, &ae) || ae.Kind != heygen.KindPermanent || !refusedInput(ae.Status) {
		return createError(op, err)
	}
	activity.GetLogger(ctx).Warn("HeyGen refused the request; check the spec", "Op", op,
		"Status", ae.Status, "Code", ae.Code, "Message", ae.Message, "Param", ae.Param, "RequestID", ae.RequestID)
	return temporal.NewApplicationErrorWithOptions(op, ae.Kind.String(), temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Cause:        err,
		Category:     temporal.ApplicationErrorCategoryBenign,
	})
}

// refusedInput reports whether a permanent HeyGen answer is about the request itself
// (400, 404, 422 ...). 401, 402 and 403 are about the key, the credit or the plan: the
// operator's to fix (402 pauses the account: createError), and errors.
func refusedInput(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden:
		return false
	}
	return status >= 400 && status < 500
}
