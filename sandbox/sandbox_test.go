package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reelflow/reelflow/heygen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test timing: renders and retries are fast, and every wait is a condition with a deadline.
const (
	testRender = 50 * time.Millisecond
	testRetry  = 10 * time.Millisecond
	waitFor    = 5 * time.Second
	tick       = 5 * time.Millisecond
)

type env struct {
	sb     *Sandbox
	srv    *httptest.Server
	client *heygen.Client
}

// newEnv starts a sandbox behind an httptest server on 127.0.0.1. Every /v3 answer of
// every test is held to HeyGen's published contract: a violation fails the test.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	if cfg.RenderTime == 0 {
		cfg.RenderTime = testRender
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = testRetry
	}
	if cfg.CheckContract == nil {
		cfg.CheckContract = func(v ContractViolation) { t.Errorf("contract violation: %s", v) }
	}
	sb, err := New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, sb.Close())
	})
	return &env{sb: sb, srv: srv, client: heygen.NewClient(srv.URL, cfg.APIKey, srv.Client())}
}

// avatarBody is a valid avatar create body.
// templateBody is the least published template body: variables is required.
func templateBody() map[string]any {
	return map[string]any{"variables": map[string]any{}}
}

func avatarBody(avatarID string) map[string]any {
	return map[string]any{"type": "avatar", "avatar_id": avatarID, "script": "Hello from the sandbox.", "voice_id": "v1"}
}

// receiver is a webhook receiver that records what it gets.
type receiver struct {
	srv    *httptest.Server
	status atomic.Int32 // answer to POSTs; 0 means 200
	hang   atomic.Bool  // hold POSTs until the caller gives up
	mu     sync.Mutex
	got    []delivered
}

type delivered struct {
	body   []byte
	header http.Header
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if rc.hang.Load() {
			<-r.Context().Done()
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, delivered{body: body, header: r.Header.Clone()})
		rc.mu.Unlock()
		if st := rc.status.Load(); st != 0 {
			w.WriteHeader(int(st))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() []delivered {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivered(nil), rc.got...)
}

func (rc *receiver) count() int { return len(rc.received()) }

// postJSON sends a raw request to the sandbox and decodes the answer.
func postJSON(t *testing.T, e *env, path string, body any, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	default:
		var err error
		raw, err = json.Marshal(b)
		require.NoError(t, err)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func getJSON(t *testing.T, e *env, path string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	require.NoError(t, err)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	}
	return resp.StatusCode, resp.Header, out
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, waitFor, tick, msg)
}

func TestCreateIdempotentReplay(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute})
	hdr := map[string]string{"Idempotency-Key": "welcome-42-render"}
	body := avatarBody("a1")
	body["callback_id"] = "welcome-42-render"

	st1, h1, out1 := postJSON(t, e, "/v3/videos", body, hdr)
	st2, h2, out2 := postJSON(t, e, "/v3/videos", body, hdr)
	require.Equal(t, http.StatusOK, st1)
	require.Equal(t, http.StatusOK, st2)
	assert.Equal(t, out1, out2, "a replay returns the original answer")
	data := out1["data"].(map[string]any)
	assert.Equal(t, "waiting", data["status"], "a create answers with HeyGen's initial status")
	assert.Equal(t, "mp4", data["output_format"])
	assert.NotEmpty(t, h1.Get("X-Request-Id"))
	assert.NotEqual(t, h1.Get("X-Request-Id"), h2.Get("X-Request-Id"))
	assert.Equal(t, "true", h2.Get("Idempotent-Replayed"))

	// The client sends callback_id as the key by default: the same job again.
	cv, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "welcome-42-render"})
	require.NoError(t, err)
	assert.Equal(t, data["video_id"], cv.VideoID)
	assert.NotEmpty(t, cv.RequestID)

	// A different key is a different job.
	_, _, out3 := postJSON(t, e, "/v3/videos", body, map[string]string{"Idempotency-Key": "other"})
	assert.NotEqual(t, data["video_id"], out3["data"].(map[string]any)["video_id"])

	st := e.sb.Stats()
	assert.Equal(t, 4, st.CreateRequests)
	assert.Equal(t, 2, st.Creates)
	assert.Equal(t, 2, st.CreatesByCallbackID["welcome-42-render"])
	assert.Len(t, st.Jobs, 2)
}

