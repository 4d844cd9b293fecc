package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reelflow/reelflow/contract"
	"github.com/reelflow/reelflow/heygen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// send makes any request to the sandbox and decodes the answer.
func send(t *testing.T, e *env, method, path string, body any, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, req)
}

func errorOf(t *testing.T, out map[string]any) map[string]any {
	t.Helper()
	ee, ok := out["error"].(map[string]any)
	require.True(t, ok, "no error envelope in %v", out)
	return ee
}

func TestRequestBodiesHeldToThePublishedSchema(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	ep := registerHTTP(t, e, rc, nil)
	hook := rc.srv.URL + "/hook"
	tests := []struct {
		name, method, path string
		body               any
		param              string // "" = accepted
	}{
		{"avatar", "POST", "/v3/videos", avatarBody("a1"), ""},
		{"avatar title a number", "POST", "/v3/videos", map[string]any{"type": "avatar", "avatar_id": "a", "audio_url": "https://x/a.mp3", "title": 7}, "title"},
		{"avatar background without type", "POST", "/v3/videos", map[string]any{"type": "avatar", "avatar_id": "a", "audio_url": "https://x/a.mp3", "background": map[string]any{"value": "#fff"}}, "background.type"},
		{"image without image", "POST", "/v3/videos", map[string]any{"type": "image", "script": "hi", "voice_id": "v"}, "image"},
		{"image", "POST", "/v3/videos", map[string]any{"type": "image", "image": map[string]any{"type": "url", "url": "https://x/i.png"}, "script": "hi", "voice_id": "v"}, ""},
		{"cinematic", "POST", "/v3/videos", map[string]any{"type": "cinematic_avatar", "avatar_id": []string{"a"}, "prompt": "p", "resolution": "1080p"}, ""},
		{"cinematic 4k", "POST", "/v3/videos", map[string]any{"type": "cinematic_avatar", "avatar_id": []string{"a"}, "prompt": "p", "resolution": "4k"}, "resolution"},
		{"template", "POST", "/v3/templates/t1", templateBody(), ""},
		{"template fps a string", "POST", "/v3/templates/t1", map[string]any{"variables": map[string]any{}, "fps": "25"}, "fps"},
		{"template subtitles without preset", "POST", "/v3/templates/t1", map[string]any{"variables": map[string]any{}, "subtitles": map[string]any{}}, "subtitles.preset_name"},
		{"translation", "POST", "/v3/video-translations", translationBody("French"), ""},
		{"translation without video", "POST", "/v3/video-translations", map[string]any{"output_languages": []string{"French"}}, "video"},
		{"translation bad fps_mode", "POST", "/v3/video-translations", map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}, "output_languages": []string{"French"}, "fps_mode": "60"}, "fps_mode"},
		{"endpoint without url", "POST", "/v3/webhooks/endpoints", map[string]any{"events": []string{"avatar_video.success"}}, "url"},
		{"endpoint unknown event", "POST", "/v3/webhooks/endpoints", map[string]any{"url": hook, "events": []string{"avatar_video.success", "video.done"}}, "events[1]"},
		{"endpoint url a number", "PATCH", "/v3/webhooks/endpoints/" + ep.ID, map[string]any{"url": 7}, "url"},
		{"endpoint events a string", "PATCH", "/v3/webhooks/endpoints/" + ep.ID, map[string]any{"events": "avatar_video.success"}, "events"},
		{"endpoint update", "PATCH", "/v3/webhooks/endpoints/" + ep.ID, map[string]any{"events": []string{"avatar_video.success"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, out := send(t, e, tt.method, tt.path, tt.body, nil)
			if tt.param == "" {
				require.Equal(t, http.StatusOK, status, "%v", out)
				return
			}
			require.Equal(t, http.StatusBadRequest, status, "%v", out)
			ee := errorOf(t, out)
			assert.Equal(t, "invalid_parameter", ee["code"])
			assert.Equal(t, tt.param, ee["param"])
			assert.Contains(t, ee, "doc_url", "HeyGen's envelope has all four members")
		})
	}
}

