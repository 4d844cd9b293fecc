package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// The outputs of a job that Deliver copies. Each names a link of the job's status.
const (
	OutputVideo       = "video"
	OutputThumbnail   = "thumbnail"
	OutputCaptionsSRT = "captions_srt"
	OutputCaptionsVTT = "captions_vtt"
)

// OutputFile is how an output is delivered: as <Base>.<Ext>, Ext being the link's own
// extension when it has a plausible one.
type OutputFile struct {
	Output, Base, Ext string
}

// Outputs lists a job's outputs in the order they are delivered: the video, then the
// thumbnail and the captions. OutputLink says which link of a status each is.
func Outputs() []OutputFile {
	return []OutputFile{
		{OutputVideo, "video", "mp4"},
		{OutputThumbnail, "thumbnail", "jpg"},
		{OutputCaptionsSRT, "captions", "srt"},
		{OutputCaptionsVTT, "captions", "vtt"},
	}
}

// Blob metadata keys Deliver writes. gocloud lowercases metadata keys.
const (
	metaSHA256 = "sha256"
	metaSource = "reelflow-source"
)

// downloadIdleTimeout ends a download that has received nothing for this long, so that
// a stalled file host fails the attempt instead of holding it until StartToClose.
const downloadIdleTimeout = time.Minute

// heartbeatEvery spaces heartbeats while bytes flow; the SDK throttles them further.
const heartbeatEvery = 5 * time.Second

// DeliverInput copies one output of a finished job to a bucket.
type DeliverInput struct {
	// To is the bucket URL: file://, s3://, gs:// or azblob://.
	To string `json:"to"`
	// Key is the object key, "<pipeline id>/<step>/<name>.<ext>".
	Key string `json:"key"`
	// URL is the link the job reported for the output. It may have expired; it may be
	// empty, in which case a status call supplies it.
	URL string `json:"url,omitempty"`
	// Output is which output this is (OutputVideo ...), to find it in a fresh status.
	Output string `json:"output"`
	// Kind and HeyGenJobID name the job, for a status call with fresh links.
	Kind        string `json:"kind"`
	HeyGenJobID string `json:"heygen_job_id"`
}

// DeliverResult is the object Deliver wrote, or found there already.
type DeliverResult struct {
	Key string `json:"key"`
	// URL is the object's address: the bucket URL with the key appended to its path.
	URL         string `json:"url"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type,omitempty"`
	// Skipped is true when the bucket already held the same bytes (same size and
	// sha256), so nothing was written.
	Skipped bool `json:"skipped,omitempty"`
	// Refreshed is true when the stored link had expired and a status call gave a new one.
	Refreshed bool `json:"refreshed,omitempty"`
}

