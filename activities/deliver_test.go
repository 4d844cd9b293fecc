package activities_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// stubHeyGen answers status calls with links to a file host, and records them.
type stubHeyGen struct {
	mu       sync.Mutex
	host     string // the file host's base URL
	token    string // the token of fresh links
	statuses []string
}

func (s *stubHeyGen) record(call string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = append(s.statuses, call)
	return s.host + "/files/%s?token=" + s.token
}

func (s *stubHeyGen) calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.statuses...)
}

func (s *stubHeyGen) CreateVideo(context.Context, heygen.CreateVideoRequest) (heygen.CreatedVideo, error) {
	return heygen.CreatedVideo{}, errors.New("not used")
}

func (s *stubHeyGen) GetVideo(_ context.Context, id string) (heygen.Video, error) {
	f := s.record("GetVideo " + id)
	return heygen.Video{ID: id, Status: heygen.StatusCompleted,
		VideoURL: fmt.Sprintf(f, "video.mp4"), ThumbnailURL: fmt.Sprintf(f, "thumb.jpg")}, nil
}

func (s *stubHeyGen) CreateTemplateVideo(context.Context, string, heygen.CreateVideoRequest) (heygen.CreatedVideo, error) {
	return heygen.CreatedVideo{}, errors.New("not used")
}

func (s *stubHeyGen) CreateTranslation(context.Context, heygen.CreateTranslationRequest) ([]string, error) {
	return nil, errors.New("not used")
}

func (s *stubHeyGen) CurrentUser(context.Context) (heygen.User, error) {
	return heygen.User{}, errors.New("not used")
}

// VideoStatuses and TranslationStatuses are unused: Deliver reads single jobs.
func (s *stubHeyGen) VideoStatuses(context.Context, []string) ([]heygen.StatusEntry, error) {
	return nil, errors.New("not used")
}

func (s *stubHeyGen) TranslationStatuses(context.Context, []string) ([]heygen.StatusEntry, error) {
	return nil, errors.New("not used")
}

func (s *stubHeyGen) GetTranslation(_ context.Context, id string) (heygen.Translation, error) {
	f := s.record("GetTranslation " + id)
	return heygen.Translation{ID: id, Status: heygen.StatusCompleted, VideoURL: fmt.Sprintf(f, "video.mp4"),
		SRTCaptionURL: fmt.Sprintf(f, "captions.srt"), VTTCaptionURL: fmt.Sprintf(f, "captions.vtt")}, nil
}

// fileHost serves files whose links carry a token; a stale token gets 403, as an
// expired presigned link does.
type fileHost struct {
	files map[string][]byte
	valid atomic.Value // the token that works
	gets  atomic.Int32
}

