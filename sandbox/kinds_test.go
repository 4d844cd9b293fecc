package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reelflow/reelflow/heygen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// download GETs a link and returns the status and body.
func download(t *testing.T, link string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(link)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// requireServed downloads link and checks it is exactly ArtifactBytes(link).
func requireServed(t *testing.T, e *env, link string) []byte {
	t.Helper()
	require.NotEmpty(t, link)
	status, got := download(t, link)
	require.Equal(t, http.StatusOK, status, link)
	want, ok := e.sb.ArtifactBytes(link)
	require.True(t, ok, link)
	require.Equal(t, want, got, link)
	return got
}

// waitVideo polls GetVideo until the video is terminal.
func waitVideo(t *testing.T, e *env, id string) heygen.Video {
	t.Helper()
	var v heygen.Video
	eventually(t, func() bool {
		var err error
		v, err = e.client.GetVideo(context.Background(), id)
		return err == nil && v.Status.Terminal()
	}, "video "+id+" ends")
	return v
}

// parsed returns the received events, parsed.
func parsed(t *testing.T, rc *receiver) []heygen.Event {
	t.Helper()
	var out []heygen.Event
	for _, d := range rc.received() {
		ev, err := heygen.ParseEvent(d.body)
		require.NoError(t, err)
		out = append(out, ev)
	}
	return out
}

// createTemplate makes a template video the way HeyGen publishes the call (callback_id in
// the body when cb is set, key as the Idempotency-Key) and returns the answer's data.id
// and HTTP status; err is a transport error, such as an ambiguous create's hang-up. It
// bypasses heygen.Client, whose template create reads an unpublished data.video_id.
func createTemplate(e *env, templateID string, body map[string]any, cb, key string) (string, int, error) {
	b := maps.Clone(body)
	if cb != "" {
		b["callback_id"] = cb
	}
	raw, _ := json.Marshal(b)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/v3/templates/"+templateID, bytes.NewReader(raw))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", resp.StatusCode, err
	}
	return out.Data.ID, resp.StatusCode, nil
}

// mustTemplate is createTemplate that must succeed.
func mustTemplate(t *testing.T, e *env, templateID string, body map[string]any, cb, key string) string {
	t.Helper()
	id, status, err := createTemplate(e, templateID, body, cb, key)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, id)
	return id
}

func TestTemplateVideo(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	ep := registerHTTP(t, e, rc, nil)
	body := map[string]any{"variables": map[string]any{"name": "Ada"}, "title": "Welcome Ada", "dimension": map[string]any{"width": 1280, "height": 720}, "caption": true}
	cv := heygen.CreatedVideo{VideoID: mustTemplate(t, e, "tpl_123", body, "p-render", "p-render")}

	v := waitVideo(t, e, cv.VideoID)
	assert.Equal(t, heygen.StatusCompleted, v.Status)
	assert.Equal(t, "Welcome Ada", v.Title)
	assert.Empty(t, v.CallbackID, "a v3 video has no callback_id; the webhook carries it")
	assert.True(t, strings.HasSuffix(v.ThumbnailURL, ".jpg"), v.ThumbnailURL)
	assert.True(t, strings.HasSuffix(v.SubtitleURL, ".srt"), v.SubtitleURL)
	assert.Equal(t, FileBytes(cv.VideoID), requireServed(t, e, v.VideoURL))
	requireServed(t, e, v.ThumbnailURL)
	srt := requireServed(t, e, v.SubtitleURL)
	assert.True(t, strings.HasPrefix(string(srt), "1\n00:00:00,000 --> 00:00:02,500\n"), string(srt))

	eventually(t, func() bool { return rc.count() == 1 }, "webhook")
	d := rc.received()[0]
	require.NoError(t, heygen.VerifyRequest(d.header, d.body, []string{ep.Secret}))
	ev := parsed(t, rc)[0]
	assert.Equal(t, heygen.EventAvatarVideoSuccess, ev.Type)
	assert.Equal(t, cv.VideoID, ev.JobID)
	assert.Equal(t, "p-render", ev.CallbackID)

	// The idempotency key is per route: the same key replays here.
	again := mustTemplate(t, e, "tpl_123", body, "p-render", "p-render")
	assert.Equal(t, cv.VideoID, again)
	eventually(t, func() bool { return e.sb.Stats().JobsByCallbackID["p-render"].WebhooksAcked == 1 }, "webhook acked")
	truth := e.sb.Stats().JobsByCallbackID["p-render"]
	assert.Equal(t, JobTruth{VideoID: cv.VideoID, Kind: JobKindTemplate, Status: "completed", Creates: 1, Jobs: 1, WebhooksAcked: 1, Polled: true}, truth)
}

func TestTemplateVideoRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	_, err := e.client.CreateTemplateVideo(ctx, MagicTemplateMissing, heygen.CreateVideoRequest{Body: templateBody(), CallbackID: "x"})
	var ae *heygen.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)
	assert.True(t, heygen.IsPermanent(err))

	for name, body := range map[string]map[string]any{
		"no variables":            {"title": "t"},
		"variables not an object": {"variables": "x"},
		"dimension without width": {"variables": map[string]any{}, "dimension": map[string]any{"height": 720}},
		"title a number":          {"variables": map[string]any{}, "title": 7},
		"bad callback_url":        {"variables": map[string]any{}, "callback_url": "ftp://x"},
	} {
		_, err := e.client.CreateTemplateVideo(ctx, "tpl_1", heygen.CreateVideoRequest{Body: body})
		require.ErrorAs(t, err, &ae, name)
		assert.Equal(t, http.StatusBadRequest, ae.Status, name)
		assert.Equal(t, "invalid_parameter", ae.Code, name)
	}
	assert.Zero(t, e.sb.Stats().Creates)

	failed := heygen.CreatedVideo{VideoID: mustTemplate(t, e, MagicTemplateFail, templateBody(), "f", "")}
	stuck := heygen.CreatedVideo{VideoID: mustTemplate(t, e, MagicTemplateStuck, templateBody(), "s", "")}
	v := waitVideo(t, e, failed.VideoID)
	assert.Equal(t, heygen.StatusFailed, v.Status)
	assert.Equal(t, FailureCodeRenderFailed, v.FailureCode)
	v, err = e.client.GetVideo(ctx, stuck.VideoID)
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusProcessing, v.Status, "created before the failing one ended")
	st := e.sb.Stats()
	assert.True(t, st.JobsByCallbackID["s"].Stuck)
	assert.Equal(t, 1, st.RendersStuck)
	assert.Equal(t, 1, st.RendersFailed)
}

// studioBody is a valid v3 studio body with one scene.
func studioBody() map[string]any {
	return map[string]any{"type": "studio", "scenes": []any{map[string]any{
		"type": "avatar_video", "input": map[string]any{"type": "avatar", "avatar_id": "a1", "voice_id": "v1", "script": "Hi."}}}}
}

// TestRetiredRoutes: HeyGen retired its v1 and v2 endpoints on 2026-11-01, and the
// sandbox no longer serves them; nothing is created.
func TestRetiredRoutes(t *testing.T) {
	e := newEnv(t, Config{})
	status, _, out := postJSON(t, e, "/v2/video/generate", map[string]any{"video_inputs": []any{}}, nil)
	assert.Equal(t, http.StatusNotFound, status, out)
	status, _, out = getJSON(t, e, "/v1/video_status.get?video_id=v_1")
	assert.Equal(t, http.StatusNotFound, status, out)
	assert.Zero(t, e.sb.Stats().Creates)
}

func translationBody(langs ...string) map[string]any {
	return map[string]any{"video": map[string]any{"type": "url", "url": "https://example.test/source.mp4"}, "output_languages": langs, "mode": "speed", "title": "tr", "enable_caption": true}
}

