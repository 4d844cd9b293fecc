package receiver

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	ginzap "github.com/gin-contrib/zap"
	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Keys of the values that handlers leave on the gin context for the access log and
// the metrics.
const (
	keyRequestID  = "reelflow.request_id"
	keyOutcome    = "reelflow.outcome"
	keyEventType  = "reelflow.event_type"
	keyCallbackID = "reelflow.callback_id"
	keyJobID      = "reelflow.job_id"
	keyReason     = "reelflow.reason"
	keyError      = "reelflow.error"
	keyScheme     = "reelflow.signing_scheme"
	keyFoundBy    = "reelflow.found_by"
)

// RequestIDHeader carries the request ID in both directions.
const RequestIDHeader = "X-Request-ID"

const maxRequestIDLen = 64

// maxLoggedLen clips the strings from a delivery that reach the log, so that a signed but
// odd delivery (or any delivery, with verification off) cannot flood it.
const maxLoggedLen = 200

// response is the body of every answer: small, and the same shape everywhere.
type response struct {
	Status    string `json:"status"`
	RequestID string `json:"request_id"`
}

// reply answers with status code and outcome, and records the outcome for the access
// log and the metrics.
func reply(c *gin.Context, code int, outcome string) {
	c.Set(keyOutcome, outcome)
	c.AbortWithStatusJSON(code, response{Status: outcome, RequestID: c.GetString(keyRequestID)})
}

// requestID takes the caller's X-Request-ID, sanitised and shortened, or makes one, and
// sets it on the answer before anything else can answer.
// gin-contrib/requestid is left out: it echoes the header unsanitised.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := sanitizeRequestID(c.GetHeader(RequestIDHeader))
		if id == "" {
			id = rand.Text()
		}
		c.Set(keyRequestID, id)
		c.Header(RequestIDHeader, id)
		c.Next()
	}
}

// sanitizeRequestID keeps [A-Za-z0-9._-] and at most maxRequestIDLen of them, so that a
// request ID can be echoed and logged without injecting anything.
func sanitizeRequestID(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxRequestIDLen; i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '.' || ch == '_' || ch == '-' {
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// accessLog writes one line per request, with its outcome, through gin-contrib/zap.
// Successful probes of /healthz, /readyz and /metrics are left out: they are noise.
// Only the fields below are logged: never a header or the body, where signatures live.
func (r *Receiver) accessLog() gin.HandlerFunc {
	return ginzap.GinzapWithConfig(r.log.Named("access"), &ginzap.Config{
		DefaultLevel: zapcore.InfoLevel,
		Skipper: func(c *gin.Context) bool {
			switch c.Request.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return c.Writer.Status() < 400
			}
			return false
		},
		Context: func(c *gin.Context) []zapcore.Field {
			fields := []zapcore.Field{
				zap.String("request_id", c.GetString(keyRequestID)),
				zap.String("outcome", c.GetString(keyOutcome)),
			}
			for _, k := range []struct{ key, name string }{
				{keyEventType, "event_type"}, {keyCallbackID, "callback_id"},
				{keyJobID, "job_id"}, {keyScheme, "signing_scheme"}, {keyFoundBy, "found_by"},
				{keyReason, "reason"}, {keyError, "error"},
			} {
				if v := c.GetString(k.key); v != "" {
					fields = append(fields, zap.String(k.name, clip(v)))
				}
			}
			return fields
		},
	})
}

// observe counts webhook requests by outcome and event type, and times their answers.
func (r *Receiver) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.URL.Path != WebhookPath {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		outcome := c.GetString(keyOutcome)
		if outcome == "" {
			outcome = "unknown"
		}
		eventType := c.GetString(keyEventType)
		if eventType == "" {
			eventType = "none"
		} else if !knownType(eventType) {
			// Label values stay bounded: a type reelflow does not act on counts as "other".
			eventType = "other"
		}
		r.metrics.requests.WithLabelValues(outcome, eventType).Inc()
		r.metrics.ackLatency.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	}
}

// recovery answers a panic with 500 and logs it with its stack, but not the request: the
// recoveries of gin and gin-contrib/zap dump the request headers, signatures included.
// A panic is recovered before any answer was written, so nothing was acknowledged, and
// the signal call, if it panicked, did not return.
func (r *Receiver) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("panic while handling a request",
					zap.String("request_id", c.GetString(keyRequestID)),
					zap.String("method", c.Request.Method),
					zap.String("path", c.Request.URL.Path),
					zap.String("panic", clip(fmt.Sprint(p))),
					zap.ByteString("stack", debug.Stack()))
				_ = c.Error(errors.New("panic recovered"))
				if c.Writer.Written() {
					c.Abort()
					return
				}
				reply(c, http.StatusInternalServerError, outcomePanic)
			}
		}()
		c.Next()
	}
}

// bodyLimit answers 413 at once when Content-Length says too much, and otherwise caps the
// body so that a longer (chunked or lying) one fails to read instead of being truncated.
// gin has no body limit of its own, and http.MaxBytesReader is the standard one.
func bodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			// The unread body is not worth draining: close the connection after answering.
			c.Header("Connection", "close")
			reply(c, http.StatusRequestEntityTooLarge, outcomeTooLarge)
			return
		}
		if c.Request.Body == nil {
			c.Request.Body = http.NoBody
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// clip shortens s for the log.
func clip(s string) string {
	if len(s) <= maxLoggedLen {
		return s
	}
	return s[:maxLoggedLen] + "..."
}
