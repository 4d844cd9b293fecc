package activities_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/sandbox"
)

// hostileCreate serves the sandbox, and makes the first create call ambiguous: the
// sandbox makes the job and hangs up (AmbiguousCreateRate 1), then the fault is switched
// off for every later call. With stripKey it also removes the Idempotency-Key from every
// create, as an endpoint that ignores the header would.
type hostileCreate struct {
	sb       *sandbox.Sandbox
	h        http.Handler
	stripKey bool
	mu       sync.Mutex
	creates  int
}

func (hc *hostileCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if hc.stripKey {
			r.Header.Del("Idempotency-Key")
		}
		hc.mu.Lock()
		hc.creates++
		first := hc.creates == 1
		hc.mu.Unlock()
		if !first {
			hc.sb.SetFaults(sandbox.Faults{})
		}
	}
	hc.h.ServeHTTP(w, r)
}

// noList hides ListVideos, as a HeyGen double without the list endpoint would: the
// counterfactual that shows what the lookup is worth.
type noList struct{ activities.HeyGen }

// createOnce runs CreateJob as a workflow does, with retries.
func createOnce(ctx workflow.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
	var a *activities.Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 5},
	})
	var res activities.CreateJobResult
	err := workflow.ExecuteActivity(ctx, a.CreateJob, in).Get(ctx, &res)
	return res, err
}

type ambiguousCase struct {
	name     string
	in       activities.CreateJobInput
	stripKey bool // the endpoint ignores the Idempotency-Key
	hideList bool // no list endpoint
}