// Deliver streams one output of a HeyGen job into a bucket and records its size and
// sha256. It opens the bucket by URL through the gocloud.dev drivers the binary
// registers (cmd/reelflow: file, s3, gs, azblob); a scheme with no driver is
// ErrTypeDeliverInvalid.
//
// The download is spooled to a temporary file (never held in memory) while it is
// hashed, because the hash must be known before the object is written: it goes into
// the object's metadata, which is fixed when a write starts. With the hash known,
// Deliver is idempotent: an object already there with the same size and sha256 is left
// alone and reported as skipped, so a retry or a re-run writes nothing twice. Every
// bucket driver commits an object only when its write completes, so a half-written
// object is never mistaken for a delivered one.
//
// HeyGen's links expire (the video does not): when the file host answers 403, 404 or
// 410, Deliver asks HeyGen for the job's status, which carries fresh links, and
// downloads again.
func (a *Activities) Deliver(ctx context.Context, in DeliverInput) (DeliverResult, error) {
	if in.Key == "" || in.Output == "" {
		return DeliverResult{}, temporal.NewNonRetryableApplicationError("deliver: key and output are required", ErrTypeDeliverInvalid, nil)
	}
	bucket, err := a.openBucket(ctx, in.To)
	if err != nil {
		return DeliverResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("open bucket %s: %v", redactURL(in.To), err), ErrTypeDeliverInvalid, nil)
	}
	defer bucket.Close()

	spool, err := os.CreateTemp(a.spoolDir, "reelflow-deliver-*")
	if err != nil {
		return DeliverResult{}, temporal.NewApplicationErrorWithCause("spool download", ErrTypeUpload, err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()

	dl, err := a.download(ctx, in, spool)
	if err != nil {
		return DeliverResult{}, err
	}
	res := DeliverResult{Key: in.Key, URL: objectURL(in.To, in.Key), Size: dl.size, SHA256: dl.sha256,
		ContentType: dl.contentType, Refreshed: dl.refreshed}

	attrs, err := bucket.Attributes(ctx, in.Key)
	switch {
	case err == nil && attrs.Size == dl.size && attrs.Metadata[metaSHA256] == dl.sha256:
		res.Skipped = true
		activity.GetLogger(ctx).Info("output already delivered", "Key", in.Key, "Size", dl.size, "SHA256", dl.sha256)
		return res, nil
	case err != nil && gcerrors.Code(err) != gcerrors.NotFound:
		return DeliverResult{}, temporal.NewApplicationErrorWithCause("read attributes of "+in.Key, ErrTypeUpload, err)
	}

	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return DeliverResult{}, temporal.NewApplicationErrorWithCause("rewind spool", ErrTypeUpload, err)
	}
	if err := a.upload(ctx, bucket, in, dl, spool); err != nil {
		return DeliverResult{}, err
	}
	activity.GetLogger(ctx).Info("output delivered", "Key", in.Key, "Size", dl.size, "SHA256", dl.sha256, "Refreshed", dl.refreshed)
	return res, nil
}

// downloaded describes a spooled download.
type downloaded struct {
	size        int64
	sha256      string
	contentType string
	refreshed   bool
}

// download fetches the output into w, hashing it, and fetches a fresh link once when
// the stored one has expired (or was never known).
func (a *Activities) download(ctx context.Context, in DeliverInput, w io.Writer) (downloaded, error) {
	link := in.URL
	refreshed := false
	if link == "" {
		fresh, err := a.freshLink(ctx, in)
		if err != nil {
			return downloaded{}, err
		}
		link, refreshed = fresh, true
	}
	for {
		dl, status, err := a.fetch(ctx, link, w)
		if err == nil {
			dl.refreshed = refreshed
			return dl, nil
		}
		if !refreshed && expired(status) && in.HeyGenJobID != "" {
			activity.GetLogger(ctx).Info("stored link expired; fetching a fresh one", "Key", in.Key, "HTTPStatus", status)
			fresh, ferr := a.freshLink(ctx, in)
			if ferr != nil {
				return downloaded{}, ferr
			}
			link, refreshed = fresh, true
			continue
		}
		return downloaded{}, err
	}
}

// expired reports whether a file host's status means the presigned link is stale.
func expired(status int) bool {
	return status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusGone
}

// freshLink reads the job's status and returns the output's current link.
func (a *Activities) freshLink(ctx context.Context, in DeliverInput) (string, error) {
	st, err := a.status(ctx, in.Kind, in.HeyGenJobID)
	if err != nil {
		return "", err
	}
	link := OutputLink(st, in.Output)
	if link == "" {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("heygen job %s has no %s output", in.HeyGenJobID, in.Output), ErrTypeDeliverInvalid, nil)
	}
	return link, nil
}

// OutputLink picks an output's link out of a status: the one place that says which
// link each output is.
func OutputLink(st PollJobResult, output string) string {
	switch output {
	case OutputVideo:
		return st.VideoURL
	case OutputThumbnail:
		return st.ThumbnailURL
	case OutputCaptionsSRT:
		return st.CaptionURL
	case OutputCaptionsVTT:
		return st.VTTCaptionURL
	}
	return ""
}

