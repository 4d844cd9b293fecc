// Package activities holds reelflow's Temporal activities: the only code that talks to
// HeyGen. Activities are methods on Activities, whose dependencies come in through New.
//
// Rules of the package:
//   - Every activity takes one Input struct and returns one Result struct, both with
//     JSON tags, so that they can grow without breaking workflows in flight.
//   - Every HeyGen error leaves an activity as a temporal.ApplicationError whose type is a
//     heygen.ErrorKind name, so that retry policies decide by type: permanent errors are
//     non-retryable, and a 429 carries HeyGen's Retry-After as the next retry delay.
//   - Messages never contain API keys or signatures.
package activities

import (
	"context"

	"github.com/reelflow/reelflow/heygen"
)

// HeyGen is the part of *heygen.Client the activities use.
type HeyGen interface {
	CreateVideo(ctx context.Context, req heygen.CreateVideoRequest) (heygen.CreatedVideo, error)
	GetVideo(ctx context.Context, videoID string) (heygen.Video, error)
}

// Activities carries the dependencies of reelflow's activities. Its exported methods are
// the activities; workflows call them through a nil *Activities, by method value.
type Activities struct {
	heygen HeyGen
}

// Option configures Activities. Later pipeline steps add their dependencies (artifact
// store, notifier) as options, so that New's callers do not change.
type Option func(*Activities)

// New returns Activities that call HeyGen through h.
func New(h HeyGen, opts ...Option) *Activities {
	a := &Activities{heygen: h}
	for _, o := range opts {
		o(a)
	}
	return a
}
