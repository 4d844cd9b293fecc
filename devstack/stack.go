// Package devstack runs reelflow's whole local stack in one process: an embedded
// Temporal server with its Web UI and a SQLite file, the HeyGen sandbox, the webhook
// receiver and the worker. It backs `reelflow dev` and the end-to-end tests.
//
// State lives under one directory (default .reelflow): the Temporal database, the
// sandbox's jobs and the webhook endpoint with its secret. A stack killed and started
// again on the same directory finishes what was in flight.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/tracing"
	"github.com/reelflow/reelflow/worker"
	"github.com/reelflow/reelflow/workflows"
)

// Config describes a dev stack. Zero fields take the defaults of `reelflow dev`.
type Config struct {
	// Dir keeps the stack's state; default ".reelflow". Ignored when Ephemeral.
	Dir string
	// Ephemeral keeps Temporal and the sandbox in memory: nothing survives Stop.
	Ephemeral bool
	// Host is the address every service binds; default 127.0.0.1.
	Host string
	// TemporalPort is the frontend's port; default 7233, -1 for any free port.
	TemporalPort int
	// UIPort is the Web UI's port; default 8233, -1 for no UI.
	UIPort int
	// SandboxAddr and ReceiverAddr default to 127.0.0.1:8090 and 127.0.0.1:8080; a
	// port of 0 picks a free one.
	SandboxAddr  string
	ReceiverAddr string
	// RenderTime is the sandbox's simulated render time; default 3 s.
	RenderTime time.Duration
	// DropRate is the fraction of webhooks the sandbox drops, to show polling at work.
	DropRate float64
	// SandboxConcurrencyLimit, SandboxCredits and SandboxBilling are the sandbox account's
	// (sandbox.Config's ConcurrencyLimit, Credits and Billing): its limit of jobs
	// rendering at once (0 = none), its opening balance in credits (nil = unlimited) and
	// the billing type GET /v3/users/me reports.
	SandboxConcurrencyLimit int
	SandboxCredits          *int64
	SandboxBilling          string
	// HeyGenAPIKey, when set, sends jobs to real HeyGen at HeyGenBaseURL instead of the
	// sandbox. Webhooks cannot reach localhost then, so polling carries the jobs.
	HeyGenAPIKey  string
	HeyGenBaseURL string
	// SigningScheme is how the sandbox signs its webhooks: heygen.SchemeHex (default) or
	// heygen.SchemeStandard. The receiver accepts both either way.
	SigningScheme heygen.SigningScheme
	// WebhookURL, in HeyGen mode, is the public URL at which HeyGen reaches the
	// receiver's /webhooks/heygen (a tunnel, say). The stack registers it with HeyGen,
	// as it registers the receiver with the sandbox, and keeps its secret under Dir.
	WebhookURL string
	// WebhookSecrets are used by the receiver in HeyGen mode, for an endpoint registered
	// by hand; the sandbox mode generates its own.
	WebhookSecrets []string
	// Worker tunes the worker.
	Worker worker.Options
	// Account is the HeyGen account's scheduling (--heygen-concurrency ...). Its name
	// defaults to workflows.AccountName's: the sandbox's, or a keyed hash of HeyGenAPIKey.
	Account activities.Account
	// Logger receives every component's logs; nil discards them.
	Logger *zap.Logger
	// TemporalLogFile, when set, receives the embedded Temporal server's warnings and
	// errors instead of Logger (see TemporalConfig.LogFile), so that a console shows
	// reelflow's own lines.
	TemporalLogFile string
	// Payload encrypts every payload the stack's clients write (the worker's, the
	// receiver's signals, the stack's Client); zero: plaintext. `reelflow dev` gives
	// it a key kept under Dir.
	Payload payload.Options
	// CodecAddr, with Payload's keys, serves the codec server (/encode, /decode) there,
	// and the UI decodes through it; "" runs none. A port of 0 picks a free one.
	CodecAddr string
	// Tracing traces the clients, worker, receiver and HeyGen calls; nil: off.
	Tracing *tracing.Tracing
}