func runAmbiguous(t *testing.T, tc ambiguousCase) (activities.CreateJobResult, sandbox.Stats) {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{RenderTime: time.Minute, Logger: zap.NewNop(),
		Faults: sandbox.Faults{AmbiguousCreateRate: 1}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	srv := httptest.NewServer(&hostileCreate{sb: sb, h: sb.Handler(), stripKey: tc.stripKey})
	t.Cleanup(srv.Close)
	var h activities.HeyGen = heygen.NewClient(srv.URL, "sandbox", nil)
	if tc.hideList {
		h = noList{h}
	}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(createOnce)
	env.RegisterActivity(activities.New(h))
	env.ExecuteWorkflow(createOnce, tc.in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res activities.CreateJobResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, sb.Stats()
}

func avatarBody(title string) map[string]any {
	b := map[string]any{"type": "avatar", "avatar_id": "a1", "voice_id": "v1", "script": "Hello."}
	if title != "" {
		b["title"] = title
	}
	return b
}

// TestCreateJobAmbiguousCreateMakesOneJob proves "no render paid for twice" against the
// sandbox's ambiguous create (the job is made, the answer lost) on the first attempt:
// the retry adopts the job through the Idempotency-Key, through the title-tag lookup, or
// both, and HeyGen made exactly one job for the callback_id.
func TestCreateJobAmbiguousCreateMakesOneJob(t *testing.T) {
	const cb = "amb-1/render"
	key := "amb-1:render.run-1" // the form workflows.JobIdentity gives
	tests := []ambiguousCase{
		{name: "video, key honoured", in: activities.CreateJobInput{Kind: activities.KindVideo, Body: avatarBody("Welcome")}},
		{name: "video, key ignored: the lookup adopts", stripKey: true,
			in: activities.CreateJobInput{Kind: activities.KindVideo, Body: avatarBody("")}},
		{name: "template, key ignored", stripKey: true,
			in: activities.CreateJobInput{Kind: activities.KindTemplate, TemplateID: "tpl_1", Body: map[string]any{"title": "T", "variables": map[string]any{}}}},
		{name: "translation: the key alone", hideList: true, in: activities.CreateJobInput{Kind: activities.KindTranslation,
			Body: map[string]any{"video": map[string]any{"type": "url", "url": "https://cdn.example/v.mp4"}, "output_languages": []any{"French"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.CallbackID, tc.in.IdempotencyKey = cb, key
			res, st := runAmbiguous(t, tc)
			require.Equal(t, 1, st.AmbiguousCreates, "the first attempt lost its answer")
			require.Equal(t, 1, st.Creates, "one job made")
			require.Equal(t, 1, st.JobsByCallbackID[cb].Creates)
			assert.Equal(t, st.JobsByCallbackID[cb].VideoID, res.HeyGenJobID, "the Job got the job HeyGen made")
			if tc.in.Kind == activities.KindTranslation {
				assert.Equal(t, 1, st.IdempotentReplays, "the retry was answered from the key")
				assert.Zero(t, st.ListCalls)
				return
			}
			assert.True(t, res.Adopted)
			assert.Equal(t, 1, st.ListCalls, "one lookup, on the retry")
			assert.Equal(t, 1, st.CreateRequests, "the retry created nothing")
		})
	}

	t.Run("without the lookup an ignored key renders twice", func(t *testing.T) {
		// The counterfactual: this is the render the lookup saves.
		_, st := runAmbiguous(t, ambiguousCase{stripKey: true, hideList: true,
			in: activities.CreateJobInput{Kind: activities.KindVideo, CallbackID: cb, IdempotencyKey: key, Body: avatarBody("")}})
		require.Equal(t, 2, st.JobsByCallbackID[cb].Creates)
	})
}

// TestCreateJobNewRunDoesNotAdopt: a new run of a step (a pipeline started again after a
// failure) has another key and so another tag; its retry must not adopt the old run's
// video, which may be failed or stuck.
func TestCreateJobNewRunDoesNotAdopt(t *testing.T) {
	const cb = "rerun-1/render"
	sb, err := sandbox.New(sandbox.Config{RenderTime: time.Minute, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	run := func(key string) activities.CreateJobResult {
		// The first create of each run gets a 500, so the run's create is retried.
		sb.SetFaults(sandbox.Faults{ServerErrorRate: 1})
		srv := httptest.NewServer(&hostileCreate{sb: sb, h: sb.Handler()})
		defer srv.Close()
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(createOnce)
		env.RegisterActivity(activities.New(heygen.NewClient(srv.URL, "sandbox", nil)))
		env.ExecuteWorkflow(createOnce, activities.CreateJobInput{Kind: activities.KindVideo, CallbackID: cb,
			IdempotencyKey: key, Body: avatarBody("Welcome")})
		require.NoError(t, env.GetWorkflowError())
		var res activities.CreateJobResult
		require.NoError(t, env.GetWorkflowResult(&res))
		return res
	}
	first := run("rerun-1:render.run-1")
	second := run("rerun-1:render.run-2")
	assert.False(t, first.Adopted)
	assert.False(t, second.Adopted)
	assert.NotEqual(t, first.HeyGenJobID, second.HeyGenJobID)
	st := sb.Stats()
	assert.Equal(t, 2, st.JobsByCallbackID[cb].Creates, "one render per run")
	assert.Equal(t, 2, st.ListCalls, "each run's retry looked, and found nothing of its own")
}

func TestTitleTag(t *testing.T) {
	in := activities.CreateJobInput{CallbackID: "p1/render", IdempotencyKey: "p1:render.r1"}
	tag := activities.TitleTag(in)
	assert.True(t, strings.HasPrefix(tag, "[rf:p1/render#"), tag)
	assert.Len(t, tag, len("[rf:p1/render#")+8+1)
	assert.Equal(t, tag, activities.TitleTag(in), "deterministic")
	other := in
	other.IdempotencyKey = "p1/render@r2"
	assert.NotEqual(t, tag, activities.TitleTag(other), "another run, another tag")
	p10 := activities.CreateJobInput{CallbackID: "p10/render", IdempotencyKey: "p1:render.r1"}
	assert.NotContains(t, activities.TitleTag(p10), tag)
}

// TestCreateJobTitleTag: the user's title stays first and readable; a body without a
// title gets the tag alone; the workflow's body is not changed; translations are not
// tagged (there is nothing to search them with).
func TestCreateJobTitleTag(t *testing.T) {
	tests := []struct {
		name string
		in   activities.CreateJobInput
		want func(tag string) any
	}{
		{"title kept, tag appended", activities.CreateJobInput{Kind: activities.KindVideo, Body: map[string]any{"title": "Welcome"}},
			func(tag string) any { return "Welcome " + tag }},
		{"no title: the tag", activities.CreateJobInput{Kind: activities.KindVideo, Body: map[string]any{}},
			func(tag string) any { return tag }},
		{"translation untouched", activities.CreateJobInput{Kind: activities.KindTranslation, Body: map[string]any{
			"title": "T (French)", "output_languages": []any{"French"}}},
			func(string) any { return "T (French)" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: http.StatusOK, body: `{"data":{"video_id":"v_1","video_translation_ids":["t_1"]},"error":null}`}
			env, a := newEnv(t, f)
			tt.in.CallbackID = "p/render"
			before, _ := tt.in.Body["title"]
			_, err := env.ExecuteActivity(a.CreateJob, tt.in)
			require.NoError(t, err)
			require.Len(t, f.requests, 1)
			assert.Equal(t, tt.want(activities.TitleTag(tt.in)), f.requests[0].body["title"])
			after, _ := tt.in.Body["title"]
			assert.Equal(t, before, after, "the input's body is not mutated")
		})
	}
}

// TestCreateJobListFailureFallsBackToKey: a failed lookup is not fatal; the attempt
// creates, guarded by the Idempotency-Key.
func TestCreateJobListFailureFallsBackToKey(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{RenderTime: time.Minute, Logger: zap.NewNop(),
		Faults: sandbox.Faults{AmbiguousCreateRate: 1}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	hc := &hostileCreate{sb: sb, h: sb.Handler()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v3/videos" {
			http.Error(w, `{"error":{"code":"internal_error","message":"down"}}`, http.StatusInternalServerError)
			return
		}
		hc.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(createOnce)
	env.RegisterActivity(activities.New(heygen.NewClient(srv.URL, "sandbox", nil)))
	env.ExecuteWorkflow(createOnce, activities.CreateJobInput{Kind: activities.KindVideo, CallbackID: "lf/render",
		IdempotencyKey: "lf/render@r", Body: avatarBody("")})
	require.NoError(t, env.GetWorkflowError())
	var res activities.CreateJobResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.False(t, res.Adopted)
	st := sb.Stats()
	assert.Equal(t, 1, st.Creates)
	assert.Equal(t, 1, st.IdempotentReplays)
}

// unreadableFirstCreate passes every request to the sandbox, but replaces the answer
// to the first create with a 200 whose body cannot be read: HeyGen made (and bills) the
// job, and the client cannot tell its ID. It records each create's Idempotency-Key.
type unreadableFirstCreate struct {
	h    http.Handler
	mu   sync.Mutex
	keys []string
}

func (u *unreadableFirstCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		u.h.ServeHTTP(w, r)
		return
	}
	u.mu.Lock()
	u.keys = append(u.keys, r.Header.Get("Idempotency-Key"))
	first := len(u.keys) == 1
	u.mu.Unlock()
	if !first {
		u.h.ServeHTTP(w, r)
		return
	}
	u.h.ServeHTTP(httptest.NewRecorder(), r) // the job is made; its answer is lost
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"data": <html>gateway`))
}

// TestCreateJobUnreadableAnswerRetriedUnderSameKey (issue 11.5): an unreadable 2xx
// answer to a create is retried, not taken as HeyGen's refusal, and the retry carries
// the same Idempotency-Key, so HeyGen replays the job it made: one job, not two.
func TestCreateJobUnreadableAnswerRetriedUnderSameKey(t *testing.T) {
	const cb = "garbled-1/render"
	for _, kind := range []string{activities.KindVideo, activities.KindTranslation} {
		t.Run(kind, func(t *testing.T) {
			sb, err := sandbox.New(sandbox.Config{RenderTime: time.Minute, Logger: zap.NewNop()})
			require.NoError(t, err)
			t.Cleanup(func() { _ = sb.Close() })
			u := &unreadableFirstCreate{h: sb.Handler()}
			srv := httptest.NewServer(u)
			t.Cleanup(srv.Close)
			var s testsuite.WorkflowTestSuite
			s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(createOnce)
			env.RegisterActivity(activities.New(noList{heygen.NewClient(srv.URL, "sandbox", nil)}))
			in := activities.CreateJobInput{Kind: kind, CallbackID: cb, IdempotencyKey: "garbled-1:render.run-1", Body: avatarBody("")}
			if kind == activities.KindTranslation {
				in.Body = map[string]any{"video": map[string]any{"type": "url", "url": "https://cdn.example/v.mp4"}, "output_languages": []any{"French"}}
			}
			env.ExecuteWorkflow(createOnce, in)
			require.NoError(t, env.GetWorkflowError(), "an unreadable 2xx is retried")
			var res activities.CreateJobResult
			require.NoError(t, env.GetWorkflowResult(&res))
			st := sb.Stats()
			assert.Equal(t, 1, st.JobsByCallbackID[cb].Creates, "one job made")
			assert.Equal(t, st.JobsByCallbackID[cb].VideoID, res.HeyGenJobID)
			require.Len(t, u.keys, 2)
			assert.Equal(t, u.keys[0], u.keys[1], "the same key on the retry")
		})
	}
}
