package heygen

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEventShapes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Event // Data is checked separately
		outcome Outcome
		known   bool
	}{
		{
			name:    "avatar_video.success documented (url)",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"https://r/v1.mp4","callback_id":"Job:1"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "https://r/v1.mp4", CallbackID: "Job:1"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "avatar_video.success older guides (video_url, thumbnail_url, duration)",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","video_url":"https://r/v1.mp4","thumbnail_url":"https://r/t.jpg","duration":42.5,"callback_id":"Job:1"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "https://r/v1.mp4", ThumbnailURL: "https://r/t.jpg", Duration: 42.5, CallbackID: "Job:1"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "avatar_video.success url wins over video_url",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"https://r/a","video_url":"https://r/b"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "https://r/a"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "avatar_video.success empty url falls back to video_url",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"","video_url":"https://r/b"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "https://r/b"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "avatar_video.success logged real delivery",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"https://r/v1.mp4","gif_download_url":"https://r/v1.gif","video_share_page_url":"https://app/share/v1","folder_id":"f9","callback_url":"https://me/cb","callback_id":"Job:1"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "https://r/v1.mp4", GIFURL: "https://r/v1.gif", SharePageURL: "https://app/share/v1", CallbackID: "Job:1"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "avatar_video.success duration as string, gif_url and caption_url",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"u","gif_url":"g","caption_url":"c","duration":"7.25"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "u", GIFURL: "g", CaptionURL: "c", Duration: 7.25},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "avatar_video.fail msg",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","msg":"avatar not found","callback_id":"Job:1"}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1", Message: "avatar not found", CallbackID: "Job:1"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "avatar_video.fail message",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","message":"script too long","callback_id":"Job:1"}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1", Message: "script too long", CallbackID: "Job:1"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "avatar_video.fail error string",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","error":"render crashed","callback_id":"Job:1"}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1", Message: "render crashed", CallbackID: "Job:1"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "avatar_video.fail error object",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","error":{"code":40012,"message":"voice not found","detail":"voice v9 was deleted"},"callback_id":"Job:1"}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1", Message: "40012: voice not found", FailureCode: "40012", CallbackID: "Job:1"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "avatar_video.fail error object with detail only",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","error":{"code":null,"message":"","detail":"it broke"}}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1", Message: "it broke"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "avatar_video.fail error object with code only",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","error":{"code":"E1"}}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1", Message: "E1", FailureCode: "E1"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "avatar_video.fail msg wins over error",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","msg":"first","message":"second","error":"third"}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1", Message: "first"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "avatar_video.fail with no message at all",
			body:    `{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","error":null}}`,
			want:    Event{Type: EventAvatarVideoFail, JobID: "v1"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "video_translate.success",
			body:    `{"event_type":"video_translate.success","event_data":{"video_translate_id":"tr1","url":"https://r/tr1.mp4","callback_id":"Job:2","output_language":"Spanish (Spain)"}}`,
			want:    Event{Type: EventVideoTranslateSuccess, JobID: "tr1", URL: "https://r/tr1.mp4", CallbackID: "Job:2", OutputLanguage: "Spanish (Spain)"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "video_translate.success with the source video_id too",
			body:    `{"event_type":"video_translate.success","event_data":{"video_id":"src","video_translate_id":"tr1","url":"u"}}`,
			want:    Event{Type: EventVideoTranslateSuccess, JobID: "tr1", URL: "u"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "video_translate.fail",
			body:    `{"event_type":"video_translate.fail","event_data":{"video_translate_id":"tr1","message":"unsupported language","callback_id":"Job:2","output_language":"Klingon"}}`,
			want:    Event{Type: EventVideoTranslateFail, JobID: "tr1", Message: "unsupported language", CallbackID: "Job:2", OutputLanguage: "Klingon"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "preflight validation failed",
			body:    `{"event_type":"video_translate.preflight.validation_failed","event_data":{"video_translate_id":"tr1","message":"video too long","callback_id":"Job:2"}}`,
			want:    Event{Type: EventTranslatePreflightValidationFailed, JobID: "tr1", Message: "video too long", FailureCode: "validation_failed", CallbackID: "Job:2"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "preflight download failed",
			body:    `{"event_type":"video_translate.preflight.download_failed","event_data":{"video_translate_id":"tr1","msg":"403 from source","callback_id":"Job:2"}}`,
			want:    Event{Type: EventTranslatePreflightDownloadFailed, JobID: "tr1", Message: "403 from source", FailureCode: "download_failed", CallbackID: "Job:2"},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "event_id and created_at as strings",
			body:    `{"event_id":"evt_1","created_at":"2024-05-01T08:00:00Z","event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"u"}}`,
			want:    Event{ID: "evt_1", CreatedAt: "2024-05-01T08:00:00Z", Type: EventAvatarVideoSuccess, JobID: "v1", URL: "u"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "event_id and created_at as numbers",
			body:    `{"event_id":12345678901234567890,"created_at":1714550400.5,"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"u"}}`,
			want:    Event{ID: "12345678901234567890", CreatedAt: "1714550400.5", Type: EventAvatarVideoSuccess, JobID: "v1", URL: "u"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "created_at of an odd shape is dropped, not fatal",
			body:    `{"created_at":{"seconds":1},"event_type":"avatar_video.success","event_data":{"video_id":"v1"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "unknown type",
			body:    `{"event_type":"photo_avatar_train.success","event_data":{"id":"pa1"}}`,
			want:    Event{Type: "photo_avatar_train.success", JobID: "pa1"},
			outcome: OutcomeSuccess, known: false,
		},
		{
			name:    "unknown type, neither success nor failure",
			body:    `{"event_type":"batch.finished","event_data":{"batch_id":"b1"}}`,
			want:    Event{Type: "batch.finished"},
			outcome: OutcomeOther, known: false,
		},
		{
			name:    "personalized_video",
			body:    `{"event_type":"personalized_video","event_data":{"project_id":"p"}}`,
			want:    Event{Type: "personalized_video"},
			outcome: OutcomeOther, known: false,
		},
		{
			name:    "unknown gif event",
			body:    `{"event_type":"avatar_video_gif.fail","event_data":{"video_id":"v1","msg":"no gif"}}`,
			want:    Event{Type: "avatar_video_gif.fail", JobID: "v1", Message: "no gif"},
			outcome: OutcomeFailure, known: false,
		},
		{
			name:    "missing callback_id",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"u"}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "u"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "numeric callback_id and video_id",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":17,"callback_id":42}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "17", CallbackID: "42"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "known fields of odd types read as empty, not fatal",
			body:    `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":{"href":"x"},"video_url":"https://r/v","duration":"n/a","thumbnail_url":["t"],"msg":false}}`,
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", URL: "https://r/v"},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "no event_data",
			body:    `{"event_type":"avatar_video.success"}`,
			want:    Event{Type: EventAvatarVideoSuccess},
			outcome: OutcomeSuccess, known: true,
		},
		{
			name:    "event_data null",
			body:    `{"event_type":"avatar_video.fail","event_data":null}`,
			want:    Event{Type: EventAvatarVideoFail},
			outcome: OutcomeFailure, known: true,
		},
		{
			name:    "whitespace around body and type",
			body:    "\n  {\"event_type\":\" avatar_video.success \",\"event_data\":{\"video_id\":\" v1 \",\"callback_id\":\" Job:1 \"}}  \r\n",
			want:    Event{Type: EventAvatarVideoSuccess, JobID: "v1", CallbackID: "Job:1"},
			outcome: OutcomeSuccess, known: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEvent([]byte(tt.body))
			require.NoError(t, err)
			data := got.Data
			got.Data = nil
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.outcome, got.Outcome(), "Outcome")
			assert.Equal(t, tt.known, got.Known(), "Known")

			// Data is event_data as received, extra fields included.
			var env struct {
				EventData json.RawMessage `json:"event_data"`
			}
			require.NoError(t, json.Unmarshal([]byte(tt.body), &env))
			if len(env.EventData) == 0 || string(env.EventData) == "null" {
				assert.Empty(t, data)
			} else {
				assert.JSONEq(t, string(env.EventData), string(data))
			}

			// The event survives its own JSON form, as a Temporal signal payload.
			got.Data = data
			b, err := json.Marshal(got)
			require.NoError(t, err)
			var back Event
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, got.DedupeKey(), back.DedupeKey())
			assert.Equal(t, got.Type, back.Type)
			assert.Equal(t, got.Message, back.Message)
		})
	}
}

func TestParseEventKeepsExtraFields(t *testing.T) {
	body := `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"u","folder_id":"f9","callback_url":"https://me/cb","new_field":{"nested":[1,2,3]}}}`
	ev, err := ParseEvent([]byte(body))
	require.NoError(t, err)
	var data map[string]any
	require.NoError(t, json.Unmarshal(ev.Data, &data))
	assert.Equal(t, "f9", data["folder_id"])
	assert.Equal(t, "https://me/cb", data["callback_url"])
	assert.Equal(t, map[string]any{"nested": []any{1.0, 2.0, 3.0}}, data["new_field"])

	// Data is a copy: reusing the request buffer must not change the event.
	buf := []byte(body)
	ev, err = ParseEvent(buf)
	require.NoError(t, err)
	before := string(ev.Data)
	for i := range buf {
		buf[i] = 'x'
	}
	assert.Equal(t, before, string(ev.Data))
}

func TestParseEventMalformed(t *testing.T) {
	tests := []struct{ name, body string }{
		{"nil", ""},
		{"blank", "  \n\t"},
		{"null", "null"},
		{"array", "[]"},
		{"array of event", `[{"event_type":"avatar_video.success"}]`},
		{"string", `"avatar_video.success"`},
		{"number", "42"},
		{"empty object", "{}"},
		{"no event_type", `{"event_data":{"video_id":"v1"}}`},
		{"event_type null", `{"event_type":null,"event_data":{}}`},
		{"event_type empty", `{"event_type":"","event_data":{}}`},
		{"event_type blank", `{"event_type":"   "}`},
		{"event_type number", `{"event_type":7,"event_data":{}}`},
		{"event_type object", `{"event_type":{"name":"avatar_video.success"}}`},
		{"event_type array", `{"event_type":["avatar_video.success"]}`},
		{"event_data string", `{"event_type":"avatar_video.success","event_data":"v1"}`},
		{"event_data array", `{"event_type":"avatar_video.success","event_data":[{"video_id":"v1"}]}`},
		{"event_data number", `{"event_type":"avatar_video.success","event_data":1}`},
		{"event_data true", `{"event_type":"avatar_video.success","event_data":true}`},
		{"trailing junk", `{"event_type":"avatar_video.success","event_data":{}} junk`},
		{"trailing object", `{"event_type":"avatar_video.success"}{"event_type":"avatar_video.fail"}`},
		{"trailing brace", `{"event_type":"avatar_video.success"}}`},
		{"trailing bracket", `{"event_type":"avatar_video.success"}]`},
		{"truncated", `{"event_type":"avatar_video.success","event_data":{"video_id":"v1"`},
		{"invalid json", `{event_type: avatar_video.success}`},
		{"single quotes", `{'event_type':'avatar_video.success'}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseEvent([]byte(tt.body))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformedEvent)
			assert.Equal(t, Event{}, ev)
		})
	}
}

func TestOutcomeAndKnown(t *testing.T) {
	tests := []struct {
		typ     string
		outcome Outcome
		known   bool
	}{
		{EventAvatarVideoSuccess, OutcomeSuccess, true},
		{EventAvatarVideoFail, OutcomeFailure, true},
		{EventVideoTranslateSuccess, OutcomeSuccess, true},
		{EventVideoTranslateFail, OutcomeFailure, true},
		{EventTranslatePreflightValidationFailed, OutcomeFailure, true},
		{EventTranslatePreflightDownloadFailed, OutcomeFailure, true},
		{"avatar_video_gif.success", OutcomeSuccess, false},
		{"avatar_video_caption.fail", OutcomeFailure, false},
		{"instant_avatar.success", OutcomeSuccess, false},
		{"video_agent.fail", OutcomeFailure, false},
		{"batch.finished", OutcomeOther, false},
		{"personalized_video", OutcomeOther, false},
		{"", OutcomeOther, false},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			ev := Event{Type: tt.typ}
			assert.Equal(t, tt.outcome, ev.Outcome())
			assert.Equal(t, tt.known, ev.Known())
		})
	}
}

func TestDedupeKey(t *testing.T) {
	parse := func(body string) Event {
		t.Helper()
		ev, err := ParseEvent([]byte(body))
		require.NoError(t, err)
		return ev
	}
	base := parse(`{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"https://r/a?sig=1","callback_id":"Job:1"}}`)
	// Duplicates: a re-delivery with a fresh presigned URL, other spellings, event ids
	// and timestamps, reordered keys. All are the same fact.
	dups := []string{
		`{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"https://r/a?sig=1","callback_id":"Job:1"}}`,
		`{"event_data":{"callback_id":"Job:1","video_id":"v1","url":"https://r/a?sig=2"},"event_type":"avatar_video.success"}`,
		`{"event_type":"avatar_video.success","event_data":{"video_id":"v1","video_url":"https://r/b","thumbnail_url":"t","callback_id":"Job:1"}}`,
		`{"event_id":"evt_9","created_at":1714550400,"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"u","callback_id":"Job:1"}}`,
	}
	for _, d := range dups {
		assert.Equal(t, base.DedupeKey(), parse(d).DedupeKey(), d)
	}
	assert.Len(t, base.DedupeKey(), 32)

	different := []string{
		`{"event_type":"avatar_video.fail","event_data":{"video_id":"v1","callback_id":"Job:1"}}`,
		`{"event_type":"avatar_video.success","event_data":{"video_id":"v2","callback_id":"Job:1"}}`,
		`{"event_type":"avatar_video.success","event_data":{"video_id":"v1","callback_id":"Job:2"}}`,
		`{"event_type":"avatar_video.success","event_data":{"video_id":"v1"}}`,
		`{"event_type":"avatar_video_gif.success","event_data":{"video_id":"v1","callback_id":"Job:1"}}`,
	}
	seen := map[string]string{base.DedupeKey(): "base"}
	for _, d := range different {
		k := parse(d).DedupeKey()
		prev, dup := seen[k]
		assert.False(t, dup, "%s collides with %s", d, prev)
		seen[k] = d
	}
	// Field boundaries matter: moving text between job and callback is another fact.
	a := Event{Type: "t", JobID: "ab", CallbackID: "c"}
	b := Event{Type: "t", JobID: "a", CallbackID: "bc"}
	assert.NotEqual(t, a.DedupeKey(), b.DedupeKey())
}
