package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

func TestParseGood(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want workflows.PipelineInput
	}{
		{
			name: "avatar video",
			src:  "id: welcome-42\ntitle: Welcome\nvideo: {type: avatar, avatar_id: a1, voice_id: v1, script: Hi}\n",
			want: workflows.PipelineInput{ID: "welcome-42", Title: "Welcome", Schedule: defaultSchedule("welcome-42"),
				Video: map[string]any{"type": "avatar", "avatar_id": "a1", "voice_id": "v1", "script": "Hi"}},
		},
		{
			name: "template, its body passed through without the id",
			src:  "id: t1\ntemplate:\n  id: tpl_123\n  title: T\n  variables: {name: {type: text}}\n",
			want: workflows.PipelineInput{ID: "t1", Schedule: defaultSchedule("t1"), Template: &workflows.TemplateSource{ID: "tpl_123",
				Body: map[string]any{"title": "T", "variables": map[string]any{"name": map[string]any{"type": "text"}}}}},
		},

		{
			name: "everything",
			src: `id: launch-q3
title: Q3 launch video
source: {url: "https://cdn.example/launch.mp4"}
translate: {languages: ["Spanish (Spain)", French, German], mode: precision, captions: true}
deliver: {to: "s3://bucket/videos?region=eu-west-1"}
notify: {url: "https://example.com/hooks/video-ready", secret_env: REELFLOW_NOTIFY_SECRET}
timeouts: {push_window: 15m, deadline: 24h, poll_initial: 10s, poll_max: 2m}
fail_fast: true
priority: 1
fairness_key: marketing
fairness_weight: 2.5
retry: {renders: 2}
`,
			want: workflows.PipelineInput{ID: "launch-q3", Title: "Q3 launch video",
				Schedule:  workflows.Schedule{Priority: 1, FairnessKey: "marketing", FairnessWeight: 2.5},
				Retry:     &workflows.Retry{Renders: 2},
				Source:    &workflows.VideoSource{URL: "https://cdn.example/launch.mp4"},
				Translate: &workflows.Translate{Languages: []string{"Spanish (Spain)", "French", "German"}, Mode: "precision", Captions: true},
				Deliver:   &workflows.Deliver{To: "s3://bucket/videos?region=eu-west-1"},
				Notify:    &workflows.Notify{URL: "https://example.com/hooks/video-ready", SecretEnv: "REELFLOW_NOTIFY_SECRET"},
				Timeouts:  workflows.Timeouts{PushWindow: 15 * time.Minute, Deadline: 24 * time.Hour, PollInitial: 10 * time.Second, PollMax: 2 * time.Minute},
				FailFast:  true,
			},
		},
		{
			name: "JSON",
			src:  `{"id": "j1", "video": {"type": "avatar", "avatar_id": "a"}, "translate": {"languages": ["French"]}, "deliver": {"to": "file://./out"}}`,
			want: workflows.PipelineInput{ID: "j1", Schedule: defaultSchedule("j1"), Video: map[string]any{"type": "avatar", "avatar_id": "a"},
				Translate: &workflows.Translate{Languages: []string{"French"}}, Deliver: &workflows.Deliver{To: "file://./out"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("s.yaml", []byte(tt.src))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// defaultSchedule is the Schedule of a spec that sets none of its fields.
func defaultSchedule(id string) workflows.Schedule {
	return workflows.Schedule{Priority: workflows.PriorityDefault, FairnessKey: id, FairnessWeight: 1}
}

func TestParseBad(t *testing.T) {
	const video = "video: {type: avatar, avatar_id: a}\n"
	tests := []struct {
		name string
		src  string
		want string // the whole message after "invalid spec: "
	}{
		{"no id", video, "s.yaml:1: id: required: the pipeline's ID, [A-Za-z0-9._-]{1,128}"},
		{"bad id", "id: a b\n" + video, `s.yaml:1: id: "a b" must match [A-Za-z0-9._-]{1,128}`},
		{"no source", "id: x\ntitle: T\n", "s.yaml:1: one video source is required: video, template or source"},
		{"two sources", "id: x\n" + video + "template: {id: t}\n", "s.yaml:3: template: only one video source is allowed, and video is given too"},
		{"video without type", "id: x\nvideo: {avatar_id: a}\n", "s.yaml:2: video.type: required, for example avatar"},
		{"empty video", "id: x\nvideo: {}\n", "s.yaml:2: video: a video block (a v3 POST /v3/videos body) is required"},
		{"video not a mapping", "id: x\nvideo: hello\n", "s.yaml:2: video: must be a mapping"},
		{"callback_id is reelflow's", "id: x\nvideo:\n  type: avatar\n  avatar_id: a\n  callback_id: mine\n", "s.yaml:5: video.callback_id: reelflow sets callback_id itself; remove it"},
		{"template without id", "id: x\ntemplate: {variables: {}}\n", "s.yaml:2: template.id: required: the template's ID"},
		{"legacy_video: HeyGen retired v2", "id: x\ntitle: T\nlegacy_video:\n  video_inputs:\n    - hello\n",
			"s.yaml:3: legacy_video: HeyGen retired POST /v2/video/generate (its v1 and v2 endpoints reached end of life on 2026-11-01); " +
				"write the scenes as a v3 studio video instead: video: {type: studio, scenes: [{type: avatar_video, input: {type: avatar, avatar_id: ..., voice_id: ..., script: ...}}, ...]} " +
				"(each video_inputs entry becomes one scene; see examples/studio.yaml)"},
		{"source without translate", "id: x\nsource: {url: 'https://a/b.mp4'}\n", "s.yaml:2: source: a source video is only translated, so translate is required"},
		{"source not http", "id: x\nsource: {url: 'ftp://a/b'}\ntranslate: {languages: [French]}\n", `s.yaml:2: source.url: "ftp://a/b" is not an http(s) URL`},
		{"empty language", "id: launch-q3\n" + video + "translate:\n  languages:\n    - French\n    - ''\n", "s.yaml:6: translate.languages[1]: empty language"},
		{"repeated language", "id: x\n" + video + "translate: {languages: [Spanish (Spain), spanish spain]}\n",
			`s.yaml:3: translate.languages[1]: "spanish spain" repeats translate.languages[0] (both are step translate/spanish-spain)`},
		{"languages not a list", "id: x\n" + video + "translate: {languages: French}\n", `s.yaml:3: translate.languages: must be a list of languages such as ["Spanish (Spain)", French]`},
		{"no languages", "id: x\n" + video + "translate: {languages: []}\n", "s.yaml:3: translate.languages: empty: name at least one language"},
		{"bad mode", "id: x\n" + video + "translate: {languages: [French], mode: fast}\n", `s.yaml:3: translate.mode: "fast" is not speed or precision`},
		{"captions not bool", "id: x\n" + video + "translate: {languages: [French], captions: yes please}\n", "s.yaml:3: translate.captions: must be true or false"},
		{"typo in translate", "id: x\n" + video + "translate:\n  langauges: [French]\n", "s.yaml:4: translate.langauges: unknown key; did you mean languages?"},
		{"unknown top-level key", "id: x\n" + video + "colour: red\n", "s.yaml:3: colour: unknown key; the keys here are id, title, video, template, source, translate, deliver, notify, timeouts, fail_fast, priority, fairness_key, fairness_weight, budget, retry"},
		{"typo at top level", "id: x\n" + video + "timeout: {deadline: 1h}\n", "s.yaml:3: timeout: unknown key; did you mean timeouts?"},
		{"deliver to http", "id: x\n" + video + "deliver: {to: 'https://example.com/up'}\n", `s.yaml:3: deliver.to: "https://example.com/up" is not a bucket URL; use file://, s3://, gs:// or azblob://`},
		{"deliver without to", "id: x\n" + video + "deliver: {}\n", "s.yaml:3: deliver.to: required: a bucket URL such as file://./out or s3://bucket"},
		{"notify with the secret itself", "id: x\n" + video + "notify: {url: 'https://a/h', secret_env: whsec_abc}\n", "s.yaml:3: notify.secret_env: names an environment variable; never put the secret itself in a spec"},
		{"notify without secret_env", "id: x\n" + video + "notify:\n  url: https://a/h\n", "s.yaml:3: notify.secret_env: required: the environment variable, on the worker, that holds the whsec_ secret"},
		{"notify bad env name", "id: x\n" + video + "notify: {url: 'https://a/h', secret_env: 'MY-SECRET'}\n", `s.yaml:3: notify.secret_env: "MY-SECRET" is not an environment variable name`},
		{"bad duration", "id: ok\nvideo:\n  type: avatar\n  avatar_id: a\ntimeouts:\n  deadline: soon\n", `s.yaml:6: timeouts.deadline: "soon" is not a positive duration such as 15m or 24h`},
		{"null duration", "id: ok\n" + video + "timeouts: {deadline: null}\n", "s.yaml:3: timeouts.deadline: null is not a positive duration such as 15m or 24h"},
		{"numeric duration", "id: ok\n" + video + "timeouts: {push_window: 15}\n", "s.yaml:3: timeouts.push_window: 15 is not a positive duration such as 15m or 24h"},
		{"fail_fast not bool", "id: x\n" + video + "fail_fast: maybe\n", "s.yaml:3: fail_fast: must be true or false"},
		{"syntax error", "id: x\nvideo: {type: avatar\n", "s.yaml:2: could not find flow mapping end token '}'"},
		{"not a mapping", "- a\n- b\n", "s.yaml:1: a spec is a mapping with id, title, video ..."},
		{"every problem, in file order", "id: 'bad id'\nvideo: {}\nfail_fast: 3\n",
			"s.yaml:1: id: \"bad id\" must match [A-Za-z0-9._-]{1,128}\ns.yaml:2: video: a video block (a v3 POST /v3/videos body) is required\ns.yaml:3: fail_fast: must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src))
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalid), "wraps ErrInvalid: %v", err)
			assert.Equal(t, "invalid spec: "+tt.want, err.Error())
		})
	}
}

func TestParseJSONLines(t *testing.T) {
	src := "{\n  \"id\": \"x\",\n  \"video\": {\"type\": \"avatar\", \"avatar_id\": \"a\"},\n  \"translate\": {\n    \"languages\": [\"French\", \"\"]\n  }\n}\n"
	_, err := Parse("s.json", []byte(src))
	require.Error(t, err)
	assert.Equal(t, "invalid spec: s.json:5: translate.languages[1]: empty language", err.Error())
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "launch-q3.yaml")
	require.NoError(t, os.WriteFile(path, []byte("id: launch-q3\nvideo: {type: avatar, avatar_id: a}\ntranslate:\n  languages: [French, '']\n"), 0o644))
	_, err := Load(path)
	require.Error(t, err)
	assert.Equal(t, "invalid spec: launch-q3.yaml:4: translate.languages[1]: empty language", err.Error())

	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrInvalid), "a missing file is not an invalid spec")
}