func TestTranslations(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()

	langs, err := e.client.TranslationLanguages(ctx)
	require.NoError(t, err)
	assert.Subset(t, langs, []string{"Spanish (Spain)", "French", "German", "Japanese", "Portuguese (Brazil)"})
	assert.NotContains(t, langs, MagicLanguageFail)

	ids, err := e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French", MagicLanguageFail, "German"), CallbackID: "p-translate-multi"})
	require.NoError(t, err)
	require.Len(t, ids, 3, "one translation per language")
	one, err := e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("Spanish (Spain)"), CallbackID: "p-translate-es-ES"})
	require.NoError(t, err)
	require.Len(t, one, 1)

	all := append(append([]string{}, ids...), one...)
	eventually(t, func() bool {
		entries, err := e.client.TranslationStatuses(ctx, all)
		if err != nil {
			return false
		}
		for _, en := range entries {
			if !en.Status.Terminal() {
				return false
			}
		}
		return true
	}, "translations end")
	entries, err := e.client.TranslationStatuses(ctx, append(all, "nope"))
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusCompleted, entries[0].Status)
	assert.Equal(t, heygen.StatusFailed, entries[1].Status)
	assert.NotEmpty(t, entries[1].Error)
	assert.Equal(t, heygen.StatusNotFound, entries[4].Status)

	tr, err := e.client.GetTranslation(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusCompleted, tr.Status)
	assert.Equal(t, "French", tr.OutputLanguage)
	assert.Equal(t, "p-translate-multi", tr.CallbackID)
	assert.Positive(t, tr.Duration)
	assert.Equal(t, FileBytes(ids[0]), requireServed(t, e, tr.VideoURL))
	srt := requireServed(t, e, tr.SRTCaptionURL)
	vtt := requireServed(t, e, tr.VTTCaptionURL)
	assert.Contains(t, string(srt), ids[0])
	assert.True(t, strings.HasPrefix(string(vtt), "WEBVTT\n"))

	kl, err := e.client.GetTranslation(ctx, ids[1])
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusFailed, kl.Status)
	assert.Contains(t, kl.FailureMessage, "sandbox magic value")
	assert.Empty(t, kl.VideoURL)

	eventually(t, func() bool { return rc.count() == 4 }, "one webhook per translation")
	byID := map[string]heygen.Event{}
	for _, ev := range parsed(t, rc) {
		byID[ev.JobID] = ev
	}
	fr, fail, es := byID[ids[0]], byID[ids[1]], byID[one[0]]
	assert.Equal(t, heygen.EventVideoTranslateSuccess, fr.Type)
	assert.Equal(t, "French", fr.OutputLanguage)
	assert.Equal(t, "p-translate-multi", fr.CallbackID)
	assert.NotEmpty(t, fr.URL)
	assert.Equal(t, heygen.EventVideoTranslateFail, fail.Type)
	assert.Equal(t, MagicLanguageFail, fail.OutputLanguage)
	assert.NotEmpty(t, fail.Message)
	assert.Equal(t, "p-translate-es-ES", es.CallbackID)

	// Translations are not videos.
	_, err = e.client.GetVideo(ctx, ids[0])
	assert.True(t, heygen.IsPermanent(err))
	_, err = e.client.GetTranslation(ctx, "nope")
	assert.True(t, heygen.IsPermanent(err))

	st := e.sb.Stats()
	multi := st.JobsByCallbackID["p-translate-multi"]
	assert.Equal(t, 1, multi.Creates)
	assert.Equal(t, 3, multi.Jobs)
	assert.Equal(t, JobKindTranslation, multi.Kind)
	assert.Equal(t, JobTruth{VideoID: one[0], Kind: JobKindTranslation, Status: "completed", Creates: 1, Jobs: 1, OutputLanguage: "Spanish (Spain)", WebhooksAcked: 1, Polled: true}, st.JobsByCallbackID["p-translate-es-ES"])
	assert.Equal(t, 1, st.RendersFailed)
	assert.Equal(t, 4, st.Creates)
}