func TestQueryParametersAsPublished(t *testing.T) {
	e := newEnv(t, Config{})
	for _, tt := range []struct {
		path  string
		param string // "" = accepted
	}{
		{"/v3/videos?limit=100", ""},
		{"/v3/videos?limit=1", ""},
		{"/v3/videos?limit=0", "limit"},
		{"/v3/videos?limit=101", "limit"},
		{"/v3/videos?limit=ten", "limit"},
		{"/v3/webhooks/endpoints?limit=100", ""},
		{"/v3/webhooks/endpoints?limit=101", "limit"},
		{"/v3/webhooks/events?limit=100", ""},
		{"/v3/webhooks/events?limit=0", "limit"},
		{"/v3/webhooks/events?token=x", "token"},
		{"/v3/videos/statuses", "video_ids"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			status, _, out := getJSON(t, e, tt.path)
			if tt.param == "" {
				require.Equal(t, http.StatusOK, status, "%v", out)
				return
			}
			require.Equal(t, http.StatusBadRequest, status, "%v", out)
			assert.Equal(t, tt.param, errorOf(t, out)["param"])
		})
	}
}

func TestIdempotencyKeyRules(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute})
	key := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

	// A repeat within 24 h replays the first answer, even with another body.
	st1, _, first := postJSON(t, e, "/v3/videos", avatarBody("a1"), key("k-1"))
	require.Equal(t, http.StatusOK, st1)
	other := avatarBody("a2")
	other["title"] = "another body"
	st2, h2, again := postJSON(t, e, "/v3/videos", other, key("k-1"))
	require.Equal(t, http.StatusOK, st2)
	assert.Equal(t, first, again)
	assert.Equal(t, "true", h2.Get("Idempotent-Replayed"))

	// The scope is the endpoint and the resource: another route, or another template ID,
	// makes its own job under the same key.
	t1 := mustTemplate(t, e, "tpl_a", templateBody(), "", "k-1")
	t1again := mustTemplate(t, e, "tpl_a", map[string]any{"variables": map[string]any{"x": 1}}, "", "k-1")
	t2 := mustTemplate(t, e, "tpl_b", templateBody(), "", "k-1")
	assert.Equal(t, t1, t1again)
	assert.NotEqual(t, t1, t2)
	_, _, tr := postJSON(t, e, "/v3/video-translations", translationBody("French"), key("k-1"))
	require.Contains(t, tr, "data")
	st := e.sb.Stats()
	assert.Equal(t, 4, st.Creates, "one video, two templates, one translation")
	assert.Equal(t, 2, st.IdempotentReplays)

	// A key out of HeyGen's format is refused before anything is made.
	for _, bad := range []string{"a/b", "welcome-42/render@run-1", "a b", "ключ", strings.Repeat("k", 256), "a\tb"} {
		status, _, out := postJSON(t, e, "/v3/templates/tpl_a", templateBody(), key(bad))
		require.Equal(t, http.StatusBadRequest, status, bad)
		assert.Equal(t, "Idempotency-Key", errorOf(t, out)["param"], bad)
	}
	assert.Equal(t, 4, e.sb.Stats().Creates)
}

func TestIdempotencyKeyInFlightGets409(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute})
	entered, release := make(chan struct{}), make(chan struct{})
	e.sb.mu.Lock()
	e.sb.hookCreated = func() {
		entered <- struct{}{}
		<-release
	}
	e.sb.mu.Unlock()

	type answer struct {
		status int
		out    map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		status, _, out := postJSON(t, e, "/v3/templates/tpl", templateBody(), map[string]string{"Idempotency-Key": "busy"})
		done <- answer{status, out}
	}()
	<-entered // the first create is being processed
	e.sb.mu.Lock()
	e.sb.hookCreated = nil
	e.sb.mu.Unlock()
	status, _, out := postJSON(t, e, "/v3/templates/tpl", templateBody(), map[string]string{"Idempotency-Key": "busy"})
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "request_in_progress", errorOf(t, out)["code"])
	// Another template ID is another resource: not in flight.
	mustTemplate(t, e, "tpl_other", templateBody(), "", "busy")
	close(release)
	a := <-done
	require.Equal(t, http.StatusOK, a.status, "%v", a.out)
	// Once answered, the key replays.
	id := mustTemplate(t, e, "tpl", templateBody(), "", "busy")
	assert.Equal(t, a.out["data"].(map[string]any)["id"], id)
	assert.Equal(t, 1, e.sb.Stats().IdempotencyConflicts)
	assert.Equal(t, 2, e.sb.Stats().Creates)
}

