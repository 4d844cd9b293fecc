package receiver

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reelflow/reelflow/heygen"
)

const metricsNamespace = "reelflow_receiver"

// metrics are the receiver's Prometheus metrics.
//
// There is no "duplicates dropped" counter: Temporal drops a signal whose request ID it
// has seen as a silent success, so the receiver cannot tell a duplicate from a first
// delivery. requests_total{outcome="signalled"} minus the events in the histories is that
// number.
type metrics struct {
	requests       *prometheus.CounterVec
	ackLatency     *prometheus.HistogramVec
	signalsSent    prometheus.Counter
	lateEvents     prometheus.Counter
	verifyFailures *prometheus.CounterVec
	verified       *prometheus.CounterVec
	unused         *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "requests_total",
			Help:      "Requests to the webhook path by outcome and event type (\"other\" for types reelflow ignores, \"none\" before parsing).",
		}, []string{"outcome", "event_type"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace,
			Name:      "ack_latency_seconds",
			Help:      "Time from receiving a webhook request to answering it, by outcome.",
			Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		signalsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "signals_sent_total",
			Help:      "Signal calls that Temporal accepted (repeats that it dropped by request ID included).",
		}),
		lateEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "late_events_total",
			Help:      "Verified events for a workflow that was already closed or did not exist.",
		}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "verification_failures_total",
			Help:      "Deliveries refused with 401, by reason (missing or invalid signature, or a stale Standard Webhooks timestamp).",
		}, []string{"reason"}),
		verified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "verified_total",
			Help:      "Deliveries whose signature verified, by signing scheme (hex or standard).",
		}, []string{"scheme"}),
		unused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "unused_events_total",
			Help: "Verified events of a type reelflow does not act on, acknowledged with 200, by event type " +
				"(HeyGen's published types; \"other\" for any type outside that list, which keeps the label set bounded).",
		}, []string{"event_type"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.ackLatency, m.signalsSent, m.lateEvents, m.verifyFailures, m.verified, m.unused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every reason and scheme is exported from the start, at zero, so that alerts work.
	for _, reason := range []string{reasonMissing, reasonInvalid, reasonStale} {
		m.verifyFailures.WithLabelValues(reason)
	}
	for _, scheme := range []heygen.SigningScheme{heygen.SchemeHex, heygen.SchemeStandard} {
		m.verified.WithLabelValues(string(scheme))
	}
	return m, nil
}
