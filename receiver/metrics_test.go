package receiver

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	fake := &fakeSignaler{}
	r, err := New(Config{Secrets: []string{secretNew}, SignalTimeout: testTimeout, Registry: reg}, fake, nil)
	require.NoError(t, err)
	h := r.Handler()

	do(t, h, tcase{body: successBody, header: signed(successBody)})
	do(t, h, tcase{body: failBody, header: signed(failBody)})
	do(t, h, tcase{body: successBody})                                     // missing signature
	do(t, h, tcase{body: successBody, header: hdr("Signature", "nothex")}) // invalid
	unknown := []byte(`{"event_type":"personalized_video","event_data":{"callback_id":"welcome-42/render"}}`)
	do(t, h, tcase{body: unknown, header: signed(unknown)})
	fake.set(sigNotFound)
	do(t, h, tcase{body: successBody, header: signed(successBody)})
	fake.set(sigUnavailable)
	do(t, h, tcase{body: successBody, header: signed(successBody)})

	rec := do(t, h, tcase{method: http.MethodGet, path: "/metrics"})
	require.Equal(t, http.StatusOK, rec.Code)
	text := rec.Body.String()
	for _, want := range []string{
		`reelflow_receiver_requests_total{event_type="avatar_video.success",outcome="signalled"} 1`,
		`reelflow_receiver_requests_total{event_type="avatar_video.fail",outcome="signalled"} 1`,
		`reelflow_receiver_requests_total{event_type="none",outcome="unauthorized"} 2`,
		`reelflow_receiver_requests_total{event_type="other",outcome="ignored"} 1`,
		`reelflow_receiver_requests_total{event_type="avatar_video.success",outcome="late"} 1`,
		`reelflow_receiver_requests_total{event_type="avatar_video.success",outcome="unavailable"} 1`,
		`reelflow_receiver_ack_latency_seconds_count{outcome="signalled"} 2`,
		`reelflow_receiver_signals_sent_total 2`,
		`reelflow_receiver_late_events_total 1`,
		`reelflow_receiver_verification_failures_total{reason="missing"} 1`,
		`reelflow_receiver_verification_failures_total{reason="invalid"} 1`,
	} {
		assert.Contains(t, text, want)
	}

	// A second receiver on the same registry is refused, not silently merged.
	_, err = New(Config{Secrets: []string{secretNew}, Registry: reg}, fake, nil)
	assert.Error(t, err)
}

// TestUnusedEventsCountedByType: every published type reelflow does not act on (a
// caption, a GIF, batch.finished ...) is acknowledged with 200, signals nothing, and is
// counted by its type; a type HeyGen does not publish is counted as "other".
func TestUnusedEventsCountedByType(t *testing.T) {
	reg := prometheus.NewRegistry()
	fake := &fakeSignaler{}
	r, err := New(Config{Secrets: []string{secretNew}, SignalTimeout: testTimeout, Registry: reg}, fake, nil)
	require.NoError(t, err)
	h := r.Handler()
	send := func(typ string) {
		body := []byte(`{"event_type":"` + typ + `","event_data":{"callback_id":"welcome-42/render","video_id":"v_1","url":"https://cdn/c.srt"}}`)
		rec := do(t, h, tcase{body: body, header: signed(body)})
		assert.Equal(t, http.StatusOK, rec.Code, typ)
	}
	for _, typ := range []string{"avatar_video_caption.success", "avatar_video_caption.success", "avatar_video_gif.success", "batch.finished", "made_up.type"} {
		send(typ)
	}
	assert.Empty(t, fake.recorded(), "an unused event signals no Job")
	text := do(t, h, tcase{method: http.MethodGet, path: "/metrics"}).Body.String()
	for _, want := range []string{
		`reelflow_receiver_unused_events_total{event_type="avatar_video_caption.success"} 2`,
		`reelflow_receiver_unused_events_total{event_type="avatar_video_gif.success"} 1`,
		`reelflow_receiver_unused_events_total{event_type="batch.finished"} 1`,
		`reelflow_receiver_unused_events_total{event_type="other"} 1`,
	} {
		assert.Contains(t, text, want)
	}
}