func TestEndpointCallsAreIdempotent(t *testing.T) {
	e := newEnv(t, Config{})
	var hold atomic.Bool
	entered, release := make(chan struct{}, 1), make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && hold.Load() {
			entered <- struct{}{}
			<-release
		}
	}))
	t.Cleanup(rcv.Close)
	body := map[string]any{"url": rcv.URL + "/hook"}
	hdr := map[string]string{"Idempotency-Key": "ep-1"}

	// While HeyGen's OPTIONS probe of the first call runs, a repeat is in flight: 409.
	hold.Store(true)
	done := make(chan map[string]any, 1)
	go func() {
		_, _, out := send(t, e, "POST", "/v3/webhooks/endpoints", body, hdr)
		done <- out
	}()
	<-entered
	status, _, out := send(t, e, "POST", "/v3/webhooks/endpoints", body, hdr)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "request_in_progress", errorOf(t, out)["code"])
	hold.Store(false)
	close(release)
	created := <-done
	data := created["data"].(map[string]any)
	require.NotEmpty(t, data["secret"])

	// A repeat replays the answer, secret included, and registers nothing new.
	status, h, again := send(t, e, "POST", "/v3/webhooks/endpoints", body, hdr)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, created, again)
	assert.Equal(t, "true", h.Get("Idempotent-Replayed"))
	_, _, list := getJSON(t, e, "/v3/webhooks/endpoints")
	assert.Len(t, list["data"], 1)

	// Rotate is a mutation too: a retried rotation does not rotate twice.
	id := data["endpoint_id"].(string)
	rot := map[string]string{"Idempotency-Key": "rot-1"}
	_, _, r1 := send(t, e, "POST", "/v3/webhooks/endpoints/"+id+"/rotate-secret", nil, rot)
	_, _, r2 := send(t, e, "POST", "/v3/webhooks/endpoints/"+id+"/rotate-secret", nil, rot)
	assert.Equal(t, r1, r2)
	e.sb.mu.Lock()
	secret := e.sb.endpoints[id].Secret
	e.sb.mu.Unlock()
	assert.Equal(t, r1["data"].(map[string]any)["secret"], secret)
}

func TestTemplateReplayIsTheSnapshotAtCreation(t *testing.T) {
	e := newEnv(t, Config{})
	hdr := map[string]string{"Idempotency-Key": "tpl-snap"}
	status, _, first := postJSON(t, e, "/v3/templates/tpl", templateBody(), hdr)
	require.Equal(t, http.StatusOK, status)
	data := first["data"].(map[string]any)
	assert.NotContains(t, data, "video_id", "HeyGen answers with the video object")
	assert.Equal(t, "pending", data["status"])
	id := data["id"].(string)
	waitVideo(t, e, id)

	_, h, again := postJSON(t, e, "/v3/templates/tpl", templateBody(), hdr)
	assert.Equal(t, "true", h.Get("Idempotent-Replayed"))
	assert.Equal(t, first, again, "the status as of the first request, not completed")
}

func TestIdempotencyKeysSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e1 := newEnv(t, Config{StatePath: path, RenderTime: time.Minute})
	id := mustTemplate(t, e1, "tpl", templateBody(), "", "persist-1")
	require.NoError(t, e1.sb.Close())
	e2 := newEnv(t, Config{StatePath: path, RenderTime: time.Minute})
	assert.Equal(t, id, mustTemplate(t, e2, "tpl", templateBody(), "", "persist-1"))
	assert.Equal(t, 1, e2.sb.Stats().Creates)
}

