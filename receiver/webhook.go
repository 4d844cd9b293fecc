package receiver

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// Outcomes of a request, as logged, counted and answered in the "status" field.
const (
	outcomeSignalled        = "signalled"      // 200: Temporal has the event
	outcomeLate             = "late"           // 200: the workflow is closed or gone
	outcomeIgnored          = "ignored"        // 200: an event type reelflow does not act on
	outcomeNoCallbackID     = "no_callback_id" // 200: a job reelflow did not create
	outcomeNotOurs          = "not_ours"       // 200: a callback_id outside reelflow's ID scheme
	outcomeOptions          = "ok"             // 200: HeyGen's OPTIONS probe
	outcomeUnauthorized     = "unauthorized"   // 401: missing or bad signature
	outcomeMalformed        = "malformed"      // 400: signed but not a webhook event
	outcomeUnreadable       = "unreadable"     // 400: the body could not be read
	outcomeTooLarge         = "too_large"      // 413
	outcomeTimeout          = "timeout"        // 503: the signal call outlasted SignalTimeout
	outcomeUnavailable      = "unavailable"    // 503: the signal call failed
	outcomeMethodNotAllowed = "method_not_allowed"
	outcomePanic            = "error" // 500: a recovered panic
)

// knownType reports whether reelflow acts on an event type, which bounds label values.
func knownType(t string) bool { return heygen.Event{Type: t}.Known() }

// webhook handles one delivery, strictly in this order: read the raw body within the
// limit, verify its signature, parse it, decide whether it is ours, signal, and only
// then answer. Nothing is done after the answer.
func (r *Receiver) webhook(c *gin.Context) {
	if r.insecure {
		r.log.Warn("accepting a webhook delivery WITHOUT signature verification",
			zap.String("request_id", c.GetString(keyRequestID)))
	}

	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			c.Header("Connection", "close")
			reply(c, http.StatusRequestEntityTooLarge, outcomeTooLarge)
			return
		}
		c.Set(keyError, err.Error())
		reply(c, http.StatusBadRequest, outcomeUnreadable)
		return
	}

	if !r.insecure {
		// Verification runs over the raw bytes; the errors name no secret or signature.
		if err := heygen.VerifyRequest(c.Request.Header, body, *r.secrets.Load()); err != nil {
			reason := "invalid"
			if errors.Is(err, heygen.ErrNoSignature) {
				reason = "missing"
			}
			r.metrics.verifyFailures.WithLabelValues(reason).Inc()
			c.Set(keyReason, reason+" signature")
			reply(c, http.StatusUnauthorized, outcomeUnauthorized)
			return
		}
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

	switch {
	case !ev.Known():
		reply(c, http.StatusOK, outcomeIgnored)
		return
	case ev.CallbackID == "":
		reply(c, http.StatusOK, outcomeNoCallbackID)
		return
	}
	if _, _, ok := workflows.ParseJobWorkflowID(ev.CallbackID); !ok {
		// Never signal an ID reelflow did not make: a signed event could otherwise name
		// a system workflow or another application's.
		reply(c, http.StatusOK, outcomeNotOurs)
		return
	}

	ctx, cancel := context.WithTimeout(c.Request.Context(), r.timeout)
	defer cancel()
	err = r.sig.Signal(ctx, ev.CallbackID, ev.DedupeKey(), ev)
	switch {
	case err == nil:
		r.metrics.signalsSent.Inc()
		reply(c, http.StatusOK, outcomeSignalled)
	case errors.Is(err, ErrWorkflowNotFound):
		r.metrics.lateEvents.Inc()
		reply(c, http.StatusOK, outcomeLate)
	default:
		// The signal may or may not have been recorded; HeyGen's retry carries the same
		// request ID, so Temporal records it at most once either way.
		outcome := outcomeUnavailable
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			outcome = outcomeTimeout
		}
		_ = c.Error(err) // the access log line then carries it, at error level
		c.Header("Retry-After", retryAfterSeconds)
		reply(c, http.StatusServiceUnavailable, outcome)
	}
}