func (c Config) withDefaults() Config {
	if c.Dir == "" {
		c.Dir = ".reelflow"
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	switch c.TemporalPort {
	case 0:
		c.TemporalPort = 7233
	case -1:
		c.TemporalPort = 0
	}
	if c.UIPort == 0 {
		c.UIPort = 8233
	}
	if c.SandboxAddr == "" {
		c.SandboxAddr = net.JoinHostPort(c.Host, "8090")
	}
	if c.ReceiverAddr == "" {
		c.ReceiverAddr = net.JoinHostPort(c.Host, "8080")
	}
	if c.RenderTime <= 0 {
		c.RenderTime = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Account.Name == "" {
		// A usage error here is impossible: an empty name is never refused.
		c.Account.Name, _ = workflows.AccountName("", c.HeyGenAPIKey)
	}
	return c
}

// Stack is a running dev stack.
type Stack struct {
	cfg      Config
	log      *zap.Logger
	Temporal *Temporal
	UI       *UI // nil without a UI
	// Sandbox is nil in HeyGen mode.
	Sandbox *sandbox.Sandbox
	// Client is connected to the embedded server; the stack closes it.
	Client client.Client
	// HeyGen is the client the worker uses: the sandbox's or real HeyGen's.
	HeyGen *heygen.Client

	sandboxSrv  *http.Server
	sandboxURL  string
	receiverSrv *http.Server // nil in HeyGen mode without secrets
	receiverURL string
	secret      string // the registered endpoint's signing secret
	webhookURL  string // the registered endpoint's URL
	worker      sdkworker.Worker
	// workerClient is the worker's own client when StartWorkerWithPayload gave it other
	// keys; nil when the worker uses Client.
	workerClient client.Client
	codecSrv     *http.Server
	codecURL     string
}

// Start brings the stack up and returns once every part answers. On error, whatever
// had started is stopped again.
func Start(ctx context.Context, cfg Config) (st *Stack, err error) {
	cfg = cfg.withDefaults()
	st = &Stack{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			_ = st.Stop(context.Background())
			st = nil
		}
	}()

	tcfg := TemporalConfig{
		Host:             cfg.Host,
		Port:             cfg.TemporalPort,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           cfg.Logger.Named("temporal"),
		LogFile:          cfg.TemporalLogFile,
	}
	if !cfg.Ephemeral {
		tcfg.DBPath = filepath.Join(cfg.Dir, "temporal.db")
	}
	if st.Temporal, err = StartTemporal(ctx, tcfg); err != nil {
		return st, err
	}
	if cfg.CodecAddr != "" && len(cfg.Payload.Keys) > 0 {
		origins := []string{"http://" + net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.UIPort)), "http://localhost:" + strconv.Itoa(cfg.UIPort)}
		if err = st.startCodecServer(origins); err != nil {
			return st, err
		}
	}
	if cfg.UIPort > 0 {
		if st.UI, err = StartUIWithCodec(st.Temporal.Address(), cfg.Host, cfg.UIPort, st.Temporal.Namespace(), st.codecURL); err != nil {
			return st, err
		}
	}
	copts, err := st.clientOptions(cfg.Payload)
	if err != nil {
		return st, err
	}
	if st.Client, err = client.DialContext(ctx, copts); err != nil {
		return st, fmt.Errorf("connect to temporal: %w", err)
	}

	if cfg.HeyGenAPIKey != "" {
		st.HeyGen = st.heygenClient(cfg.HeyGenBaseURL, cfg.HeyGenAPIKey)
		switch {
		case cfg.WebhookURL != "":
			err = st.registerReceiver(ctx, cfg.WebhookURL, cfg.WebhookSecrets)
		case len(cfg.WebhookSecrets) > 0:
			_, err = st.startReceiver(cfg.WebhookSecrets)
		}
	} else {
		if err = st.startSandbox(); err != nil {
			return st, err
		}
		err = st.registerReceiver(ctx, "", nil)
	}
	if err != nil {
		return st, err
	}

	st.worker = worker.New(st.Client, st.newActivities(), cfg.Worker)
	if err = st.worker.Start(); err != nil {
		return st, fmt.Errorf("start worker: %w", err)
	}
	return st, nil
}