// fetch GETs link into w. On an HTTP error it returns the status with the error, and w
// is untouched. A failure after bytes were written leaves w dirty; the caller's spool
// belongs to one attempt, and the retry starts a new one.
func (a *Activities) fetch(ctx context.Context, link string, w io.Writer) (downloaded, int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return downloaded{}, 0, temporal.NewNonRetryableApplicationError("bad output link: "+err.Error(), ErrTypeDeliverInvalid, nil)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		// The error names the URL, and a presigned URL is a credential: drop it.
		return downloaded{}, 0, temporal.NewApplicationError("download "+redactURL(link)+": "+unwrapURLError(err).Error(), ErrTypeDownload)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
		return downloaded{}, resp.StatusCode, temporal.NewApplicationError(
			fmt.Sprintf("download %s: HTTP %d", redactURL(link), resp.StatusCode), ErrTypeDownload)
	}

	// An idle timer cancels the request when no byte arrives for downloadIdleTimeout.
	idle := time.AfterFunc(downloadIdleTimeout, func() { cancel(errors.New("download stalled")) })
	defer idle.Stop()
	h := sha256.New()
	pr := &progressReader{ctx: ctx, r: resp.Body, idle: idle, last: time.Now()}
	n, err := io.Copy(io.MultiWriter(w, h), pr)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			err = cause
		}
		return downloaded{}, 0, temporal.NewApplicationError(fmt.Sprintf("download %s after %d bytes: %v", redactURL(link), n, unwrapURLError(err)), ErrTypeDownload)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return downloaded{}, 0, temporal.NewApplicationError(
			fmt.Sprintf("download %s: got %d of %d bytes", redactURL(link), n, resp.ContentLength), ErrTypeDownload)
	}
	return downloaded{size: n, sha256: hex.EncodeToString(h.Sum(nil)), contentType: resp.Header.Get("Content-Type")}, resp.StatusCode, nil
}

// upload writes the spooled download to the bucket, with its hash in the metadata.
func (a *Activities) upload(ctx context.Context, bucket *blob.Bucket, in DeliverInput, dl downloaded, r io.Reader) error {
	// Cancelling wctx before Close aborts the write, so a failed copy leaves no object.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := bucket.NewWriter(wctx, in.Key, &blob.WriterOptions{
		ContentType: dl.contentType,
		Metadata: map[string]string{
			metaSHA256: dl.sha256,
			metaSource: in.Kind + "/" + in.HeyGenJobID + "/" + in.Output,
		},
	})
	if err != nil {
		return temporal.NewApplicationErrorWithCause("write "+in.Key, ErrTypeUpload, err)
	}
	pr := &progressReader{ctx: ctx, r: r, last: time.Now()}
	if _, err := io.Copy(w, pr); err != nil {
		cancel()
		_ = w.Close()
		return temporal.NewApplicationErrorWithCause("write "+in.Key, ErrTypeUpload, err)
	}
	if err := w.Close(); err != nil {
		return temporal.NewApplicationErrorWithCause("write "+in.Key, ErrTypeUpload, err)
	}
	return nil
}

// progressReader heartbeats while bytes flow, so a long copy is not taken for a dead
// worker, and resets the idle timer on every read.
type progressReader struct {
	ctx  context.Context
	r    io.Reader
	idle *time.Timer
	n    int64
	last time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if n > 0 && p.idle != nil {
		p.idle.Reset(downloadIdleTimeout)
	}
	if now := time.Now(); now.Sub(p.last) >= heartbeatEvery {
		p.last = now
		activity.RecordHeartbeat(p.ctx, p.n)
	}
	return n, err
}

// OpenBucket is the default BucketOpener: gocloud.dev/blob's URL opener, with one
// convenience: a file:// bucket's directory is created when missing (create_dir), so
// that "file://./out" works on a fresh checkout.
func OpenBucket(ctx context.Context, bucketURL string) (*blob.Bucket, error) {
	u, err := url.Parse(bucketURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "file" {
		q := u.Query()
		if q.Get("create_dir") == "" {
			q.Set("create_dir", "true")
			u.RawQuery = q.Encode()
		}
	}
	return blob.OpenBucket(ctx, u.String())
}

// objectURL appends key to the bucket URL's path, keeping its query.
func objectURL(bucketURL, key string) string {
	u, err := url.Parse(bucketURL)
	if err != nil {
		return strings.TrimRight(bucketURL, "/") + "/" + key
	}
	u.Path = path.Join("/", u.Path, key)
	return u.String()
}

// redactURL drops the query of a URL, where presigned links keep their signatures.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// unwrapURLError returns the cause of a *url.Error, whose text repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