func TestTranslationAudioOnlyAndAsset(t *testing.T) {
	e := newEnv(t, Config{})
	body := map[string]any{"video": map[string]any{"type": "asset_id", "asset_id": "as_1"}, "output_languages": []string{"Japanese"}, "translate_audio_only": true}
	ids, err := e.client.CreateTranslation(context.Background(), heygen.CreateTranslationRequest{Body: body})
	require.NoError(t, err)
	var tr heygen.Translation
	eventually(t, func() bool {
		tr, err = e.client.GetTranslation(context.Background(), ids[0])
		return err == nil && tr.Status == heygen.StatusCompleted
	}, "done")
	assert.Empty(t, tr.VideoURL)
	audio := requireServed(t, e, tr.AudioURL)
	assert.Equal(t, "ID3", string(audio[:3]))
}

func TestTranslationValidation(t *testing.T) {
	e := newEnv(t, Config{})
	tests := []struct {
		name  string
		body  map[string]any
		param string
	}{
		{"no video", map[string]any{"output_languages": []string{"French"}}, "video"},
		{"video without url", map[string]any{"video": map[string]any{"type": "url"}, "output_languages": []string{"French"}}, "video.url"},
		{"video bad url", map[string]any{"video": map[string]any{"type": "url", "url": "file:///x"}, "output_languages": []string{"French"}}, "video.url"},
		{"asset without id", map[string]any{"video": map[string]any{"type": "asset_id"}, "output_languages": []string{"French"}}, "video.asset_id"},
		{"video bad type", map[string]any{"video": map[string]any{"type": "youtube", "url": "https://x"}, "output_languages": []string{"French"}}, "video.type"},
		{"video without type", map[string]any{"video": map[string]any{"url": "https://x/v.mp4"}, "output_languages": []string{"French"}}, "video.type"},
		{"no languages", map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}}, "output_languages"},
		{"languages not strings", map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}, "output_languages": []any{"French", 7}}, "output_languages[1]"},
		{"empty languages", translationBody(), "output_languages"},
		{"unknown language", translationBody("French", "Elvish"), "output_languages[1]"},
		{"duplicate language", translationBody("French", "French"), "output_languages[1]"},
		{"bad mode", map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}, "output_languages": []string{"French"}, "mode": "fast"}, "mode"},
		{"speaker_num a fraction", map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}, "output_languages": []string{"French"}, "speaker_num": 1.5}, "speaker_num"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, out := postJSON(t, e, "/v3/video-translations", tt.body, nil)
			require.Equal(t, http.StatusBadRequest, status, "%v", out)
			assert.Equal(t, tt.param, out["error"].(map[string]any)["param"])
		})
	}
	assert.Zero(t, e.sb.Stats().Creates)
}

func TestListVideos(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute})
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		b := avatarBody("a1")
		b["title"] = "batch row " + strconv.Itoa(i)
		cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: b, CallbackID: "list-" + strconv.Itoa(i)})
		require.NoError(t, err)
		ids = append(ids, cv.VideoID)
	}
	mustTemplate(t, e, "tpl", map[string]any{"title": "other", "variables": map[string]any{}}, "", "")
	_, err := e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French")})
	require.NoError(t, err)

	// Raw pages of 2, newest first.
	var seen []string
	path := "/v3/videos?title=BATCH&limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		status, _, out := getJSON(t, e, path)
		require.Equal(t, http.StatusOK, status, "%v", out)
		for _, row := range out["data"].([]any) {
			seen = append(seen, row.(map[string]any)["id"].(string))
		}
		if out["has_more"] != true {
			break
		}
		path = "/v3/videos?title=BATCH&limit=2&token=" + out["next_token"].(string)
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	assert.Equal(t, want, seen)

	// Through the client: the adoption search by title. Rows have no callback_id: HeyGen
	// publishes none on a v3 video.
	vs, err := e.client.ListVideos(ctx, "row 3")
	require.NoError(t, err)
	require.Len(t, vs, 1)
	assert.Equal(t, ids[3], vs[0].ID)
	assert.Empty(t, vs[0].CallbackID)
	all, err := e.client.ListVideos(ctx, "")
	require.NoError(t, err)
	assert.Len(t, all, 6, "videos of every generation, no translations")

	status, _, _ := getJSON(t, e, "/v3/videos?token=garbage")
	assert.Equal(t, http.StatusBadRequest, status)
	status, _, _ = getJSON(t, e, "/v3/videos?limit=101")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, 5, e.sb.Stats().ListCalls, "3 raw pages and 2 client walks; refused ones are not counted")
}