func TestCreateValidation(t *testing.T) {
	e := newEnv(t, Config{APIKey: "secret-key"})
	key := map[string]string{"X-Api-Key": "secret-key"}
	long := strings.Repeat("é", maxScriptChars+1)
	tests := []struct {
		name   string
		body   any
		hdr    map[string]string
		status int
		code   string
		param  string
	}{
		{"no type", map[string]any{"avatar_id": "a"}, nil, 400, "invalid_parameter", "type"},
		{"bad type", map[string]any{"type": "hologram"}, nil, 400, "invalid_parameter", "type"},
		{"type not a string", map[string]any{"type": 3}, nil, 400, "invalid_parameter", "type"},
		{"no avatar_id", map[string]any{"type": "avatar", "script": "hi", "voice_id": "v"}, nil, 400, "invalid_parameter", "avatar_id"},
		{"no script nor audio", map[string]any{"type": "avatar", "avatar_id": "a"}, nil, 400, "invalid_parameter", "script"},
		{"script without voice", map[string]any{"type": "avatar", "avatar_id": "a", "script": "hi"}, nil, 400, "invalid_parameter", "voice_id"},
		{"script and audio", map[string]any{"type": "avatar", "avatar_id": "a", "script": "hi", "voice_id": "v", "audio_url": "https://x/a.mp3"}, nil, 400, "invalid_parameter", "script"},
		{"script too long", map[string]any{"type": "avatar", "avatar_id": "a", "script": long, "voice_id": "v"}, nil, 400, "invalid_parameter", "script"},
		{"bad output_format", map[string]any{"type": "avatar", "avatar_id": "a", "audio_asset_id": "as", "output_format": "avi"}, nil, 400, "invalid_parameter", "output_format"},
		{"bad callback_url", map[string]any{"type": "avatar", "avatar_id": "a", "audio_url": "https://x/a.mp3", "callback_url": "ftp://x"}, nil, 400, "invalid_parameter", "callback_url"},
		{"key too long", avatarBody("a"), map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, 400, "invalid_parameter", "Idempotency-Key"},
		{"key with a slash", avatarBody("a"), map[string]string{"Idempotency-Key": "welcome-42/render"}, 400, "invalid_parameter", "Idempotency-Key"},
		{"key with an at", avatarBody("a"), map[string]string{"Idempotency-Key": "welcome-42.render@run"}, 400, "invalid_parameter", "Idempotency-Key"},
		{"avatar_id a number", map[string]any{"type": "avatar", "avatar_id": 7, "audio_url": "https://x/a.mp3"}, nil, 400, "invalid_parameter", "avatar_id"},
		{"bad resolution", map[string]any{"type": "avatar", "avatar_id": "a", "audio_url": "https://x/a.mp3", "resolution": "8k"}, nil, 400, "invalid_parameter", "resolution"},
		{"studio without scenes", map[string]any{"type": "studio"}, nil, 400, "invalid_parameter", "scenes"},
		{"cinematic without prompt", map[string]any{"type": "cinematic_avatar", "avatar_id": []string{"a"}}, nil, 400, "invalid_parameter", "prompt"},
		{"cinematic avatar_id a string", map[string]any{"type": "cinematic_avatar", "avatar_id": "a", "prompt": "p"}, nil, 400, "invalid_parameter", "avatar_id"},
		{"cinematic without avatars", map[string]any{"type": "cinematic_avatar", "avatar_id": []string{}, "prompt": "p"}, nil, 400, "invalid_parameter", "avatar_id"},
		{"cinematic with four avatars", map[string]any{"type": "cinematic_avatar", "avatar_id": []string{"a", "b", "c", "d"}, "prompt": "p"}, nil, 400, "invalid_parameter", "avatar_id"},
		{"not JSON", "{nope", nil, 400, "invalid_request", ""},
		{"wrong api key", avatarBody("a"), map[string]string{"X-Api-Key": "nope"}, 401, "unauthorized", ""},
		{"script at the limit", map[string]any{"type": "avatar", "avatar_id": "a", "script": long[2:], "voice_id": "v"}, nil, 200, "", ""},
		{"audio", map[string]any{"type": "avatar", "avatar_id": "a", "audio_url": "https://x/a.mp3"}, nil, 200, "", ""},
		{"studio", map[string]any{"type": "studio", "scenes": []any{}}, nil, 200, "", ""},
		{"cinematic", map[string]any{"type": "cinematic_avatar", "avatar_id": []string{"a", "b", "c"}, "prompt": "A walk on the beach."}, nil, 200, "", ""},
		{"key of every allowed character", avatarBody("a"), map[string]string{"Idempotency-Key": "Az09_-:." + strings.Repeat("k", 247)}, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			for k, v := range key {
				hdr[k] = v
			}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			status, h, out := postJSON(t, e, "/v3/videos", tt.body, hdr)
			require.Equal(t, tt.status, status, "%v", out)
			assert.NotEmpty(t, h.Get("X-Request-Id"))
			if tt.status == 200 {
				return
			}
			ee := out["error"].(map[string]any)
			assert.Equal(t, tt.code, ee["code"])
			assert.NotEmpty(t, ee["message"])
			if tt.param != "" {
				assert.Equal(t, tt.param, ee["param"])
			}
		})
	}
	st := e.sb.Stats()
	assert.Equal(t, len(tests)-1, st.CreateRequests, "every call but the unauthorised one reaches the handler")
	assert.Equal(t, 5, st.Creates)
}