// startSandbox serves the HeyGen sandbox and points the HeyGen client at it.
func (st *Stack) startSandbox() error {
	scfg := sandbox.Config{
		RenderTime:    st.cfg.RenderTime,
		DropRate:      st.cfg.DropRate,
		SigningScheme: st.cfg.SigningScheme,
		Logger:        st.log.Named("sandbox"),
		// The account's limit and balance.
		ConcurrencyLimit: st.cfg.SandboxConcurrencyLimit,
		Credits:          st.cfg.SandboxCredits,
		Billing:          st.cfg.SandboxBilling,
	}
	if !st.cfg.Ephemeral {
		scfg.StatePath = filepath.Join(st.cfg.Dir, "sandbox.json")
	}
	ln, err := net.Listen("tcp", st.cfg.SandboxAddr)
	if err != nil {
		return fmt.Errorf("sandbox %s: %w", st.cfg.SandboxAddr, err)
	}
	st.sandboxURL = "http://" + ln.Addr().String()
	scfg.PublicURL = st.sandboxURL
	sb, err := sandbox.New(scfg)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	st.Sandbox = sb
	st.sandboxSrv = &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = st.sandboxSrv.Serve(ln) }()
	st.HeyGen = st.heygenClient(st.sandboxURL, "sandbox")
	return nil
}

// startReceiver serves the webhook receiver, signalling through the stack's client.
func (st *Stack) startReceiver(secrets []string) (*receiver.Receiver, error) {
	log := st.log.Named("receiver")
	rcv, err := receiver.New(receiver.Config{Secrets: secrets, Logger: log, Finder: receiver.NewTemporalJobFinder(st.Client), Tracing: st.receiverTracing()},
		receiver.NewTemporalSignaler(st.Client, log),
		receiver.NewTemporalHealthChecker(st.Client))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", st.cfg.ReceiverAddr)
	if err != nil {
		return nil, fmt.Errorf("receiver %s: %w", st.cfg.ReceiverAddr, err)
	}
	st.receiverURL = "http://" + ln.Addr().String()
	st.receiverSrv = rcv.Server(ln.Addr().String())
	go func() { _ = st.receiverSrv.Serve(ln) }()
	return rcv, nil
}

// registerReceiver starts the receiver and registers it as a webhook endpoint with the
// stack's HeyGen (the sandbox, or HeyGen at its public hookURL), then verifies with the
// endpoint's secret and any extra ones. The endpoint is registered once the receiver
// answers HeyGen's OPTIONS probe; until then it holds a secret that nobody can sign with.
func (st *Stack) registerReceiver(ctx context.Context, hookURL string, extra []string) error {
	rcv, err := st.startReceiver([]string{randomHex(32)})
	if err != nil {
		return err
	}
	if hookURL == "" {
		hookURL = st.receiverURL + receiver.WebhookPath
	}
	secret, err := st.webhookSecret(ctx, hookURL)
	if err != nil {
		return err
	}
	if err := rcv.SetSecrets(append([]string{secret}, extra...)); err != nil {
		return err
	}
	st.secret, st.webhookURL = secret, hookURL
	return nil
}

// endpointFile remembers the sandbox's webhook endpoint and its secret, which the
// sandbox reveals only once, so that a restarted stack verifies with the same secret.
type endpointFile struct {
	EndpointID string `json:"endpoint_id"`
	URL        string `json:"url"`
	Secret     string `json:"secret"`
}

// webhookSecret returns the secret of the endpoint at hookURL, registering the endpoint
// (which runs HeyGen's OPTIONS probe) unless the one saved under Dir is still listed.
func (st *Stack) webhookSecret(ctx context.Context, hookURL string) (string, error) {
	path := filepath.Join(st.cfg.Dir, "webhook.json")
	if !st.cfg.Ephemeral {
		if b, err := os.ReadFile(path); err == nil {
			var saved endpointFile
			if json.Unmarshal(b, &saved) == nil && saved.URL == hookURL && saved.Secret != "" {
				eps, err := st.HeyGen.ListWebhookEndpoints(ctx)
				if err != nil {
					return "", fmt.Errorf("list webhook endpoints: %w", err)
				}
				for _, ep := range eps {
					if ep.ID == saved.EndpointID && ep.URL == hookURL {
						return saved.Secret, nil
					}
				}
			}
		}
	}
	ep, err := st.HeyGen.CreateWebhookEndpoint(ctx, hookURL, nil)
	if err != nil {
		return "", fmt.Errorf("register webhook endpoint %s: %w", hookURL, err)
	}
	if ep.Secret == "" {
		return "", fmt.Errorf("register webhook endpoint %s: the answer carries no secret", hookURL)
	}
	if !st.cfg.Ephemeral {
		b, _ := json.Marshal(endpointFile{EndpointID: ep.ID, URL: hookURL, Secret: ep.Secret})
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return "", fmt.Errorf("save webhook secret: %w", err)
		}
	}
	return ep.Secret, nil
}