func TestExpiringLinks(t *testing.T) {
	e := newEnv(t, Config{LinkTTL: 300 * time.Millisecond})
	ctx := context.Background()
	cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1")})
	require.NoError(t, err)
	v := waitVideo(t, e, cv.VideoID)
	assert.Contains(t, v.VideoURL, "?expires=")
	requireServed(t, e, v.VideoURL)

	// Tampered and unsigned links are refused at once.
	status, _ := download(t, strings.Replace(v.VideoURL, "sig=", "sig=0", 1))
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = download(t, e.srv.URL+"/files/"+cv.VideoID+".mp4")
	assert.Equal(t, http.StatusForbidden, status)

	// After the TTL the same link is a 403; a fresh GET gives a link that works.
	eventually(t, func() bool {
		status, _ := download(t, v.ThumbnailURL)
		return status == http.StatusForbidden
	}, "the link expires")
	fresh := waitVideo(t, e, cv.VideoID)
	assert.NotEqual(t, v.ThumbnailURL, fresh.ThumbnailURL)
	requireServed(t, e, fresh.ThumbnailURL)

	st := e.sb.Stats()
	assert.GreaterOrEqual(t, st.FileDownloads, 2)
	assert.GreaterOrEqual(t, st.FileDownloadsRefused, 3)
	before := st.FileDownloads

	// Links minted while TTL is 0 carry no expiry and do not expire.
	e.sb.SetLinkTTL(0)
	v = waitVideo(t, e, cv.VideoID)
	assert.Equal(t, e.srv.URL+"/files/"+cv.VideoID+".mp4", v.VideoURL)
	requireServed(t, e, v.VideoURL)
	assert.Equal(t, before+1, e.sb.Stats().FileDownloads)
}

func TestArtifactBytes(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute})
	cv, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1")})
	require.NoError(t, err)
	_, ok := e.sb.ArtifactBytes("/files/" + cv.VideoID + ".mp4")
	assert.False(t, ok, "not rendered yet")
	for _, link := range []string{"/files/nope.mp4", "/share/x", "::", "/files/.mp4"} {
		_, ok := e.sb.ArtifactBytes(link)
		assert.False(t, ok, link)
	}
	j := &job{ID: "abc", OutputFormat: "webm"}
	for ext, ok := range map[string]bool{"webm": true, "mp4": false, "jpg": true, "gif": true, "srt": true, "vtt": true, "mp3": false} {
		_, _, got := artifact(j, ext)
		assert.Equal(t, ok, got, ext)
	}
	tr := &job{ID: "abc", Kind: JobKindTranslation}
	for ext, ok := range map[string]bool{"mp4": true, "jpg": false, "gif": false, "srt": true, "vtt": true, "mp3": false} {
		_, _, got := artifact(tr, ext)
		assert.Equal(t, ok, got, ext)
	}
	assert.Equal(t, srtBytes("abc"), srtBytes("abc"))
	assert.NotEqual(t, srtBytes("abc"), srtBytes("abd"))
}