func TestGetAndStatusesThroughClient(t *testing.T) {
	e := newEnv(t, Config{RenderTime: 200 * time.Millisecond})
	ctx := context.Background()
	cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)

	v, err := e.client.GetVideo(ctx, cv.VideoID)
	require.NoError(t, err)
	assert.Contains(t, []heygen.Status{heygen.StatusPending, heygen.StatusProcessing}, v.Status)
	assert.Empty(t, v.VideoURL)
	assert.Empty(t, v.CallbackID, "a v3 video has no callback_id")

	eventually(t, func() bool {
		v, err = e.client.GetVideo(ctx, cv.VideoID)
		return err == nil && v.Status == heygen.StatusCompleted
	}, "job completes")
	assert.Equal(t, cv.VideoID, v.ID)
	assert.Equal(t, e.srv.URL+"/files/"+cv.VideoID+".mp4", v.VideoURL)
	assert.NotEmpty(t, v.ThumbnailURL)
	assert.Positive(t, v.Duration)
	assert.NotZero(t, v.CreatedAt)
	assert.GreaterOrEqual(t, v.CompletedAt, v.CreatedAt)

	// The file link serves FileBytes with a Content-Length.
	resp, err := http.Get(v.VideoURL)
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, strconv.Itoa(videoSize), resp.Header.Get("Content-Length"))
	assert.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
	assert.Equal(t, e.sb.FileBytes(cv.VideoID), got)
	assert.NotEqual(t, FileBytes("other"), got)
	resp, err = http.Get(v.ThumbnailURL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(e.srv.URL + "/files/unknown.mp4")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Unknown video: a permanent 404 with the request ID.
	_, err = e.client.GetVideo(ctx, "unknown")
	var ae *heygen.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)
	assert.Equal(t, heygen.KindPermanent, ae.Kind)
	assert.NotEmpty(t, ae.RequestID)

	// Bulk statuses: known and unknown IDs.
	pending, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-other"})
	require.NoError(t, err)
	entries, err := e.client.VideoStatuses(ctx, []string{cv.VideoID, "nope", pending.VideoID})
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, heygen.StatusEntry{VideoID: cv.VideoID, Status: heygen.StatusCompleted}, entries[0])
	assert.Equal(t, heygen.StatusNotFound, entries[1].Status)
	assert.Equal(t, heygen.StatusPending, entries[2].Status, "queued normalises to pending")

	// The raw answer spells pending "queued", and more than 100 IDs is a 400.
	status, _, out := getJSON(t, e, "/v3/videos/statuses?video_ids="+pending.VideoID)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "queued", out["data"].([]any)[0].(map[string]any)["status"])
	assert.Equal(t, false, out["has_more"])
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = "v" + strconv.Itoa(i)
	}
	status, _, out = getJSON(t, e, "/v3/videos/statuses?video_ids="+strings.Join(ids, ","))
	require.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "video_ids", out["error"].(map[string]any)["param"])

	st := e.sb.Stats()
	assert.GreaterOrEqual(t, st.StatusCalls, 3)
	assert.Equal(t, 3, st.BulkStatusCalls)
	assert.Equal(t, "completed", st.Jobs[cv.VideoID])
}

