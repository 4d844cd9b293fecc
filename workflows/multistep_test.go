package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// fakeSteps mocks every activity of a multi-step pipeline and records what they got.
// Renders answer "completed" on their first poll; translations too, except the
// languages in fail (failed) and stuck (processing forever).
type fakeSteps struct {
	mu       sync.Mutex
	creates  []activities.CreateJobInput
	polls    []activities.PollJobInput
	delivers []activities.DeliverInput
	notifies []activities.NotifyInput
	fail     map[string]bool // translation job IDs that fail
	stuck    map[string]bool // translation job IDs that never finish
	notify   func(attempt int) error
}

const renderURL = "https://cdn.example/render/v_1.mp4?sig=abc"

func jobIDFor(callbackID string) string {
	_, step, _ := ParseJobWorkflowID(callbackID)
	if step == StepRender {
		return testJobID
	}
	return "t_" + strings.TrimPrefix(step, StepTranslate+"/")
}

func (f *fakeSteps) register(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.creates = append(f.creates, in)
			return activities.CreateJobResult{HeyGenJobID: jobIDFor(in.CallbackID), Status: heygen.StatusPending}, nil
		})
	env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PollJobInput) (activities.PollJobResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.polls = append(f.polls, in)
			id := in.HeyGenJobID
			switch {
			case in.Kind != string(KindTranslation):
				return activities.PollJobResult{Status: heygen.StatusCompleted, VideoURL: renderURL,
					ThumbnailURL: "https://cdn.example/render/v_1.jpg"}, nil
			case f.fail[id]:
				return activities.PollJobResult{Status: heygen.StatusFailed, FailureMessage: "language could not be synthesised"}, nil
			case f.stuck[id]:
				return activities.PollJobResult{Status: heygen.StatusProcessing}, nil
			}
			return activities.PollJobResult{Status: heygen.StatusCompleted, VideoURL: "https://cdn.example/" + id + "/out.mp4",
				CaptionURL: "https://cdn.example/" + id + "/c.srt", VTTCaptionURL: "https://cdn.example/" + id + "/c.vtt"}, nil
		})
	env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.delivers = append(f.delivers, in)
			return activities.DeliverResult{Key: in.Key, URL: in.To + "/" + in.Key, Size: 42, SHA256: "sha-" + in.Key}, nil
		})
	env.OnActivity(a.Notify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.NotifyInput) (activities.NotifyResult, error) {
			f.mu.Lock()
			f.notifies = append(f.notifies, in)
			n := len(f.notifies)
			f.mu.Unlock()
			if f.notify != nil {
				if err := f.notify(n); err != nil {
					return activities.NotifyResult{}, err
				}
			}
			return activities.NotifyResult{WebhookID: in.WebhookID, StatusCode: 200}, nil
		})
}

func (f *fakeSteps) deliverKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for _, d := range f.delivers {
		keys = append(keys, d.Key)
	}
	slices.Sort(keys)
	return keys
}

func multiInput() PipelineInput {
	return PipelineInput{
		ID: testPipelineID, Title: "Welcome",
		Video:     map[string]any{"type": "avatar", "avatar_id": "a1"},
		Translate: &Translate{Languages: []string{"Spanish (Spain)", "Klingon", "French"}, Mode: "speed", Captions: true},
		Deliver:   &Deliver{To: "file:///tmp/out"},
		Notify:    &Notify{URL: "https://example.com/hooks", SecretEnv: "REELFLOW_NOTIFY_SECRET"},
		Timeouts:  Timeouts{PushWindow: time.Minute, PollInitial: 30 * time.Second, Deadline: time.Hour, Sweep: -1}, // sweep_test.go has the sweep
	}
}

func stepRow(t *testing.T, steps []JobStatus, step string) JobStatus {
	t.Helper()
	for _, s := range steps {
		if s.Step == step {
			return s
		}
	}
	require.Failf(t, "no such step", "%s in %v", step, steps)
	return JobStatus{}
}