// TestExamples loads every spec in examples/: each must validate as it is.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*")
	require.NoError(t, err)
	var specs int
	for _, f := range files {
		ext := filepath.Ext(f)
		if ext != ".yaml" && ext != ".yml" && ext != ".json" {
			continue
		}
		specs++
		t.Run(filepath.Base(f), func(t *testing.T) {
			if strings.Contains(f, "campaign") {
				_, err := Load(f)
				require.ErrorIs(t, err, ErrInvalid, "a campaign has placeholders: it runs with --rows")
				assert.Contains(t, err.Error(), "--rows FILE.csv")
				b, err := LoadBatch(f, "../examples/contacts.csv", "email")
				require.NoError(t, err)
				assert.Len(t, b.Inputs(), 20)
				assert.Empty(t, b.Bad())
				return
			}
			in, err := Load(f)
			require.NoError(t, err)
			assert.True(t, workflows.ValidPipelineID(in.ID))
		})
	}
	assert.GreaterOrEqual(t, specs, 5, "one example per video source, plus the campaign")

	welcome, err := Load("../examples/welcome.yaml")
	require.NoError(t, err)
	assert.Equal(t, "welcome-42", welcome.ID)
	assert.Equal(t, "avatar", welcome.Video["type"])
}

func TestLanguageSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Spanish (Spain)":                "spanish-spain",
		"French":                         "french",
		"Chinese (Mandarin, Simplified)": "chinese-mandarin-simplified",
		"  Portuguese (Brazil) ":         "portuguese-brazil",
	} {
		assert.Equal(t, want, workflows.LanguageSlug(in), in)
		_, step, ok := workflows.ParseJobWorkflowID(workflows.JobWorkflowID("p", workflows.TranslateStep(in)))
		assert.True(t, ok, "the receiver accepts %s", step)
	}
	assert.Regexp(t, `^lang-[0-9a-f]{12}$`, workflows.LanguageSlug("日本語"))
}