// registerHTTP registers rc through the real client and returns the endpoint.
func registerHTTP(t *testing.T, e *env, rc *receiver, events []string) heygen.WebhookEndpoint {
	t.Helper()
	ep, err := e.client.CreateWebhookEndpoint(context.Background(), rc.srv.URL+"/webhooks/heygen", events)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"), ep.Secret)
	require.Equal(t, "enabled", ep.Status)
	require.NotEmpty(t, ep.ID)
	return ep
}

func TestWebhookDeliverySigned(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	ep := registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)

	eventually(t, func() bool { return rc.count() == 1 }, "one delivery")
	d := rc.received()[0]
	assert.Equal(t, "application/json", d.header.Get("Content-Type"))
	require.NoError(t, heygen.VerifyRequest(d.header, d.body, []string{ep.Secret}))
	ev, err := heygen.ParseEvent(d.body)
	require.NoError(t, err)
	assert.Equal(t, heygen.EventAvatarVideoSuccess, ev.Type)
	assert.Equal(t, "p-render", ev.CallbackID)
	assert.Equal(t, cv.VideoID, ev.JobID)
	assert.Equal(t, e.srv.URL+"/files/"+cv.VideoID+".mp4", ev.URL)
	assert.NotEmpty(t, ev.GIFURL)
	assert.NotEmpty(t, ev.SharePageURL)

	eventually(t, func() bool { return e.sb.Stats().DeliveriesAcked == 1 }, "ack counted")
	st := e.sb.Stats()
	assert.Equal(t, 1, st.Deliveries)
	assert.Zero(t, st.CallbackURLPosts)
}

func TestRetryUntilReceiverAnswers(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	rc.status.Store(http.StatusServiceUnavailable)
	ep := registerHTTP(t, e, rc, nil)
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)

	eventually(t, func() bool { return rc.count() >= 3 }, "three refused attempts")
	rc.status.Store(0)
	eventually(t, func() bool { return e.sb.Stats().DeliveriesAcked == 1 }, "acked once the receiver answers 200")
	got := rc.received()
	for _, d := range got {
		assert.Equal(t, got[0].body, d.body, "every attempt carries the same body")
		assert.NoError(t, heygen.VerifyRequest(d.header, d.body, []string{ep.Secret}))
	}
	st := e.sb.Stats()
	assert.Equal(t, len(got), st.Deliveries)
	assert.Zero(t, st.DeliveriesExhausted)
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t, Config{RetryBase: time.Millisecond})
	rc := newReceiver(t)
	rc.status.Store(http.StatusInternalServerError)
	registerHTTP(t, e, rc, nil)
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1")})
	require.NoError(t, err)
	eventually(t, func() bool { return e.sb.Stats().DeliveriesExhausted == 1 }, "abandoned")
	assert.Equal(t, maxAttempts, rc.count())
	assert.Equal(t, maxAttempts, e.sb.Stats().Deliveries)
}

func TestDropRateOneDropsAll(t *testing.T) {
	e := newEnv(t, Config{DropRate: 1})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	const n = 5
	for i := range n {
		_, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-" + strconv.Itoa(i), CallbackURL: rc.srv.URL + "/cb"})
		require.NoError(t, err)
	}
	eventually(t, func() bool { return e.sb.Stats().DeliveriesDropped == 2*n }, "endpoint and callback_url deliveries dropped")
	st := e.sb.Stats()
	for id, status := range st.Jobs {
		assert.Equal(t, "completed", status, id)
	}
	assert.Zero(t, st.Deliveries)
	assert.Zero(t, st.CallbackURLPosts)
	assert.Zero(t, rc.count())

	// Back to zero: the next job is delivered.
	e.sb.SetDropRate(0)
	_, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-last"})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 1 }, "delivered after SetDropRate(0)")
}

func TestDropRateIsReproducible(t *testing.T) {
	dropped := func() int {
		e := newEnv(t, Config{DropRate: 0.5, Seed: 7})
		rc := newReceiver(t)
		registerHTTP(t, e, rc, nil)
		ids := map[string]bool{}
		for range 20 {
			cv, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1")})
			require.NoError(t, err)
			ids[cv.VideoID] = true
		}
		eventually(t, func() bool {
			st := e.sb.Stats()
			return st.DeliveriesDropped+st.DeliveriesAcked == 20
		}, "every job delivered or dropped")
		return e.sb.Stats().DeliveriesDropped
	}
	first := dropped()
	assert.Equal(t, first, dropped())
	assert.Greater(t, first, 0)
	assert.Less(t, first, 20)
}