func (h *fileHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.gets.Add(1)
	if r.URL.Query().Get("token") != h.valid.Load().(string) {
		http.Error(w, "Request has expired", http.StatusForbidden)
		return
	}
	b, ok := h.files[filepath.Base(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Content-Type", "video/mp4")
	_, _ = w.Write(b)
}

type deliverFixture struct {
	env     *testsuite.TestActivityEnvironment
	a       *activities.Activities
	host    *fileHost
	hostURL string
	hg      *stubHeyGen
	bucket  string // file:// URL
	dir     string
	video   []byte
}

func newDeliverFixture(t *testing.T) *deliverFixture {
	t.Helper()
	video := make([]byte, 3<<20+17) // a few MB, not a multiple of any buffer size
	_, _ = rand.Read(video)
	host := &fileHost{files: map[string][]byte{"video.mp4": video, "thumb.jpg": []byte("jpeg"), "captions.srt": []byte("1\n00:00 --> 00:01\nHola\n")}}
	host.valid.Store("fresh")
	srv := httptest.NewServer(host)
	t.Cleanup(srv.Close)
	hg := &stubHeyGen{host: srv.URL, token: "fresh"}
	dir := t.TempDir()
	a := activities.New(hg, activities.WithHTTPClient(srv.Client()), activities.WithSpoolDir(t.TempDir()))
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return &deliverFixture{env: env, a: a, host: host, hostURL: srv.URL, hg: hg, bucket: "file://" + dir, dir: dir, video: video}
}

func (f *deliverFixture) deliver(t *testing.T, in activities.DeliverInput) (activities.DeliverResult, error) {
	t.Helper()
	val, err := f.env.ExecuteActivity(f.a.Deliver, in)
	if err != nil {
		return activities.DeliverResult{}, err
	}
	var res activities.DeliverResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestDeliverStreamsAndHashes(t *testing.T) {
	f := newDeliverFixture(t)
	in := activities.DeliverInput{To: f.bucket, Key: "welcome-42/render/video.mp4", URL: f.hostURL + "/files/video.mp4?token=fresh",
		Output: activities.OutputVideo, Kind: activities.KindVideo, HeyGenJobID: "v_1"}

	res, err := f.deliver(t, in)
	require.NoError(t, err)
	assert.Equal(t, int64(len(f.video)), res.Size)
	assert.Equal(t, sha(f.video), res.SHA256)
	assert.False(t, res.Skipped)
	assert.False(t, res.Refreshed)
	assert.Equal(t, f.bucket+"/welcome-42/render/video.mp4", res.URL)
	got, err := os.ReadFile(filepath.Join(f.dir, "welcome-42", "render", "video.mp4"))
	require.NoError(t, err)
	assert.Equal(t, sha(f.video), sha(got), "the object holds the bytes the host served")
	assert.Empty(t, f.hg.calls(), "a working link needs no status call")

	// A second delivery finds the same size and sha256 there and writes nothing.
	before, err := os.Stat(filepath.Join(f.dir, "welcome-42", "render", "video.mp4"))
	require.NoError(t, err)
	again, err := f.deliver(t, in)
	require.NoError(t, err)
	assert.True(t, again.Skipped)
	assert.Equal(t, res.SHA256, again.SHA256)
	after, err := os.Stat(filepath.Join(f.dir, "welcome-42", "render", "video.mp4"))
	require.NoError(t, err)
	assert.Equal(t, before.ModTime(), after.ModTime(), "the object was not rewritten")

	// Different bytes under the same key are written over.
	f.host.files["video.mp4"] = []byte("a new cut")
	third, err := f.deliver(t, in)
	require.NoError(t, err)
	assert.False(t, third.Skipped)
	assert.Equal(t, sha([]byte("a new cut")), third.SHA256)
}

func TestDeliverRefreshesAnExpiredLink(t *testing.T) {
	tests := []struct {
		kind, output, file, wantCall string
	}{
		{activities.KindVideo, activities.OutputVideo, "video.mp4", "GetVideo v_1"},
		{activities.KindTemplate, activities.OutputThumbnail, "thumb.jpg", "GetVideo v_1"},
		{activities.KindTranslation, activities.OutputCaptionsSRT, "captions.srt", "GetTranslation v_1"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.output, func(t *testing.T) {
			f := newDeliverFixture(t)
			res, err := f.deliver(t, activities.DeliverInput{To: f.bucket, Key: "p/step/" + tt.file,
				URL: f.hostURL + "/files/" + tt.file + "?token=stale", Output: tt.output, Kind: tt.kind, HeyGenJobID: "v_1"})
			require.NoError(t, err)
			assert.True(t, res.Refreshed)
			assert.Equal(t, sha(f.host.files[tt.file]), res.SHA256)
			assert.Equal(t, []string{tt.wantCall}, f.hg.calls(), "one status call, to the API that made the job")
			assert.EqualValues(t, 2, f.host.gets.Load(), "the stale link, then the fresh one")
		})
	}
}

func TestDeliverWithoutStoredLink(t *testing.T) {
	f := newDeliverFixture(t)
	res, err := f.deliver(t, activities.DeliverInput{To: f.bucket, Key: "p/render/thumbnail.jpg",
		Output: activities.OutputThumbnail, Kind: activities.KindVideo, HeyGenJobID: "v_1"})
	require.NoError(t, err)
	assert.True(t, res.Refreshed)
	assert.Equal(t, int64(4), res.Size)
}

func TestDeliverErrors(t *testing.T) {
	f := newDeliverFixture(t)
	tests := []struct {
		name         string
		in           activities.DeliverInput
		wantType     string
		nonRetryable bool
		wantMsg      string
	}{
		{
			name:     "the job has no such output",
			in:       activities.DeliverInput{To: f.bucket, Key: "p/x/c.vtt", Output: activities.OutputCaptionsVTT, Kind: activities.KindVideo, HeyGenJobID: "v_1"},
			wantType: activities.ErrTypeDeliverInvalid, nonRetryable: true, wantMsg: "has no captions_vtt output",
		},
		{
			name:     "a bucket scheme without a driver",
			in:       activities.DeliverInput{To: "ftp://host/dir", Key: "p/x/v.mp4", URL: f.hostURL + "/files/video.mp4?token=fresh", Output: activities.OutputVideo},
			wantType: activities.ErrTypeDeliverInvalid, nonRetryable: true, wantMsg: "open bucket ftp://host/dir",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.deliver(t, tt.in)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %v", err)
			assert.Equal(t, tt.wantType, appErr.Type())
			assert.Equal(t, tt.nonRetryable, appErr.NonRetryable())
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.NotContains(t, err.Error(), "token=", "presigned links stay out of errors")
		})
	}

	// A host that refuses even the fresh link: a retryable error, after one refresh.
	f.host.valid.Store("other")
	_, err := f.deliver(t, activities.DeliverInput{To: f.bucket, Key: "p/x/v.mp4", URL: f.hostURL + "/files/video.mp4?token=stale",
		Output: activities.OutputVideo, Kind: activities.KindVideo, HeyGenJobID: "v_1"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %v", err)
	assert.Equal(t, activities.ErrTypeDownload, appErr.Type())
	assert.False(t, appErr.NonRetryable())
	assert.Contains(t, err.Error(), "HTTP 403")
	assert.NotContains(t, err.Error(), "token=")
	assert.Equal(t, []string{"GetVideo v_1"}, f.hg.calls()[len(f.hg.calls())-1:])
	_, statErr := os.Stat(filepath.Join(f.dir, "p", "x", "v.mp4"))
	assert.True(t, os.IsNotExist(statErr), "nothing is written for a failed download")
}

// notifyEndpoint records notifications and answers with the statuses in order.
type notifyEndpoint struct {
	mu       sync.Mutex
	statuses []int
	got      []*http.Request
	bodies   [][]byte
}

func (n *notifyEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, r)
	n.bodies = append(n.bodies, b)
	status := n.statuses[min(len(n.got)-1, len(n.statuses)-1)]
	w.WriteHeader(status)
}

const notifyKey = "a test key of 32 bytes, exactly!"

func notifySecret() string { return "whsec_" + base64.StdEncoding.EncodeToString([]byte(notifyKey)) }

func newNotifyEnv(t *testing.T, ep *notifyEndpoint, env map[string]string) (*testsuite.TestActivityEnvironment, *activities.Activities, string) {
	t.Helper()
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	now := time.Unix(1_760_000_000, 0)
	a := activities.New(&stubHeyGen{}, activities.WithHTTPClient(srv.Client()),
		activities.WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }),
		activities.WithClock(func() time.Time { return now }))
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	e := s.NewTestActivityEnvironment()
	e.RegisterActivity(a)
	return e, a, srv.URL
}

func TestNotifySignsTheStandardWebhooksWay(t *testing.T) {
	ep := &notifyEndpoint{statuses: []int{http.StatusNoContent}}
	env, a, url := newNotifyEnv(t, ep, map[string]string{"REELFLOW_NOTIFY_SECRET": notifySecret()})
	body := []byte(`{"type":"pipeline.completed","data":{"id":"welcome-42"}}`)

	val, err := env.ExecuteActivity(a.Notify, activities.NotifyInput{URL: url + "/hooks", SecretEnv: "REELFLOW_NOTIFY_SECRET",
		WebhookID: "msg_abc", Body: body})
	require.NoError(t, err)
	var res activities.NotifyResult
	require.NoError(t, val.Get(&res))
	assert.Equal(t, http.StatusNoContent, res.StatusCode)

	require.Len(t, ep.got, 1)
	r := ep.got[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "msg_abc", r.Header.Get("webhook-id"))
	assert.Equal(t, "1760000000", r.Header.Get("webhook-timestamp"))
	assert.Equal(t, body, ep.bodies[0], "the body goes out byte for byte")

	// The wire format, computed here from the Standard Webhooks spec, not by the signer.
	mac := hmac.New(sha256.New, []byte(notifyKey))
	mac.Write([]byte("msg_abc.1760000000." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	assert.Equal(t, want, r.Header.Get("webhook-signature"))
	assert.NotContains(t, r.Header.Get("webhook-signature"), notifyKey)

	// And a receiver that verifies with the reference library accepts it (the clock is
	// the test's, so the timestamp's age is not checked), and refuses it under another
	// key or for another body.
	wh, err := standardwebhooks.NewWebhook(notifySecret())
	require.NoError(t, err)
	assert.NoError(t, wh.VerifyIgnoringTimestamp(ep.bodies[0], r.Header))
	assert.Error(t, wh.VerifyIgnoringTimestamp([]byte(`{"type":"pipeline.failed"}`), r.Header))
	other, err := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("another key")))
	require.NoError(t, err)
	assert.Error(t, other.VerifyIgnoringTimestamp(ep.bodies[0], r.Header))
}

func TestNotifyErrors(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		env          map[string]string
		wantType     string
		nonRetryable bool
		wantMsg      string
	}{
		{"500 is retried", http.StatusInternalServerError, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRejected, false, "HTTP 500"},
		{"410 stops at once", http.StatusGone, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRefused, true, "HTTP 410"},
		{"400 stops at once", http.StatusBadRequest, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRefused, true, "HTTP 400"},
		{"401 stops at once", http.StatusUnauthorized, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRefused, true, "HTTP 401"},
		{"404 stops at once", http.StatusNotFound, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRefused, true, "HTTP 404"},
		{"408 is retried", http.StatusRequestTimeout, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRejected, false, "HTTP 408"},
		{"409 is retried", http.StatusConflict, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRejected, false, "HTTP 409"},
		{"425 is retried", http.StatusTooEarly, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRejected, false, "HTTP 425"},
		{"429 is retried", http.StatusTooManyRequests, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRejected, false, "HTTP 429"},
		{"503 is retried", http.StatusServiceUnavailable, map[string]string{"S": notifySecret()}, activities.ErrTypeNotifyRejected, false, "HTTP 503"},
		{"secret missing on the worker", http.StatusOK, nil, activities.ErrTypeNotifyConfig, true, "environment variable S is not set on the worker"},
		{"not a whsec_ secret", http.StatusOK, map[string]string{"S": "hunter2"}, activities.ErrTypeNotifyConfig, true, "secret does not start with whsec_"},
		{"whsec_ without base64", http.StatusOK, map[string]string{"S": "whsec_!!!"}, activities.ErrTypeNotifyConfig, true, "secret is not whsec_ followed by base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &notifyEndpoint{statuses: []int{tt.status}}
			env, a, url := newNotifyEnv(t, ep, tt.env)
			_, err := env.ExecuteActivity(a.Notify, activities.NotifyInput{URL: url, SecretEnv: "S", WebhookID: "msg_1", Body: []byte(`{}`)})
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %v", err)
			assert.Equal(t, tt.wantType, appErr.Type())
			assert.Equal(t, tt.nonRetryable, appErr.NonRetryable())
			assert.Contains(t, err.Error(), tt.wantMsg)
			if tt.env != nil {
				assert.NotContains(t, err.Error(), tt.env["S"], "the secret stays out of errors")
			}
		})
	}
}

func TestNotifyWebhookIDStableAcrossRetries(t *testing.T) {
	ep := &notifyEndpoint{statuses: []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusOK}}
	env, a, url := newNotifyEnv(t, ep, map[string]string{"S": notifySecret()})
	in := activities.NotifyInput{URL: url, SecretEnv: "S", WebhookID: "msg_stable", Body: []byte(`{"a":1}`)}
	for range 2 {
		_, err := env.ExecuteActivity(a.Notify, in)
		require.Error(t, err)
	}
	_, err := env.ExecuteActivity(a.Notify, in)
	require.NoError(t, err)
	require.Len(t, ep.got, 3)
	for _, r := range ep.got {
		assert.Equal(t, "msg_stable", r.Header.Get("webhook-id"))
	}
}