func TestPipelineFanOutOneLanguageFails(t *testing.T) {
	env := newPipelineEnv(t)
	f := &fakeSteps{fail: map[string]bool{"t_klingon": true}}
	f.register(env)
	// The render's webhook comes at 30s, before its push window; the translations
	// have none, and finish on their first poll.
	// Its webhook names the video but neither its thumbnail nor its duration, as
	// HeyGen's does.
	webhook := success(testJobID, renderURL)
	webhook.ThumbnailURL, webhook.Duration = "", 0
	signalJobAt(t, env, 30*time.Second, webhook)
	var during PipelineStatus
	env.RegisterDelayedCallback(func() { during = queryPipeline(t, env) }, 15*time.Second)

	env.ExecuteWorkflow(Pipeline, multiInput())

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a failed language does not fail the pipeline")
	var res PipelineResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, StageDone, res.Stage)
	require.NotNil(t, res.Render)
	assert.Equal(t, renderURL, res.Render.VideoURL)
	assert.Equal(t, FinishedByWebhook, res.Render.FinishedBy)

	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Step+"="+string(s.State))
	}
	assert.Equal(t, []string{"render=done", "translate/spanish-spain=done", "translate/klingon=failed",
		"translate/french=done", "notify=done"}, steps)

	kl := stepRow(t, res.Steps, "translate/klingon")
	assert.Equal(t, "language could not be synthesised", kl.FailureMessage)
	assert.Equal(t, "Klingon", kl.Language)
	assert.Equal(t, KindTranslation, kl.Kind)
	assert.Empty(t, kl.Delivered)

	es := stepRow(t, res.Steps, "translate/spanish-spain")
	assert.Equal(t, "t_spanish-spain", es.HeyGenJobID)
	assert.Equal(t, "welcome-42/translate/spanish-spain", es.CallbackID)
	assert.Equal(t, FinishedByPoll, es.FinishedBy)
	require.Len(t, es.Delivered, 3)
	assert.Equal(t, Delivery{Output: activities.OutputVideo, Key: "welcome-42/translate/spanish-spain/video.mp4",
		URL: "file:///tmp/out/welcome-42/translate/spanish-spain/video.mp4", Size: 42,
		SHA256: "sha-welcome-42/translate/spanish-spain/video.mp4"}, es.Delivered[0])

	// Every finished output is delivered: the render's video, and its thumbnail that
	// the webhook did not name (one status call found it); each translation's video and
	// both caption files.
	var renderReads []activities.PollJobInput
	for _, p := range f.polls {
		if p.HeyGenJobID == testJobID {
			renderReads = append(renderReads, p)
		}
	}
	require.Len(t, renderReads, 1, "one detail fetch for the webhook's step: the Job's; the Pipeline trusts its row")
	assert.True(t, renderReads[0].Details)
	assert.Equal(t, "https://cdn.example/render/v_1.jpg", res.Render.ThumbnailURL)
	assert.Equal(t, []string{
		"welcome-42/render/thumbnail.jpg", "welcome-42/render/video.mp4",
		"welcome-42/translate/french/captions.srt", "welcome-42/translate/french/captions.vtt", "welcome-42/translate/french/video.mp4",
		"welcome-42/translate/spanish-spain/captions.srt", "welcome-42/translate/spanish-spain/captions.vtt", "welcome-42/translate/spanish-spain/video.mp4",
	}, f.deliverKeys())
	for _, d := range f.delivers {
		assert.Equal(t, "file:///tmp/out", d.To)
		assert.NotEmpty(t, d.HeyGenJobID, "so that an expired link can be refreshed")
	}

	// One translation request per language, each from the render's video.
	var langs []string
	for _, c := range f.creates {
		if c.Kind != string(KindTranslation) {
			assert.Equal(t, "welcome-42/render", c.CallbackID)
			continue
		}
		ol := c.Body["output_languages"].([]any)
		require.Len(t, ol, 1)
		langs = append(langs, ol[0].(string))
		assert.Equal(t, map[string]any{"type": "url", "url": renderURL}, c.Body["video"])
		assert.Equal(t, true, c.Body["enable_caption"])
		assert.Equal(t, "speed", c.Body["mode"])
		assert.Equal(t, "welcome-42/"+TranslateStep(ol[0].(string)), c.CallbackID)
	}
	slices.Sort(langs)
	assert.Equal(t, []string{"French", "Klingon", "Spanish (Spain)"}, langs)

	// The notification: one, with a stable ID and the step table.
	require.Len(t, f.notifies, 1)
	n := f.notifies[0]
	assert.Equal(t, "REELFLOW_NOTIFY_SECRET", n.SecretEnv, "only the variable's name travels")
	assert.Regexp(t, `^msg_[0-9a-f]{32}$`, n.WebhookID)
	var payload NotifyPayload
	require.NoError(t, json.Unmarshal(n.Body, &payload))
	assert.Equal(t, NotifyTypeCompleted, payload.Type)
	assert.Equal(t, StageDone, payload.Data.Stage)
	assert.Len(t, payload.Data.Steps, 5)

	// While the render ran, the table listed every step.
	require.Len(t, during.Steps, 5)
	assert.Equal(t, StepRender, during.Stage)
	assert.Equal(t, StatePending, during.Steps[1].State)
	assert.Equal(t, StageDone, queryPipeline(t, env).Stage)
}