func TestWebhookURLs(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/heygen", true},
		{"http://127.0.0.1:8080/webhooks/heygen", true},
		{"http://localhost:8080/webhooks/heygen", true},
		{"http://[::1]:8080/webhooks/heygen", true},
		{"http://127.0.0.2/x", true},
		{"http://hooks.example.com/heygen", false},
		{"http://10.0.0.5/heygen", false},
		{"ftp://hooks.example.com/x", false},
		{"https://", false},
		{"/webhooks/heygen", false},
	} {
		assert.Equal(t, tt.ok, checkWebhookURL(tt.url) == nil, tt.url)
	}

	// Through the API: plain HTTP off loopback is refused before any probe; HTTPS is
	// probed and registered.
	tlsRcv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(tlsRcv.Close)
	e := newEnv(t, Config{HTTPClient: tlsRcv.Client()})
	status, _, out := send(t, e, "POST", "/v3/webhooks/endpoints", map[string]any{"url": "http://hooks.example.com/heygen"}, nil)
	require.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "url", errorOf(t, out)["param"])
	status, _, out = send(t, e, "POST", "/v3/webhooks/endpoints", map[string]any{"url": tlsRcv.URL + "/heygen"}, nil)
	require.Equal(t, http.StatusOK, status, "%v", out)
	id := out["data"].(map[string]any)["endpoint_id"].(string)
	status, _, out = send(t, e, "PATCH", "/v3/webhooks/endpoints/"+id, map[string]any{"url": "http://hooks.example.com/x"}, nil)
	require.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "url", errorOf(t, out)["param"])
}

// pages walks a list from path (which has a query) and returns its rows' values of field
// and the size of each page.
func pages(t *testing.T, e *env, path, field string) (rows []string, sizes []int) {
	t.Helper()
	next := path
	for range 50 {
		status, _, out := getJSON(t, e, next)
		require.Equal(t, http.StatusOK, status, "%v", out)
		data := out["data"].([]any)
		sizes = append(sizes, len(data))
		for _, r := range data {
			rows = append(rows, r.(map[string]any)[field].(string))
		}
		if out["has_more"] != true {
			assert.Nil(t, out["next_token"])
			return rows, sizes
		}
		sep := "&"
		if !strings.Contains(path, "?") {
			sep = "?"
		}
		next = path + sep + "token=" + out["next_token"].(string)
	}
	t.Fatal("the list never ends")
	return nil, nil
}

func TestListsPageByTenUpToAHundred(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute})
	rc := newReceiver(t)
	for i := range 12 {
		_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "l" + strconv.Itoa(i)})
		require.NoError(t, err)
		_, err = e.client.CreateWebhookEndpoint(context.Background(), fmt.Sprintf("%s/hook/%d", rc.srv.URL, i), nil)
		require.NoError(t, err)
	}
	for _, tt := range []struct {
		path, field string
		sizes       []int
	}{
		{"/v3/videos", "id", []int{10, 2}},
		{"/v3/videos?limit=5", "id", []int{5, 5, 2}},
		{"/v3/videos?limit=100", "id", []int{12}},
		{"/v3/webhooks/endpoints", "endpoint_id", []int{10, 2}},
		{"/v3/webhooks/endpoints?limit=100", "endpoint_id", []int{12}},
	} {
		rows, sizes := pages(t, e, tt.path, tt.field)
		assert.Equal(t, tt.sizes, sizes, tt.path)
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r] = true
		}
		assert.Len(t, seen, 12, "%s: every row once", tt.path)
	}
}

