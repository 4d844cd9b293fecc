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