// SandboxURL is the sandbox's base URL, or "" in HeyGen mode.
func (st *Stack) SandboxURL() string { return st.sandboxURL }

// ReceiverURL is the receiver's base URL, or "" when it does not run.
func (st *Stack) ReceiverURL() string { return st.receiverURL }

// WebhookSecret is the secret of the endpoint the stack registered, which the sandbox
// (or HeyGen) signs webhooks with and the receiver verifies, or "" when it registered
// none. Tests and benchmarks use it to sign deliveries.
func (st *Stack) WebhookSecret() string { return st.secret }

// StopWorker stops the stack's worker, as a crash or a deploy would; StartWorker
// starts a new one. Tests use them to prove that pipelines survive.
func (st *Stack) StopWorker() {
	if st.worker != nil {
		st.worker.Stop()
		st.worker = nil
	}
	if st.workerClient != nil {
		st.workerClient.Close()
		st.workerClient = nil
	}
}

// StartWorker starts a new worker if none runs.
func (st *Stack) StartWorker() error {
	if st.worker != nil {
		return nil
	}
	w := worker.New(st.Client, st.newActivities(), st.cfg.Worker)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	st.worker = w
	return nil
}

// Stop stops every part in the reverse order of Start. The state on disk stays.
func (st *Stack) Stop(ctx context.Context) error {
	var errs []error
	st.StopWorker()
	if st.receiverSrv != nil {
		errs = append(errs, st.receiverSrv.Shutdown(ctx))
	}
	if st.codecSrv != nil {
		errs = append(errs, st.codecSrv.Shutdown(ctx))
	}
	if st.sandboxSrv != nil {
		errs = append(errs, st.sandboxSrv.Shutdown(ctx))
	}
	if st.Sandbox != nil {
		errs = append(errs, st.Sandbox.Close())
	}
	if st.Client != nil {
		st.Client.Close()
	}
	if st.UI != nil {
		st.UI.Stop()
	}
	if st.Temporal != nil {
		errs = append(errs, st.Temporal.Stop())
	}
	return errors.Join(errs...)
}

// Banner is the short text `reelflow dev` prints once the stack is up.
func (st *Stack) Banner() string {
	var b strings.Builder
	b.WriteString("reelflow dev is up\n")
	state := "in memory"
	if !st.cfg.Ephemeral {
		state = filepath.Join(st.cfg.Dir, "temporal.db")
	}
	fmt.Fprintf(&b, "  Temporal     %s  (namespace %s, state %s)\n", st.Temporal.Address(), st.Temporal.Namespace(), state)
	if st.cfg.TemporalLogFile != "" {
		fmt.Fprintf(&b, "  Temporal log %s\n", st.cfg.TemporalLogFile)
	}
	if st.UI != nil {
		fmt.Fprintf(&b, "  Temporal UI  %s\n", st.UI.URL())
	}
	if len(st.cfg.Payload.Keys) > 0 {
		fmt.Fprintf(&b, "  Payloads     encrypted with key %s", st.cfg.Payload.Keys[0].ID)
		if st.codecURL != "" {
			fmt.Fprintf(&b, " (the UI decodes through %s)", st.codecURL)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("  Payloads     plaintext\n")
	}
	if st.Sandbox != nil {
		fmt.Fprintf(&b, "  HeyGen       %s  (sandbox: renders take %s, %.0f%% of webhooks dropped)\n",
			st.sandboxURL, st.cfg.RenderTime, st.cfg.DropRate*100)
	} else if st.webhookURL != "" {
		fmt.Fprintf(&b, "  HeyGen       %s  (real API; webhooks to %s)\n", st.HeyGen.BaseURL(), st.webhookURL)
	} else {
		fmt.Fprintf(&b, "  HeyGen       %s  (real API; webhooks cannot reach localhost, so jobs are polled)\n", st.HeyGen.BaseURL())
	}
	if st.receiverURL != "" {
		fmt.Fprintf(&b, "  Receiver     %s%s\n", st.receiverURL, receiver.WebhookPath)
	}
	fmt.Fprintf(&b, "  Worker       task queue %s\n", workflows.TaskQueue)
	b.WriteString("Next, in another terminal: go run ./cmd/reelflow start examples/welcome.yaml --wait\n")
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
