package receiver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/heygen"
)

// Outcomes of a request that routing does not decide, as logged, counted and answered in
// the "status" field. Routing's own, all answered 200, are the exported Outcome constants
// (route.go).
const (
	outcomeOptions          = "ok"           // 200: HeyGen's OPTIONS probe
	outcomeUnauthorized     = "unauthorized" // 401: missing or bad signature
	outcomeMalformed        = "malformed"    // 400: signed but not a webhook event
	outcomeUnreadable       = "unreadable"   // 400: the body could not be read
	outcomeTooLarge         = "too_large"    // 413
	outcomeTimeout          = "timeout"      // 503: the signal call outlasted SignalTimeout
	outcomeUnavailable      = "unavailable"  // 503: the signal call failed
	outcomeMethodNotAllowed = "method_not_allowed"
	outcomePanic            = "error" // 500: a recovered panic
)

// knownType reports whether reelflow acts on an event type, which bounds label values.
func knownType(t string) bool { return heygen.Event{Type: t}.Known() }

// webhook handles one delivery, strictly in this order: read the raw body within the
// limit, verify its signature, parse it, route it (decide whether it is ours, signal),
// and only then answer. Nothing is done after the answer.
func (r *Receiver) webhook(c *gin.Context) {
	if r.insecure {
		r.log.Warn("accepting a webhook delivery WITHOUT signature verification",
			zap.String("request_id", c.GetString(keyRequestID)))
	}
	body, ok := readBody(c)
	if !ok {
		return
	}
	if !r.insecure && !r.verify(c, body) {
		return
	}
	ev, err := heygen.ParseEvent(body)
	if err != nil {
		c.Set(keyError, err.Error())
		reply(c, http.StatusBadRequest, outcomeMalformed)
		return
	}
	c.Set(keyEventType, ev.Type)
	c.Set(keyCallbackID, ev.CallbackID)
	c.Set(keyJobID, ev.JobID)

	routed, err := r.router.Route(c.Request.Context(), ev)
	if err != nil {
		outcome := outcomeUnavailable
		if errors.Is(err, context.DeadlineExceeded) {
			outcome = outcomeTimeout
		}
		_ = c.Error(err) // the access log line then carries it, at error level
		c.Header("Retry-After", retryAfterSeconds)
		reply(c, http.StatusServiceUnavailable, outcome)
		return
	}
	if routed.FoundBy == "visibility" {
		c.Set(keyFoundBy, routed.FoundBy)
		c.Set(keyCallbackID, routed.WorkflowID)
	}
	switch routed.Outcome {
	case OutcomeSignalled:
		r.metrics.signalsSent.Inc()
	case OutcomeLate:
		r.metrics.lateEvents.Inc()
	case OutcomeIgnored:
		r.metrics.unused.WithLabelValues(unusedLabel(ev.Type)).Inc()
	}
	reply(c, http.StatusOK, routed.Outcome)
}

// unusedLabel is the metric label of an unused event type: the type itself when HeyGen
// publishes it, "other" for anything else (a sender's whim must not grow the series).
func unusedLabel(eventType string) string {
	if slices.Contains(heygen.PublishedEventTypes, eventType) {
		return eventType
	}
	return "other"
}

// readBody reads the raw body within the limit, or answers 413 or 400.
func readBody(c *gin.Context) ([]byte, bool) {
	body, err := io.ReadAll(c.Request.Body)
	if err == nil {
		return body, true
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		c.Header("Connection", "close")
		reply(c, http.StatusRequestEntityTooLarge, outcomeTooLarge)
		return nil, false
	}
	c.Set(keyError, err.Error())
	reply(c, http.StatusBadRequest, outcomeUnreadable)
	return nil, false
}

// verify checks the signature over the raw bytes under both schemes, or answers 401. The
// log says which scheme verified; no error names a secret or a signature.
func (r *Receiver) verify(c *gin.Context, body []byte) bool {
	scheme, err := verifyDelivery(c.Request.Header, body, *r.secrets.Load())
	if err != nil {
		reason := failureReason(err)
		r.metrics.verifyFailures.WithLabelValues(reason).Inc()
		c.Set(keyReason, reason+" signature")
		reply(c, http.StatusUnauthorized, outcomeUnauthorized)
		return false
	}
	r.metrics.verified.WithLabelValues(string(scheme)).Inc()
	c.Set(keyScheme, string(scheme))
	return true
}