func TestCallbackURLUnsigned(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	cv, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{
		Body: avatarBody("a1"), CallbackID: "p-render", CallbackURL: rc.srv.URL + "/callback",
	})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 1 }, "callback_url post")
	d := rc.received()[0]
	_, err = heygen.SignatureFrom(d.header)
	assert.ErrorIs(t, err, heygen.ErrNoSignature)
	ev, err := heygen.ParseEvent(d.body)
	require.NoError(t, err)
	assert.Equal(t, cv.VideoID, ev.JobID)
	assert.Equal(t, "p-render", ev.CallbackID)
	eventually(t, func() bool { return e.sb.Stats().CallbackURLAcked == 1 }, "ack counted")
	st := e.sb.Stats()
	assert.Equal(t, 1, st.CallbackURLPosts)
	assert.Zero(t, st.Deliveries)
}

func TestRotateSecret(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	ep := registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	rot, err := e.client.RotateWebhookSecret(ctx, ep.ID)
	require.NoError(t, err)
	assert.Equal(t, ep.ID, rot.ID)
	require.True(t, strings.HasPrefix(rot.Secret, "whsec_"))
	require.NotEqual(t, ep.Secret, rot.Secret)

	_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 1 }, "delivery")
	d := rc.received()[0]
	assert.NoError(t, heygen.VerifyRequest(d.header, d.body, []string{rot.Secret}))
	assert.ErrorIs(t, heygen.VerifyRequest(d.header, d.body, []string{ep.Secret}), heygen.ErrBadSignature)

	_, err = e.client.RotateWebhookSecret(ctx, "unknown")
	var ae *heygen.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)
}

func TestRegisterRefusedWhenOPTIONSFails(t *testing.T) {
	e := newEnv(t, Config{})
	noOptions := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed)
	}))
	t.Cleanup(noOptions.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers in time
	}))
	t.Cleanup(slow.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	for name, u := range map[string]string{
		"405":         noOptions.URL + "/hook",
		"slow":        slow.URL + "/hook",
		"unreachable": closed.URL + "/hook",
		"not http":    "mailto:x@example.com",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := e.client.CreateWebhookEndpoint(context.Background(), u, nil)
			var ae *heygen.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusBadRequest, ae.Status)
			assert.Equal(t, "url", ae.Param)
			assert.Less(t, time.Since(start), 3*time.Second)
		})
	}
	_, err := e.sb.RegisterEndpoint(noOptions.URL, nil)
	require.Error(t, err, "the Go shortcut makes the same check")
	_, err = e.sb.RegisterEndpoint(newReceiver(t).srv.URL, []string{"no_such.event"})
	require.Error(t, err)

	eps, err := e.client.ListWebhookEndpoints(context.Background())
	require.NoError(t, err)
	assert.Empty(t, eps)
}

func TestEndpointsListFilterDelete(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	all, failOnly, gone := newReceiver(t), newReceiver(t), newReceiver(t)
	epAll, err := e.sb.RegisterEndpoint(all.srv.URL, nil)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(epAll.Secret, "whsec_"))
	_, err = e.sb.RegisterEndpoint(failOnly.srv.URL, []string{heygen.EventAvatarVideoFail})
	require.NoError(t, err)
	epGone := registerHTTP(t, e, gone, nil)

	// Pages of two: the client follows next_token; secrets are never listed.
	status, _, out := getJSON(t, e, "/v3/webhooks/endpoints?limit=2")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, out["data"], 2)
	assert.Equal(t, true, out["has_more"])
	assert.NotEmpty(t, out["next_token"])
	eps, err := e.client.ListWebhookEndpoints(ctx)
	require.NoError(t, err)
	require.Len(t, eps, 3)
	assert.Equal(t, epAll.ID, eps[0].ID)
	assert.Equal(t, []string{heygen.EventAvatarVideoFail}, eps[1].Events)
	for _, ep := range eps {
		assert.Empty(t, ep.Secret)
	}

	require.NoError(t, e.client.DeleteWebhookEndpoint(ctx, epGone.ID))
	var ae *heygen.APIError
	require.ErrorAs(t, e.client.DeleteWebhookEndpoint(ctx, epGone.ID), &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)

	_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1")})
	require.NoError(t, err)
	_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody(MagicAvatarFail)})
	require.NoError(t, err)
	eventually(t, func() bool { return all.count() == 2 && failOnly.count() == 1 }, "deliveries by subscription")
	ev, err := heygen.ParseEvent(failOnly.received()[0].body)
	require.NoError(t, err)
	assert.Equal(t, heygen.EventAvatarVideoFail, ev.Type)
	eventually(t, func() bool { return e.sb.Stats().DeliveriesAcked == 3 }, "acks")
	assert.Zero(t, gone.count(), "a deleted endpoint gets nothing")

	// PATCH replaces the events.
	req, err := http.NewRequest(http.MethodPatch, e.srv.URL+"/v3/webhooks/endpoints/"+epAll.ID, strings.NewReader(`{"events":["avatar_video.success"]}`))
	require.NoError(t, err)
	status, _, out = do(t, req)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, []any{"avatar_video.success"}, out["data"].(map[string]any)["events"])
}