func TestPipelineFailFast(t *testing.T) {
	env := newPipelineEnv(t)
	f := &fakeSteps{fail: map[string]bool{"t_klingon": true}, stuck: map[string]bool{"t_spanish-spain": true, "t_french": true}}
	f.register(env)
	in := multiInput()
	in.FailFast = true

	env.ExecuteWorkflow(Pipeline, in)

	require.True(t, env.IsWorkflowCompleted())
	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeHeyGenJobFailed, appErr.Type())
	assert.Equal(t, "translate/klingon: heygen job t_klingon failed: language could not be synthesised", appErr.Message())
	var st PipelineStatus
	require.NoError(t, appErr.Details(&st))
	assert.Equal(t, StageFailed, st.Stage)
	assert.Equal(t, StateFailed, stepRow(t, st.Steps, "translate/klingon").State)
	assert.Equal(t, StateCancelled, stepRow(t, st.Steps, "translate/spanish-spain").State, "fail_fast cancels the rest")
	assert.Equal(t, StateCancelled, stepRow(t, st.Steps, "translate/french").State)
	assert.Equal(t, StateDone, stepRow(t, st.Steps, StepRender).State)
	assert.Equal(t, StateDone, stepRow(t, st.Steps, StepNotify).State, "a failure is notified too")

	require.Len(t, f.notifies, 1)
	var payload NotifyPayload
	require.NoError(t, json.Unmarshal(f.notifies[0].Body, &payload))
	assert.Equal(t, NotifyTypeFailed, payload.Type)
}

func TestPipelineRenderFailureSkipsTranslations(t *testing.T) {
	env := newPipelineEnv(t)
	f := &fakeSteps{}
	f.register(env)
	signalJobAt(t, env, 30*time.Second, failure(testJobID, "avatar exploded"))

	env.ExecuteWorkflow(Pipeline, multiInput())

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, "render: heygen job v_1 failed: avatar exploded", appErr.Message())
	st := queryPipeline(t, env)
	assert.Equal(t, StageFailed, st.Stage)
	assert.Equal(t, StateCancelled, stepRow(t, st.Steps, "translate/french").State)
	assert.Equal(t, "not started", stepRow(t, st.Steps, "translate/french").FailureMessage)
	for _, c := range f.creates {
		assert.NotEqual(t, string(KindTranslation), c.Kind, "nothing to translate")
	}
	assert.Len(t, f.notifies, 1)
}

func TestPipelineCancelledMidFlight(t *testing.T) {
	env := newPipelineEnv(t)
	f := &fakeSteps{stuck: map[string]bool{"t_spanish-spain": true, "t_klingon": true, "t_french": true}}
	f.register(env)
	// The render finishes by poll at 1m; the translations then poll on and on.
	env.RegisterDelayedCallback(env.CancelWorkflow, 5*time.Minute)

	env.ExecuteWorkflow(Pipeline, multiInput())

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	var canceled *temporal.CanceledError
	require.True(t, errors.As(err, &canceled), "the pipeline ends cancelled, got %v", err)
	var res PipelineResult
	require.NoError(t, canceled.Details(&res), "the result rides along")
	assert.Equal(t, StageCancelled, res.Stage)
	assert.Equal(t, StateDone, stepRow(t, res.Steps, StepRender).State)
	for _, lang := range []string{"spanish-spain", "klingon", "french"} {
		row := stepRow(t, res.Steps, "translate/"+lang)
		assert.Equal(t, StateCancelled, row.State, lang)
		assert.Equal(t, "t_"+lang, row.HeyGenJobID, "the Job's own final status")
	}
	assert.Equal(t, StateCancelled, stepRow(t, res.Steps, StepNotify).State, "a cancelled pipeline does not notify")
	assert.Empty(t, f.notifies)
	assert.Equal(t, StageCancelled, queryPipeline(t, env).Stage)
}

func TestPipelineNotifyRetriesThenFailsAlone(t *testing.T) {
	env := newPipelineEnv(t)
	f := &fakeSteps{notify: func(int) error {
		return temporal.NewApplicationError("notify https://example.com/hooks: HTTP 500", activities.ErrTypeNotifyRejected)
	}}
	f.register(env)
	in := multiInput()
	in.Translate = nil

	env.ExecuteWorkflow(Pipeline, in)

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "a failed notification fails that step only")
	var res PipelineResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, StageDone, res.Stage)
	row := stepRow(t, res.Steps, StepNotify)
	assert.Equal(t, StateFailed, row.State)
	assert.Contains(t, row.FailureMessage, "HTTP 500")
	// Retried with backoff: 30s, 1m, 2m ... capped at 30m. The server goes on until
	// ScheduleToClose (6h); the test environment stops unlimited retries at 10 attempts,
	// which the backoff already spreads over two hours.
	assert.Len(t, f.notifies, 10)
	assert.GreaterOrEqual(t, row.FinishedAt.Sub(row.StartedAt), 2*time.Hour)
	ids := map[string]bool{}
	for _, n := range f.notifies {
		ids[n.WebhookID] = true
	}
	assert.Len(t, ids, 1, "the same webhook-id on every attempt")
}

