package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/heygen"
)

// WebhookPath is where HeyGen delivers webhooks.
const WebhookPath = "/webhooks/heygen"

// Defaults of Config.
const (
	DefaultMaxBodyBytes  int64 = 1 << 20
	DefaultSignalTimeout       = 5 * time.Second
)

const (
	// readyTimeout bounds /readyz, so that a probe never hangs on a stuck Temporal.
	readyTimeout = 2 * time.Second
	// retryAfterSeconds is what a 503 asks HeyGen to wait before it delivers again.
	retryAfterSeconds = "5"
	// maxHeaderBytes caps request headers; a delivery needs well under 1 KiB of them.
	maxHeaderBytes = 16 << 10
)

// ErrWorkflowNotFound is returned, possibly wrapped, by a Signaler when the workflow is
// closed or does not exist. The receiver answers such a delivery 200 and counts it late:
// the workflow finished without it (a poll won the race), and a retry could not help.
var ErrWorkflowNotFound = errors.New("workflow not found or already closed")

// Signaler delivers an event to the Job workflow with the given ID. requestID dedupes:
// Temporal drops a second signal with the same request ID to the same open workflow.
type Signaler interface {
	Signal(ctx context.Context, workflowID, requestID string, ev heygen.Event) error
}

// HealthChecker reports whether the receiver can do its work, that is whether Temporal
// answers. It backs GET /readyz.
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// Config configures a Receiver. The zero value of each field but Secrets has a default.
type Config struct {
	// Secrets are the endpoint signing secrets (HEYGEN_WEBHOOK_SECRETS). A delivery signed
	// with any of them is accepted, so that a secret can be rotated without losing events.
	Secrets []string
	// InsecureSkipVerify accepts unsigned deliveries. It is the only way to run without
	// secrets; the receiver warns at start and on every delivery.
	InsecureSkipVerify bool
	// MaxBodyBytes caps a delivery's body; larger ones are answered 413. Default 1 MiB.
	MaxBodyBytes int64
	// SignalTimeout bounds the signal call; past it the delivery is answered 503 with
	// Retry-After. Default 5 s, well inside HeyGen's patience and the server's WriteTimeout.
	SignalTimeout time.Duration
	// Finder looks up the Job of an event without a callback_id by its HeyGen job ID.
	// Nil answers such events 200 no_callback_id at once, and polling finishes the Job.
	Finder JobFinder
	// Logger receives one line per request and the warnings. Nil logs nothing.
	Logger *zap.Logger
	// Registry receives the receiver's metrics and is served on /metrics. Nil means a
	// fresh registry (with Go and process collectors), so that tests do not collide.
	Registry *prometheus.Registry
	// Tracing, when set, makes each request a server span (otelgin), the parent of the
	// signal it sends; see tracing.go.
	Tracing *Tracing
}

// Receiver is the webhook receiver: its routes, middleware and metrics.
type Receiver struct {
	secrets  atomic.Pointer[[]string]
	insecure bool
	maxBody  int64
	timeout  time.Duration
	log      *zap.Logger
	router   *Router
	health   HealthChecker
	metrics  *metrics
	engine   *gin.Engine
	tracing  *Tracing
}

// New builds a Receiver. It refuses to build one without a secret unless
// cfg.InsecureSkipVerify is set. health may be nil, and then /readyz is always ready.
func New(cfg Config, sig Signaler, health HealthChecker) (*Receiver, error) {
	router, err := NewRouter(sig, cfg.Finder, cfg.SignalTimeout)
	if err != nil {
		return nil, err
	}
	secrets := cleanSecrets(cfg.Secrets)
	if len(secrets) == 0 && !cfg.InsecureSkipVerify {
		return nil, fmt.Errorf("receiver: %w: set HEYGEN_WEBHOOK_SECRETS to the endpoint's "+
			"signing secret (comma-separated to accept several during a rotation; "+
			"`reelflow webhook register` or `reelflow webhook rotate` prints it), or pass "+
			"--insecure-skip-verify to accept unsigned deliveries", heygen.ErrNoSecrets)
	}
	r := &Receiver{
		insecure: cfg.InsecureSkipVerify,
		maxBody:  cfg.MaxBodyBytes,
		timeout:  cfg.SignalTimeout,
		log:      cfg.Logger,
		router:   router,
		health:   health,
		tracing:  cfg.Tracing,
	}
	r.secrets.Store(&secrets)
	if r.maxBody <= 0 {
		r.maxBody = DefaultMaxBodyBytes
	}
	if r.timeout <= 0 {
		r.timeout = DefaultSignalTimeout
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("receiver: register metrics: %w", err)
	}
	r.metrics = m
	if r.insecure {
		r.log.Warn("webhook signature verification is DISABLED (insecure skip verify): " +
			"anyone who can reach the receiver can signal workflows")
	} else {
		// The count only: secrets are never logged.
		r.log.Info("webhook signature verification enabled", zap.Int("secrets", len(secrets)))
	}
	r.engine = r.routes(reg)
	return r, nil
}