func TestAnswersInPublishedShapes(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)

	// A create answers "waiting"; the video itself has no callback_id.
	status, _, out := postJSON(t, e, "/v3/videos", map[string]any{"type": "avatar", "avatar_id": MagicAvatarFail, "audio_url": "https://x/a.mp3", "callback_id": "cb"}, nil)
	require.Equal(t, http.StatusOK, status)
	failed := out["data"].(map[string]any)["video_id"].(string)
	assert.Equal(t, "waiting", out["data"].(map[string]any)["status"])
	stuck, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody(MagicAvatarStuck), CallbackID: "cb2"})
	require.NoError(t, err)
	waitVideo(t, e, failed)
	_, _, got := getJSON(t, e, "/v3/videos/"+failed)
	assert.NotContains(t, got["data"], "callback_id")

	// Bulk rows: queued while pending, failed with an error object, not_found with one,
	// and a null error otherwise.
	e.sb.mu.Lock()
	e.sb.jobs[stuck.VideoID].ProcessingAt = time.Now().Add(time.Hour)
	e.sb.mu.Unlock()
	_, _, bulk := getJSON(t, e, "/v3/videos/statuses?video_ids="+stuck.VideoID+","+failed+",nope")
	rows := bulk["data"].([]any)
	require.Len(t, rows, 3)
	byID := map[string]map[string]any{}
	for _, r := range rows {
		byID[r.(map[string]any)["video_id"].(string)] = r.(map[string]any)
	}
	assert.Equal(t, "queued", byID[stuck.VideoID]["status"])
	assert.Nil(t, byID[stuck.VideoID]["error"])
	assert.Contains(t, byID[stuck.VideoID], "error")
	assert.Equal(t, "failed", byID[failed]["status"])
	assert.Equal(t, FailureCodeAvatarUnavailable, byID[failed]["error"].(map[string]any)["code"])
	assert.Equal(t, "not_found", byID["nope"]["status"])
	assert.IsType(t, map[string]any{}, byID["nope"]["error"])

	// Endpoints: created_at is ISO 8601; the list shows secret null.
	_, _, list := getJSON(t, e, "/v3/webhooks/endpoints")
	row := list["data"].([]any)[0].(map[string]any)
	_, err = time.Parse(time.RFC3339, row["created_at"].(string))
	assert.NoError(t, err)
	assert.Contains(t, row, "secret")
	assert.Nil(t, row["secret"])

	// A translation is pending, running, completed or failed.
	ids, err := e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French")})
	require.NoError(t, err)
	_, _, tr := getJSON(t, e, "/v3/video-translations/"+ids[0])
	assert.Contains(t, []any{"pending", "running"}, tr["data"].(map[string]any)["status"])
	assert.NotContains(t, tr["data"], "completed_at")
}

func TestContractCheckCatchesViolations(t *testing.T) {
	e := newEnv(t, Config{})
	rec := func(code int, body string, hdr map[string]string) *recorder {
		r := &recorder{ResponseWriter: httptest.NewRecorder(), code: code}
		r.body.WriteString(body)
		for k, v := range hdr {
			r.Header().Set(k, v)
		}
		return r
	}
	videoGet, _ := e.sb.contract.Op("VideoGet")
	tmpl, _ := e.sb.contract.Op("TemplateGenerate")
	list, _ := e.sb.contract.Op("WebhookEndpointsList")
	for _, tt := range []struct {
		name string
		op   string
		rec  *recorder
		bad  bool
	}{
		{"a video", "get", rec(200, `{"data":{"id":"v","status":"completed","created_at":1}}`, nil), false},
		{"a video with callback_id", "get", rec(200, `{"data":{"id":"v","status":"completed","callback_id":"x"}}`, nil), true},
		{"a video waiting", "get", rec(200, `{"data":{"id":"v","status":"waiting"}}`, nil), true},
		{"a template create with video_id", "tmpl", rec(200, `{"data":{"video_id":"v"}}`, nil), true},
		{"an endpoint with a numeric created_at", "list", rec(200, `{"data":[{"endpoint_id":"e","url":"u","status":"enabled","created_at":5}],"has_more":false}`, nil), true},
		{"an error", "get", rec(404, `{"error":{"code":"not_found","message":"m","param":null,"doc_url":null}}`, nil), false},
		{"an error without a code", "get", rec(400, `{"error":{"message":"m"}}`, nil), true},
		{"an error as a string", "get", rec(400, `{"error":"bad"}`, nil), true},
		{"a 429 without Retry-After", "get", rec(429, `{"error":{"code":"rate_limit_exceeded","message":"m"}}`, nil), true},
		{"a 429", "get", rec(429, `{"error":{"code":"rate_limit_exceeded","message":"m"}}`, map[string]string{"Retry-After": "1"}), false},
		{"a 2xx of an unpublished route", "", rec(200, `{"data":{}}`, nil), true},
	} {
		ops := map[string]*contract.Operation{"get": videoGet, "tmpl": tmpl, "list": list}
		err := e.sb.checkAnswer(ops[tt.op], tt.rec)
		assert.Equal(t, tt.bad, err != nil, "%s: %v", tt.name, err)
	}
}