func TestPipelineNotifyRecovers(t *testing.T) {
	env := newPipelineEnv(t)
	f := &fakeSteps{notify: func(attempt int) error {
		if attempt < 3 {
			return temporal.NewApplicationError("HTTP 503", activities.ErrTypeNotifyRejected)
		}
		return nil
	}}
	f.register(env)
	in := multiInput()
	in.Translate, in.Deliver = nil, nil

	env.ExecuteWorkflow(Pipeline, in)

	require.NoError(t, env.GetWorkflowError())
	var res PipelineResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, StateDone, stepRow(t, res.Steps, StepNotify).State)
	assert.Len(t, f.notifies, 3)
}

func TestPipelineSourcesAndKinds(t *testing.T) {
	tests := []struct {
		name      string
		in        PipelineInput
		wantKind  JobKind
		wantCreat func(t *testing.T, c activities.CreateJobInput)
	}{
		{
			name: "template", wantKind: KindTemplate,
			in: PipelineInput{ID: testPipelineID, Template: &TemplateSource{ID: "tpl_1", Body: map[string]any{"title": "T"}}},
			wantCreat: func(t *testing.T, c activities.CreateJobInput) {
				assert.Equal(t, "tpl_1", c.TemplateID)
				assert.Equal(t, map[string]any{"title": "T"}, c.Body)
			},
		},

		{
			name: "source url: no render", wantKind: KindTranslation,
			in: PipelineInput{ID: testPipelineID, Source: &VideoSource{URL: "https://cdn.example/in.mp4"},
				Translate: &Translate{Languages: []string{"German"}}},
			wantCreat: func(t *testing.T, c activities.CreateJobInput) {
				assert.Equal(t, "welcome-42/translate/german", c.CallbackID)
				assert.Equal(t, map[string]any{"type": "url", "url": "https://cdn.example/in.mp4"}, c.Body["video"])
				assert.Nil(t, c.Body["enable_caption"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newPipelineEnv(t)
			f := &fakeSteps{}
			f.register(env)
			tt.in.Timeouts = Timeouts{PushWindow: time.Minute}

			env.ExecuteWorkflow(Pipeline, tt.in)

			require.NoError(t, env.GetWorkflowError())
			var res PipelineResult
			require.NoError(t, env.GetWorkflowResult(&res))
			require.Len(t, f.creates, 1)
			assert.Equal(t, string(tt.wantKind), f.creates[0].Kind)
			tt.wantCreat(t, f.creates[0])
			require.Len(t, res.Steps, 1)
			assert.Equal(t, tt.wantKind, res.Steps[0].Kind)
			assert.Equal(t, StateDone, res.Steps[0].State)
			if tt.in.Source != nil {
				assert.Nil(t, res.Render)
			}
			for _, p := range f.polls {
				assert.Equal(t, string(tt.wantKind), p.Kind, "the status call of the kind")
			}
		})
	}
}

func TestWithLive(t *testing.T) {
	st := PipelineStatus{ID: "p", Steps: []JobStatus{
		{Step: StepRender, CallbackID: "p/render", State: StateDone, HeyGenJobID: "v_1"},
		{Step: "translate/french", CallbackID: "p/translate/french", State: StateWaiting, Kind: KindTranslation, Language: "French"},
		{Step: "translate/german", CallbackID: "p/translate/german", State: StateWaiting},
		{Step: StepNotify, State: StatePending},
	}}
	asked := []string{}
	got := st.WithLive(func(id string) (JobStatus, bool) {
		asked = append(asked, id)
		if id == "p/translate/german" {
			return JobStatus{}, false // not reachable: keep what the pipeline knows
		}
		return JobStatus{Step: "x", State: StatePolling, HeyGenJobID: "t_fr", Polls: 3}, true
	})
	assert.Equal(t, []string{"p/translate/french", "p/translate/german"}, asked, "only running Jobs are asked")
	fr := got.Steps[1]
	assert.Equal(t, StatePolling, fr.State)
	assert.Equal(t, "t_fr", fr.HeyGenJobID)
	assert.Equal(t, "translate/french", fr.Step)
	assert.Equal(t, "French", fr.Language)
	assert.Equal(t, StateWaiting, got.Steps[2].State)
	assert.Equal(t, StateWaiting, st.Steps[1].State, "the original is not changed")
}
