// Package activities holds reelflow's Temporal activities: the only code that talks to
// HeyGen, to file hosts and buckets, and to the user's notification endpoint.
// Activities are methods on Activities, whose dependencies come in through New.
//
// Rules of the package:
//   - Every activity takes one Input struct and returns one Result struct, both with
//     JSON tags, so that they can grow without breaking workflows in flight.
//   - Every HeyGen error leaves an activity as a temporal.ApplicationError whose type is a
//     heygen.ErrorKind name, so that retry policies decide by type: permanent errors are
//     non-retryable, and a 429 carries HeyGen's Retry-After as the next retry delay.
//   - Messages never contain API keys, secrets or signatures.
package activities

import (
	"context"
	"net/http"
	"os"
	"time"

	"gocloud.dev/blob"

	"github.com/reelflow/reelflow/heygen"
)

// HeyGen is the part of *heygen.Client the activities use: a create call and a status
// call for each job kind, and the bulk status calls that polls share (see batcher.go).
// balanceSource reads the account's balance (see credit.go).
type HeyGen interface {
	statusSource
	balanceSource
	CreateVideo(ctx context.Context, req heygen.CreateVideoRequest) (heygen.CreatedVideo, error)
	GetVideo(ctx context.Context, videoID string) (heygen.Video, error)
	CreateTemplateVideo(ctx context.Context, templateID string, req heygen.CreateVideoRequest) (heygen.CreatedVideo, error)
	CreateTranslation(ctx context.Context, req heygen.CreateTranslationRequest) ([]string, error)
	GetTranslation(ctx context.Context, id string) (heygen.Translation, error)
}

// BucketOpener opens a gocloud.dev/blob bucket by URL. The caller closes the bucket.
type BucketOpener func(ctx context.Context, bucketURL string) (*blob.Bucket, error)

// Activities carries the dependencies of reelflow's activities. Its exported methods are
// the activities; workflows call them through a nil *Activities, by method value.
type Activities struct {
	heygen     HeyGen
	http       *http.Client // downloads and notifications
	openBucket BucketOpener
	lookupEnv  func(string) (string, bool)
	now        func() time.Time
	spoolDir   string
	// statusWindow is the bulk status batch window; zero or less turns batching off.
	statusWindow time.Duration
	// videoStatuses and translationStatuses batch PollJob's bulk status calls; nil
	// when batching is off.
	videoStatuses       *batcher
	translationStatuses *batcher
	// account is the HeyGen account's scheduling configuration (scheduler.go).
	account Account
}

// Option configures Activities.
type Option func(*Activities)

// WithHTTPClient sets the client that downloads outputs and posts notifications. It
// should have no overall Timeout, since a download of a large video takes long;
// activities bound each request by their context and an idle timeout.
func WithHTTPClient(c *http.Client) Option { return func(a *Activities) { a.http = c } }

// WithBucketOpener replaces OpenBucket, the default way Deliver opens buckets.
func WithBucketOpener(o BucketOpener) Option { return func(a *Activities) { a.openBucket = o } }

// WithLookupEnv replaces os.LookupEnv, through which Notify reads its signing secret.
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(a *Activities) { a.lookupEnv = f }
}

// WithClock replaces time.Now, for the webhook-timestamp of notifications.
func WithClock(now func() time.Time) Option { return func(a *Activities) { a.now = now } }

// WithSpoolDir sets the directory where Deliver spools a download while it hashes it;
// os.TempDir() when empty. It needs room for the largest output.
func WithSpoolDir(dir string) Option { return func(a *Activities) { a.spoolDir = dir } }

// WithStatusBatchWindow sets how long PollJob gathers concurrent polls into one bulk
// status call (DefaultStatusBatchWindow). Zero or less turns bulk polling off: every
// poll is then a single GET, as a worker with one job in flight would do anyway.
func WithStatusBatchWindow(d time.Duration) Option {
	return func(a *Activities) { a.statusWindow = d }
}

// New returns Activities that call HeyGen through h.
func New(h HeyGen, opts ...Option) *Activities {
	a := &Activities{
		heygen:     h,
		openBucket: OpenBucket,
		lookupEnv:  os.LookupEnv,
		now:        time.Now,
		// Set before the options, so that WithStatusBatchWindow(0) can turn it off.
		statusWindow: DefaultStatusBatchWindow,
	}
	for _, o := range opts {
		o(a)
	}
	if a.statusWindow > 0 && h != nil {
		a.videoStatuses = newBatcher(h.VideoStatuses, a.statusWindow)
		a.translationStatuses = newBatcher(h.TranslationStatuses, a.statusWindow)
	}
	if a.http == nil {
		a.http = defaultHTTPClient()
	}
	return a
}

// defaultHTTPClient waits at most 30 s for response headers, and has no overall
// timeout: a download's length depends on the file, and the activity's context and
// the idle timeout end one that stalls.
func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t}
}
