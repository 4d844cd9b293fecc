package spec

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseChecksHeyGenBodies: each HeyGen body is checked against HeyGen's published
// request schema, every problem at its line.
func TestParseChecksHeyGenBodies(t *testing.T) {
	const v3 = " (HeyGen's POST /v3/videos)"
	const tpl = " (HeyGen's POST /v3/templates/{template_id})"
	tests := []struct {
		name string
		src  string
		want string // the whole message after "invalid spec: "
	}{
		{"a typo, and not its missing field", "id: x\nvideo:\n  type: avatar\n  avatr_id: a\n  voice_id: v\n",
			"s.yaml:4: video.avatr_id: unknown key; did you mean avatar_id?" + v3},
		{"a typo in a flow mapping", "id: x\nvideo: {type: avatar, avatr_id: a}\n",
			"s.yaml:2: video.avatr_id: unknown key; did you mean avatar_id?" + v3},
		{"a missing field, at its block", "id: x\nvideo:\n  type: avatar\n  script: hi\n",
			"s.yaml:2: video.avatar_id: required by HeyGen's POST /v3/videos"},
		{"a wrong type", "id: x\nvideo:\n  type: avatar\n  avatar_id: a\n  voice_id: 3\n",
			"s.yaml:5: video.voice_id: got number, want null or string" + v3},
		{"a value not in the enum", "id: x\nvideo:\n  type: avatar\n  avatar_id: a\n  resolution: 8k\n",
			`s.yaml:5: video.resolution: must be one of "4k", "1080p", "720p", null` + v3},
		{"a nested typo", "id: x\nvideo:\n  type: avatar\n  avatar_id: a\n  voice_settings:\n    sped: 1.1\n",
			"s.yaml:6: video.voice_settings.sped: unknown key; did you mean speed?" + v3},
		{"an unknown video type", "id: x\nvideo: {type: avatr, avatar_id: a}\n",
			`s.yaml:2: video.type: type "avatr" is not one of avatar, cinematic_avatar, image, studio` + v3},
		{"every problem at once", "id: x\nvideo:\n  type: avatar\n  avatr_id: a\n  voice_id: 3\n  resolution: 8k\n",
			"s.yaml:4: video.avatr_id: unknown key; did you mean avatar_id?" + v3 + "\n" +
				"s.yaml:5: video.voice_id: got number, want null or string" + v3 + "\n" +
				`s.yaml:6: video.resolution: must be one of "4k", "1080p", "720p", null` + v3},
		{"studio without scenes", "id: x\nvideo:\n  type: studio\n  title: T\n",
			"s.yaml:2: video.scenes: required by HeyGen's POST /v3/videos"},
		{"a studio scene of no published type", "id: x\nvideo:\n  type: studio\n  scenes:\n" +
			"    - {type: avatar_video, input: {type: avatar, avatar_id: a}}\n" +
			"    - type: avatar\n      script: hi\n",
			`s.yaml:6: video.scenes[1].type: must be one of "avatar_video", "image", "video"` + v3},
		{"a typo inside a studio scene", "id: x\nvideo:\n  type: studio\n  scenes:\n    - type: avatar_video\n      input:\n        type: avatar\n        avatar_id: a\n        scrpt: hi\n",
			"s.yaml:9: video.scenes[0].input.scrpt: unknown key; did you mean script?" + v3},
		{"a template without variables", "id: x\ntemplate:\n  id: t\n  title: T\n",
			"s.yaml:2: template.variables: required by HeyGen's POST /v3/templates/{template_id}"},
		{"a template typo", "id: x\ntemplate:\n  id: t\n  varaibles: {}\n",
			"s.yaml:4: template.varaibles: unknown key; did you mean variables?" + tpl},
		{"a template's wrong type", "id: x\ntemplate:\n  id: t\n  variables: {}\n  dimension: {width: wide, height: 720}\n",
			"s.yaml:5: template.dimension.width: got string, want integer" + tpl},
		{"a translation's problem is said once, by the spec", "id: x\nvideo: {type: avatar, avatar_id: a}\ntranslate: {languages: [French, German], mode: fast}\n",
			`s.yaml:3: translate.mode: "fast" is not speed or precision`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src))
			require.ErrorIs(t, err, ErrInvalid)
			assert.Equal(t, "invalid spec: "+tt.want, err.Error())
		})
	}
}

func TestParseUnknownBodyKeyListsPublished(t *testing.T) {
	_, err := Parse("s.yaml", []byte("id: x\nvideo:\n  type: avatar\n  avatar_id: a\n  colour: red\n"))
	require.ErrorIs(t, err, ErrInvalid)
	assert.True(t, strings.HasPrefix(err.Error(),
		"invalid spec: s.yaml:5: video.colour: unknown key; HeyGen's POST /v3/videos takes aspect_ratio, audio_asset_id, audio_url, avatar_id,"), err.Error())
}