// SetSecrets replaces the signing secrets while the receiver runs, for a rotation or
// for the dev stack, which learns its secret only after the receiver answers HeyGen's
// OPTIONS probe. Empty secrets are dropped; an empty list is refused, since it would
// leave a verifying receiver unable to accept anything.
func (r *Receiver) SetSecrets(secrets []string) error {
	clean := cleanSecrets(secrets)
	if len(clean) == 0 {
		return heygen.ErrNoSecrets
	}
	r.secrets.Store(&clean)
	return nil
}

// cleanSecrets trims the secrets and drops empty ones.
func cleanSecrets(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Handler returns the receiver's routes as an http.Handler (a gin engine).
func (r *Receiver) Handler() http.Handler { return r.engine }

// Server returns an http.Server for the receiver on addr, with every timeout and the
// header size capped. Graceful shutdown is the caller's: Server.Shutdown lets in-flight
// deliveries finish, and none is answered 200 unless its signal call returned.
func (r *Receiver) Server(addr string) *http.Server {
	return &http.Server{
		Addr:    addr,
		Handler: r.engine,
		// HeyGen sends small requests from a data centre; a slow sender is an attack.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		// The answer waits for the signal call, so the write deadline must outlast it.
		WriteTimeout:   r.timeout + readyTimeout + 10*time.Second,
		IdleTimeout:    90 * time.Second,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       zap.NewStdLog(r.log.Named("http")),
	}
}

// routes builds the gin engine. Each middleware is explicit, and the order matters: the
// request ID comes first so every answer carries it, the access log and metrics sit
// outside recovery so that they see a recovered panic's 500.
func (r *Receiver) routes(reg *prometheus.Registry) *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// A webhook URL is exact; redirects would only widen the surface.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// Client IPs are for the log only; without trusted proxies, X-Forwarded-For is ignored.
	_ = e.SetTrustedProxies(nil)

	e.Use(r.traceRequests(), requestID(), r.accessLog(), r.observe(), r.recovery(), bodyLimit(r.maxBody))

	e.POST(WebhookPath, r.webhook)
	// HeyGen probes the URL with OPTIONS when an endpoint is registered and wants an
	// answer within a second, so it is answered at once and touches nothing.
	e.OPTIONS(WebhookPath, func(c *gin.Context) {
		c.Header("Allow", "POST, OPTIONS")
		reply(c, http.StatusOK, outcomeOptions)
	})
	e.GET("/healthz", func(c *gin.Context) { reply(c, http.StatusOK, "ok") })
	e.GET("/readyz", r.ready)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	e.NoMethod(func(c *gin.Context) { reply(c, http.StatusMethodNotAllowed, outcomeMethodNotAllowed) })
	e.NoRoute(func(c *gin.Context) { reply(c, http.StatusNotFound, "not_found") })
	return e
}

// ready answers 200 when Temporal answers within readyTimeout.
func (r *Receiver) ready(c *gin.Context) {
	if r.health == nil {
		reply(c, http.StatusOK, "ready")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if err := r.health.CheckHealth(ctx); err != nil {
		_ = c.Error(err)
		c.Header("Retry-After", retryAfterSeconds)
		reply(c, http.StatusServiceUnavailable, "unavailable")
		return
	}
	reply(c, http.StatusOK, "ready")
}
