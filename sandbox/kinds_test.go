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
		"dimension negative":      {"variables": map[string]any{}, "dimension": map[string]any{"width": -1, "height": 720}},
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

// legacyBody is a valid v2 body with n scenes.
func legacyBody(avatarID string, n int) map[string]any {
	scenes := make([]any, n)
	for i := range scenes {
		scenes[i] = map[string]any{
			"character":  map[string]any{"type": "avatar", "avatar_id": avatarID, "avatar_style": "normal"},
			"voice":      map[string]any{"type": "text", "voice_id": "v1", "input_text": "Scene " + strconv.Itoa(i)},
			"background": map[string]any{"type": "color", "value": "#ffffff"},
		}
	}
	return map[string]any{"video_inputs": scenes, "dimension": map[string]any{"width": 1280, "height": 720}, "title": "legacy"}
}

func TestLegacyVideo(t *testing.T) {
	e := newEnv(t, Config{})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	cv, err := e.client.CreateLegacyVideo(ctx, heygen.CreateVideoRequest{Body: legacyBody("a1", 2), CallbackID: "p-render"})
	require.NoError(t, err)

	// The raw status answer is the v1 envelope, and the render starts "waiting".
	status, _, out := getJSON(t, e, "/v1/video_status.get?video_id="+cv.VideoID)
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 100, out["code"])
	assert.Equal(t, "waiting", out["data"].(map[string]any)["status"])

	var v heygen.Video
	eventually(t, func() bool {
		v, err = e.client.GetLegacyVideo(ctx, cv.VideoID)
		return err == nil && v.Status.Terminal()
	}, "legacy video ends")
	assert.Equal(t, heygen.StatusCompleted, v.Status)
	assert.Equal(t, "p-render", v.CallbackID)
	assert.Positive(t, v.Duration)
	requireServed(t, e, v.VideoURL)
	requireServed(t, e, v.ThumbnailURL)
	requireServed(t, e, v.GIFURL)
	assert.True(t, strings.HasSuffix(v.SubtitleURL, ".srt"), "caption_url reads as SubtitleURL")
	requireServed(t, e, v.SubtitleURL)
	eventually(t, func() bool { return rc.count() == 1 }, "webhook")
	assert.Equal(t, heygen.EventAvatarVideoSuccess, parsed(t, rc)[0].Type)

	failed, err := e.client.CreateLegacyVideo(ctx, heygen.CreateVideoRequest{Body: legacyBody(MagicAvatarFail, 1), CallbackID: "p-fail"})
	require.NoError(t, err)
	eventually(t, func() bool {
		v, err = e.client.GetLegacyVideo(ctx, failed.VideoID)
		return err == nil && v.Status.Terminal()
	}, "legacy failure")
	assert.Equal(t, heygen.StatusFailed, v.Status)
	assert.Equal(t, strconv.Itoa(LegacyErrorCode(FailureCodeAvatarUnavailable)), v.FailureCode)
	assert.NotEmpty(t, v.FailureMessage)

	_, err = e.client.GetLegacyVideo(ctx, "nope")
	var ae *heygen.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusNotFound, ae.Status)
	assert.Equal(t, e.sb.Stats().JobsByCallbackID["p-render"].Kind, JobKindLegacy)
}

func TestLegacyValidation(t *testing.T) {
	e := newEnv(t, Config{})
	noVoice := legacyBody("a1", 1)
	delete(noVoice["video_inputs"].([]any)[0].(map[string]any), "voice")
	photo := legacyBody("a1", 1)
	photo["video_inputs"].([]any)[0].(map[string]any)["character"] = map[string]any{"type": "talking_photo"}
	noText := legacyBody("a1", 1)
	noText["video_inputs"].([]any)[0].(map[string]any)["voice"] = map[string]any{"type": "text", "voice_id": "v"}
	long := legacyBody("a1", 1)
	long["video_inputs"].([]any)[0].(map[string]any)["voice"] = map[string]any{"type": "text", "voice_id": "v", "input_text": strings.Repeat("a", maxScriptChars+1)}
	silence := legacyBody("a1", 1)
	silence["video_inputs"].([]any)[0].(map[string]any)["voice"] = map[string]any{"type": "silence"}
	tests := []struct {
		name   string
		body   any
		status int
		param  string
	}{
		{"ok, 50 scenes", legacyBody("a1", 50), 200, ""},
		{"ok, silence", silence, 200, ""},
		{"no video_inputs", map[string]any{"title": "x"}, 400, "video_inputs"},
		{"empty video_inputs", map[string]any{"video_inputs": []any{}}, 400, "video_inputs"},
		{"51 scenes", legacyBody("a1", 51), 400, "video_inputs"},
		{"no voice", noVoice, 400, "video_inputs[0].voice"},
		{"talking photo without id", photo, 400, "video_inputs[0].character.talking_photo_id"},
		{"no input_text", noText, 400, "video_inputs[0].voice.input_text"},
		{"script too long", long, 400, "video_inputs[0].voice.input_text"},
		{"bad dimension", map[string]any{"video_inputs": legacyBody("a", 1)["video_inputs"], "dimension": map[string]any{"width": 1.5, "height": 2}}, 400, "dimension.width"},
		{"not json", "{", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, out := postJSON(t, e, "/v2/video/generate", tt.body, nil)
			require.Equal(t, tt.status, status, "%v", out)
			assert.Contains(t, out, "data", "legacy envelope")
			assert.Contains(t, out, "error", "legacy envelope")
			if tt.status == 200 {
				assert.Nil(t, out["error"])
				assert.NotEmpty(t, out["data"].(map[string]any)["video_id"])
				return
			}
			assert.Nil(t, out["data"])
			errObj := out["error"].(map[string]any)
			assert.NotEmpty(t, errObj["code"])
			assert.NotEmpty(t, errObj["message"])
			if tt.param != "" {
				assert.Equal(t, tt.param, errObj["param"])
			}
		})
	}
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
		{"bad speaker_num", map[string]any{"video": map[string]any{"type": "url", "url": "https://x/v.mp4"}, "output_languages": []string{"French"}, "speaker_num": 0}, "speaker_num"},
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