func TestParseGoodBodies(t *testing.T) {
	for name, src := range map[string]string{
		"avatar":       "id: x\nvideo: {type: avatar, avatar_id: a, voice_id: v, script: hi, resolution: 1080p, voice_settings: {speed: 1.1}}\n",
		"image":        "id: x\nvideo: {type: image, image: {type: url, url: 'https://a/b.png'}, script: hi}\n",
		"studio":       "id: x\nvideo:\n  type: studio\n  scenes:\n    - {type: avatar_video, input: {type: avatar, avatar_id: a, script: hi}}\n    - {type: video, source: {type: url, url: 'https://a/b.mp4'}}\n",
		"template":     "id: x\ntemplate: {id: t, variables: {name: {name: name, type: text, properties: {content: Ana}}}, dimension: {width: 1280, height: 720}}\n",
		"translations": "id: x\nsource: {url: 'https://a/b.mp4'}\ntranslate: {languages: [French, Spanish (Spain)], mode: precision, captions: true}\ntitle: T\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(src))
			require.NoError(t, err)
		})
	}
}

func TestTranslationField(t *testing.T) {
	for p, want := range map[string]string{
		"output_languages[0]": "translate.languages[2]",
		"output_languages":    "translate.languages[2]",
		"mode":                "translate.mode",
		"enable_caption":      "translate.captions",
		"title":               "title",
		"video.url":           "source.url",
		"srt":                 "translate",
	} {
		assert.Equal(t, want, translationField(p, 2), p)
	}
}

func TestParseTimeoutsAgree(t *testing.T) {
	const head = "id: x\nvideo: {type: avatar, avatar_id: a}\ntimeouts:\n" // lines 1-3
	tests := []struct {
		name, timeouts, want string
	}{
		{"deadline inside the push window", "  deadline: 1m\n  push_window: 10m\n",
			"s.yaml:4: timeouts.deadline: deadline 1m is not longer than push_window 10m: the deadline counts from the Job's start and includes the wait for a webhook; make deadline longer or push_window shorter"},
		{"deadline inside the default push window", "  deadline: 5m\n",
			"s.yaml:4: timeouts.deadline: deadline 5m is not longer than push_window 10m (the default): the deadline counts from the Job's start and includes the wait for a webhook; make deadline longer or push_window shorter"},
		{"push window past the default deadline", "  push_window: 30h\n",
			"s.yaml:4: timeouts.push_window: deadline 24h (the default) is not longer than push_window 30h: the deadline counts from the Job's start and includes the wait for a webhook; make deadline longer or push_window shorter"},
		{"equal", "  push_window: 2h\n  deadline: 2h\n",
			"s.yaml:5: timeouts.deadline: deadline 2h is not longer than push_window 2h: the deadline counts from the Job's start and includes the wait for a webhook; make deadline longer or push_window shorter"},
		{"poll_max under poll_initial", "  poll_initial: 1m\n  poll_max: 30s\n",
			"s.yaml:5: timeouts.poll_max: 30s is shorter than poll_initial 1m: polls start poll_initial apart and double up to poll_max"},
		{"a sweep past the deadline", "  push_window: 1m\n  deadline: 30m\n  sweep: 30m\n",
			"s.yaml:6: timeouts.sweep: 30m is not shorter than deadline 30m: a waiting Job would give up before its first sweep"},
		{"a sweep past the default deadline", "  sweep: 48h\n",
			"s.yaml:4: timeouts.sweep: 48h is not shorter than deadline 24h (the default): a waiting Job would give up before its first sweep"},
		{"a bad value is the only problem", "  deadline: soon\n  push_window: 30h\n",
			`s.yaml:4: timeouts.deadline: "soon" is not a positive duration such as 15m or 24h`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(head+tt.timeouts))
			require.ErrorIs(t, err, ErrInvalid)
			assert.Equal(t, "invalid spec: "+tt.want, err.Error())
		})
	}
	for _, good := range []string{"  deadline: 11m\n", "  push_window: 1m\n  deadline: 2m\n", "  poll_initial: 10m\n", "  poll_initial: 1m\n  poll_max: 1m\n", "  sweep: 10s\n"} {
		_, err := Parse("s.yaml", []byte(head+good))
		assert.NoError(t, err, good)
	}
}

// TestBatchChecksFilledBodies: a body made invalid by a row's value is that row's
// problem; one invalid as written fails the batch.
func TestBatchChecksFilledBodies(t *testing.T) {
	spec := "id: camp\nvideo:\n  type: avatar\n  avatar_id: a\n  resolution: '{{res}}'\n"
	b, err := ParseBatch("c.yaml", []byte(spec), "rows.csv", strings.NewReader("email,res\na@x,1080p\nb@x,8k\n"), "")
	require.NoError(t, err)
	require.Len(t, b.Inputs(), 1)
	require.Len(t, b.Bad(), 1)
	assert.Equal(t, `invalid spec: rows.csv:3: c.yaml:5: video.resolution: must be one of "4k", "1080p", "720p", null (HeyGen's POST /v3/videos)`, b.Bad()[0].Err.Error())

	_, err = ParseBatch("c.yaml", []byte("id: camp\nvideo:\n  type: avatar\n  avatr_id: '{{a}}'\n"), "rows.csv", strings.NewReader("email,a\na@x,1\n"), "")
	require.ErrorIs(t, err, ErrInvalid)
	assert.Equal(t, "invalid spec: c.yaml:4: video.avatr_id: unknown key; did you mean avatar_id? (HeyGen's POST /v3/videos)", err.Error())
}
