package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/reelflow/reelflow/heygen"
)

// fakeFinder answers FindJob from a map, or with err.
type fakeFinder struct {
	jobs  map[string]string
	err   error
	asked []string
}

func (f *fakeFinder) FindJob(_ context.Context, id string) (string, error) {
	f.asked = append(f.asked, id)
	return f.jobs[id], f.err
}

// TestRouteWithoutCallbackID covers events that carry no callback_id: they reach the
// open Job whose HeyGenJobID is theirs, and a miss (or visibility's lag) stays 200.
func TestRouteWithoutCallbackID(t *testing.T) {
	jobs := map[string]string{"v_1": "welcome-42/render", "vt_9": "welcome-42/translate/es-ES", "v_odd": "not-a-job"}
	tests := []struct {
		name       string
		body       []byte
		finder     *fakeFinder // nil: no finder configured
		mode       sigMode
		wantCode   int
		wantState  string
		wantSignal string // workflow signalled, "" for none
		wantAsked  []string
	}{
		{name: "found by video_id", body: withData(`"video_id":"v_1","url":"https://x/v.mp4"`), finder: &fakeFinder{jobs: jobs},
			wantCode: 200, wantState: "signalled", wantSignal: "welcome-42/render", wantAsked: []string{"v_1"}},
		{name: "translation found by video_translate_id",
			body:   []byte(`{"event_type":"video_translate.success","event_data":{"video_translate_id":"vt_9","url":"https://x/t.mp4"}}`),
			finder: &fakeFinder{jobs: jobs}, wantCode: 200, wantState: "signalled", wantSignal: "welcome-42/translate/es-ES", wantAsked: []string{"vt_9"}},
		{name: "empty callback_id looks up too", body: withData(`"video_id":"v_1","callback_id":""`), finder: &fakeFinder{jobs: jobs},
			wantCode: 200, wantState: "signalled", wantSignal: "welcome-42/render", wantAsked: []string{"v_1"}},
		{name: "found, but the Job just closed", body: withData(`"video_id":"v_1"`), finder: &fakeFinder{jobs: jobs}, mode: sigNotFound,
			wantCode: 200, wantState: "late", wantAsked: []string{"v_1"}},
		{name: "miss (not ours, or visibility lags)", body: withData(`"video_id":"v_2"`), finder: &fakeFinder{jobs: jobs},
			wantCode: 200, wantState: "no_callback_id", wantAsked: []string{"v_2"}},
		{name: "finder returns an ID that is not a Job's", body: withData(`"video_id":"v_odd"`), finder: &fakeFinder{jobs: jobs},
			wantCode: 200, wantState: "not_ours", wantAsked: []string{"v_odd"}},
		{name: "visibility unreachable: HeyGen retries", body: withData(`"video_id":"v_1"`), finder: &fakeFinder{err: errors.New("unavailable")},
			wantCode: 503, wantState: "unavailable", wantAsked: []string{"v_1"}},
		{name: "Temporal unreachable after the lookup", body: withData(`"video_id":"v_1"`), finder: &fakeFinder{jobs: jobs}, mode: sigUnavailable,
			wantCode: 503, wantState: "unavailable", wantAsked: []string{"v_1"}},
		{name: "no job ID either", body: withData(`"url":"https://x/v.mp4"`), finder: &fakeFinder{jobs: jobs},
			wantCode: 200, wantState: "no_callback_id"},
		{name: "no finder configured", body: withData(`"video_id":"v_1"`),
			wantCode: 200, wantState: "no_callback_id"},
		{name: "a callback_id is used as it is, without a lookup", body: successBody, finder: &fakeFinder{jobs: jobs},
			wantCode: 200, wantState: "signalled", wantSignal: "welcome-42/render"},
		{name: "an unknown type is not looked up", body: []byte(`{"event_type":"avatar_video_gif.success","event_data":{"video_id":"v_1"}}`),
			finder: &fakeFinder{jobs: jobs}, wantCode: 200, wantState: "ignored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			cfg := Config{Secrets: []string{secretNew}, Logger: zap.New(core)}
			if tc.finder != nil {
				cfg.Finder = tc.finder
			}
			fake := &fakeSignaler{}
			fake.set(tc.mode)
			r, err := New(cfg, fake, nil)
			require.NoError(t, err)
			rec := do(t, r.Handler(), tcase{body: tc.body, header: signed(tc.body)})
			assert.Equal(t, tc.wantCode, rec.Code, rec.Body.String())
			var resp response
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
			assert.Equal(t, tc.wantState, resp.Status)
			if tc.finder != nil {
				assert.Equal(t, tc.wantAsked, tc.finder.asked)
			}
			calls := fake.recorded()
			if tc.wantSignal == "" {
				if tc.mode == sigOK {
					assert.Empty(t, calls)
				}
				return
			}
			require.Len(t, calls, 1)
			assert.Equal(t, tc.wantSignal, calls[0].workflowID)
			ev, err := heygen.ParseEvent(tc.body)
			require.NoError(t, err)
			assert.Equal(t, ev.DedupeKey(), calls[0].requestID, "the same request ID as any delivery of the event")
			if len(tc.wantAsked) > 0 {
				fields := logs.FilterLoggerName("access").All()[0].ContextMap()
				assert.Equal(t, "visibility", fields["found_by"])
				assert.Equal(t, tc.wantSignal, fields["callback_id"])
			}
		})
	}
}

// TestRouterDirect is Route without HTTP, as `reelflow webhook replay` calls it.
func TestRouterDirect(t *testing.T) {
	_, err := NewRouter(nil, nil, 0)
	require.Error(t, err)

	fake := &fakeSignaler{}
	rt, err := NewRouter(fake, &fakeFinder{jobs: map[string]string{"v_1": "welcome-42/render"}}, testTimeout)
	require.NoError(t, err)
	ev, err := heygen.ParseEvent(withData(`"video_id":"v_1"`))
	require.NoError(t, err)
	got, err := rt.Route(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, Routed{Outcome: OutcomeSignalled, WorkflowID: "welcome-42/render", FoundBy: "visibility"}, got)

	fake.set(sigSlow)
	_, err = rt.Route(context.Background(), ev)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "bounded by the router's timeout")
}