func TestFailingRenderMagicAvatar(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	ep := registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody(MagicAvatarFail), CallbackID: "p-render"})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 1 }, "fail delivery")
	d := rc.received()[0]
	require.NoError(t, heygen.VerifyRequest(d.header, d.body, []string{ep.Secret}))
	ev, err := heygen.ParseEvent(d.body)
	require.NoError(t, err)
	assert.Equal(t, heygen.EventAvatarVideoFail, ev.Type)
	assert.Equal(t, heygen.OutcomeFailure, ev.Outcome())
	assert.Equal(t, cv.VideoID, ev.JobID)
	assert.Equal(t, "p-render", ev.CallbackID)
	assert.NotEmpty(t, ev.Message)

	v, err := e.client.GetVideo(ctx, cv.VideoID)
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusFailed, v.Status)
	assert.Equal(t, FailureCodeAvatarUnavailable, v.FailureCode)
	assert.NotEmpty(t, v.FailureMessage)
	assert.Empty(t, v.VideoURL)
	entries, err := e.client.VideoStatuses(ctx, []string{cv.VideoID})
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusFailed, entries[0].Status)
	assert.NotEmpty(t, entries[0].Error)
}

func TestStuckMagicAvatarNeverEnds(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	created := time.Now()
	stuck, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody(MagicAvatarStuck)})
	require.NoError(t, err)
	// A normal job created after it ends and is delivered; the stuck one is still processing.
	_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1")})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 1 }, "the normal job's delivery")

	// One read could land before a late end. Read on until ten render times have passed
	// and the job was read at least five times: every read finds it processing, the
	// first that does not stops the wait and fails the test.
	const reads, renders = 5, 10
	var (
		n       int
		last    heygen.Video
		readErr error
	)
	require.Eventually(t, func() bool {
		last, readErr = e.client.GetVideo(ctx, stuck.VideoID)
		n++
		if readErr != nil || last.Status != heygen.StatusProcessing {
			return true
		}
		return n >= reads && time.Since(created) >= renders*testRender
	}, waitFor, 10*tick, "%d reads over %d render times", reads, renders)
	require.NoError(t, readErr, "read %d", n)
	assert.Equal(t, heygen.StatusProcessing, last.Status, "read %d, %s after the create", n, time.Since(created))
	assert.Equal(t, 1, rc.count(), "no webhook for the stuck job")
}

func TestStatsOverHTTP(t *testing.T) {
	e := newEnv(t, Config{})
	cv, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)
	eventually(t, func() bool { return e.sb.Stats().Jobs[cv.VideoID] == "completed" }, "completed")

	resp, err := http.Get(e.srv.URL + "/_sandbox/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	assert.Equal(t, e.sb.Stats(), st)
	assert.Equal(t, 1, st.CreatesByCallbackID["p-render"])

	status, _, out := postJSON(t, e, "/_sandbox/drop-rate?value=0.25", "", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.25, out["drop_rate"])
	status, _, _ = postJSON(t, e, "/_sandbox/drop-rate?value=2", "", nil)
	assert.Equal(t, http.StatusBadRequest, status)
}

func TestStatsIsADeepCopy(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute})
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "x"})
	require.NoError(t, err)
	st := e.sb.Stats()
	st.CreatesByCallbackID["x"] = 99
	for id := range st.Jobs {
		st.Jobs[id] = "mangled"
	}
	again := e.sb.Stats()
	assert.Equal(t, 1, again.CreatesByCallbackID["x"])
	for _, s := range again.Jobs {
		assert.NotEqual(t, "mangled", s)
	}
}

func TestPersistenceFinishesJobAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "sandbox.json")
	rc := newReceiver(t)

	sb1, err := New(Config{StatePath: path, RenderTime: 300 * time.Millisecond, RetryBase: testRetry})
	require.NoError(t, err)
	srv1 := httptest.NewServer(sb1.Handler())
	c1 := heygen.NewClient(srv1.URL, "", nil)
	ep, err := sb1.RegisterEndpoint(rc.srv.URL, nil)
	require.NoError(t, err)
	cv, err := c1.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)
	srv1.Close()
	require.NoError(t, sb1.Close())
	require.Zero(t, rc.count(), "closed before the render ended")
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the file holds secrets")

	e := newEnv(t, Config{StatePath: path, RenderTime: 300 * time.Millisecond})
	eventually(t, func() bool { return rc.count() == 1 }, "delivered by the restarted sandbox")
	d := rc.received()[0]
	require.NoError(t, heygen.VerifyRequest(d.header, d.body, []string{ep.Secret}), "the secret survived")
	ev, err := heygen.ParseEvent(d.body)
	require.NoError(t, err)
	assert.Equal(t, cv.VideoID, ev.JobID)

	v, err := e.client.GetVideo(context.Background(), cv.VideoID)
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusCompleted, v.Status)

	// The idempotency key survived too: a retried create makes nothing new.
	again, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)
	assert.Equal(t, cv.VideoID, again.VideoID)
	st := e.sb.Stats()
	assert.Equal(t, 1, st.Creates)
	assert.Equal(t, 2, st.CreateRequests, "counters survive restarts")
	assert.Equal(t, 1, st.CreatesByCallbackID["p-render"])
}

func TestPersistenceResumesPendingDelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.json")
	rc := newReceiver(t)
	rc.hang.Store(true)

	// The first sandbox's attempt hangs; Close cuts it short and keeps it pending.
	sb1, err := New(Config{StatePath: path, RenderTime: testRender, RetryBase: time.Hour})
	require.NoError(t, err)
	ep, err := sb1.RegisterEndpoint(rc.srv.URL, nil)
	require.NoError(t, err)
	srv1 := httptest.NewServer(sb1.Handler())
	_, err = heygen.NewClient(srv1.URL, "", nil).CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p-render"})
	require.NoError(t, err)
	eventually(t, func() bool { return sb1.Stats().Deliveries == 1 }, "attempt in flight")
	srv1.Close()
	start := time.Now()
	require.NoError(t, sb1.Close())
	assert.Less(t, time.Since(start), 2*time.Second, "Close does not wait for a hanging receiver")

	rc.hang.Store(false)
	e := newEnv(t, Config{StatePath: path, RetryBase: time.Hour})
	eventually(t, func() bool { return rc.count() == 1 }, "resumed delivery")
	require.NoError(t, heygen.VerifyRequest(rc.received()[0].header, rc.received()[0].body, []string{ep.Secret}))
	eventually(t, func() bool { return e.sb.Stats().DeliveriesAcked == 1 }, "acked")
}

func TestManyJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "load-" + strconv.Itoa(i)})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	eventually(t, func() bool { return e.sb.Stats().DeliveriesAcked == n }, "every job delivered")
	st := e.sb.Stats()
	assert.Equal(t, n, st.Creates)
	assert.Len(t, st.CreatesByCallbackID, n)
	assert.Equal(t, n, rc.count())
}

func TestFileBytesDeterministic(t *testing.T) {
	a := FileBytes("abc")
	assert.Len(t, a, videoSize)
	assert.Equal(t, a, FileBytes("abc"))
	assert.Equal(t, []byte("ftyp"), a[4:8])
	assert.NotEqual(t, a, FileBytes("abd"))
	th := thumbnailBytes("abc")
	assert.Len(t, th, imageSize)
	assert.Equal(t, []byte{0xff, 0xd9}, th[len(th)-2:])
}

// BenchmarkCreateWithState measures a create through the handler while the state file
// (with every job so far) is saved in the background.
func BenchmarkCreateWithState(b *testing.B) {
	sb, err := New(Config{StatePath: filepath.Join(b.TempDir(), "s.json"), RenderTime: time.Hour})
	require.NoError(b, err)
	defer sb.Close()
	h := sb.Handler()
	body, err := json.Marshal(avatarBody("a1"))
	require.NoError(b, err)
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodPost, "/v3/videos", bytes.NewReader(body))
		req.Header.Set("Idempotency-Key", "k"+strconv.Itoa(i))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
