package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/worker"
	"github.com/reelflow/reelflow/workflows"
)

// shutdownTimeout bounds a graceful stop after SIGINT or SIGTERM.
const shutdownTimeout = 30 * time.Second

// heygenFlags are the HeyGen settings of the commands that talk to HeyGen.
type heygenFlags struct {
	apiKey, baseURL string
}

func (a *app) bindHeyGen(cmd *cobra.Command, h *heygenFlags) {
	a.env.String(cmd.Flags(), &h.apiKey, "heygen-api-key", "HEYGEN_API_KEY", "", "HeyGen API key")
	a.env.String(cmd.Flags(), &h.baseURL, "heygen-base-url", "HEYGEN_BASE_URL", "", "HeyGen API base URL (default "+heygen.DefaultBaseURL+")")
}

// workerAccountFlags are the HeyGen account's scheduling settings, on worker and dev.
type workerAccountFlags struct {
	name        string
	concurrency int
	minBalance  float64
}

func (a *app) bindWorkerAccount(cmd *cobra.Command, f *workerAccountFlags) {
	fs := cmd.Flags()
	a.env.String(fs, &f.name, "heygen-account", "REELFLOW_HEYGEN_ACCOUNT", "", "name of the HeyGen account, which every worker of the account shares (default: a keyed hash of the API key; \"sandbox\" for dev's sandbox)")
	a.env.Int(fs, &f.concurrency, "heygen-concurrency", "REELFLOW_HEYGEN_CONCURRENCY", 0, "HeyGen jobs the account renders at once (your plan's limit, 10 on pay-as-you-go); every worker of the account must say the same; Jobs wait for a slot of the account's scheduler instead of meeting 429s (0 = off)")
	a.env.Float(fs, &f.minBalance, "heygen-min-balance", "REELFLOW_HEYGEN_MIN_BALANCE", 0, "reserve of the account's balance (its unit, credits or USD): the scheduler pauses before the balance falls to it (0 = none)")
}

// account validates the flags and names the account (workflows.AccountName: the
// configured name, else a keyed hash of apiKey, never the key itself, else the dev
// sandbox's).
func (f workerAccountFlags) account(apiKey string) (activities.Account, error) {
	switch {
	case f.concurrency < 0:
		return activities.Account{}, fmt.Errorf("--heygen-concurrency %d: want 0 (off) or more", f.concurrency)
	case f.minBalance < 0 || math.IsNaN(f.minBalance) || math.IsInf(f.minBalance, 0):
		return activities.Account{}, fmt.Errorf("--heygen-min-balance %v: want 0 (none) or more", f.minBalance)
	}
	name, err := workflows.AccountName(f.name, apiKey)
	if err != nil {
		return activities.Account{}, fmt.Errorf("--heygen-account: %w", err)
	}
	host, _ := os.Hostname()
	return activities.Account{Name: name, Concurrency: f.concurrency, MinBalance: f.minBalance,
		Worker: host + ":" + strconv.Itoa(os.Getpid())}, nil
}

func (a *app) bindWorker(cmd *cobra.Command, o *worker.Options) {
	fs := cmd.Flags()
	a.env.Int(fs, &o.MaxConcurrentActivities, "max-concurrent-activities", "REELFLOW_MAX_CONCURRENT_ACTIVITIES", worker.DefaultMaxConcurrentActivities, "activities one worker runs at once")
	a.env.Int(fs, &o.MaxConcurrentWorkflowTasks, "max-concurrent-workflow-tasks", "REELFLOW_MAX_CONCURRENT_WORKFLOW_TASKS", worker.DefaultMaxConcurrentWorkflowTasks, "workflow tasks one worker runs at once")
	a.env.Int(fs, &o.StickyCacheSize, "sticky-cache-size", "REELFLOW_STICKY_CACHE_SIZE", worker.DefaultStickyCacheSize, "workflows kept in memory between tasks, process-wide")
	a.env.Duration(fs, &o.StopTimeout, "stop-timeout", "REELFLOW_STOP_TIMEOUT", worker.DefaultStopTimeout, "how long a stopping worker waits for running activities")
}

// workerFlags are the worker command's flags.
type workerFlags struct {
	hg          heygenFlags
	acct        workerAccountFlags
	opts        worker.Options
	metricsAddr string
}

func (a *app) workerCommand() *cobra.Command {
	var f workerFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker: the Pipeline and Job workflows and their HeyGen activities",
		Long: `worker polls reelflow's task queue and runs the Pipeline and Job workflows and their
HeyGen activities. Run as many as you like against one Temporal namespace; they share
the work. On SIGTERM or SIGINT it stops polling, lets running activities finish for up
to --stop-timeout, and exits 0.

With --deployment-name and --build-id it takes part in Worker Versioning: workflows are
AutoUpgrade, so changes to workflow code must stay replay-safe (workflow.GetVersion).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			acct, err := f.account()
			if err != nil {
				return err
			}
			return a.runWorker(cmd.Context(), &f, acct)
		},
	}
	a.bindHeyGen(cmd, &f.hg)
	a.bindWorkerAccount(cmd, &f.acct)
	a.bindWorker(cmd, &f.opts)
	fs := cmd.Flags()
	a.env.String(fs, &f.metricsAddr, "metrics-addr", "REELFLOW_METRICS_ADDR", defaultWorkerMetricsAddr, "serve Prometheus metrics on /metrics (and /healthz) here; empty disables")
	a.env.String(fs, &f.opts.DeploymentName, "deployment-name", "REELFLOW_DEPLOYMENT_NAME", "", "Worker Deployment name; with --build-id turns on Worker Versioning")
	a.env.String(fs, &f.opts.BuildID, "build-id", "REELFLOW_BUILD_ID", "", "this worker's build ID in the deployment (default: the binary's version, when not \"dev\")")
	return cmd
}

// account checks the worker's flags, defaults its build ID to the binary's version, and
// returns its HeyGen account. Every error is bad usage (exit code 2).
func (f *workerFlags) account() (activities.Account, error) {
	if f.hg.apiKey == "" {
		return activities.Account{}, &exitError{code: 2, err: errors.New("HEYGEN_API_KEY is not set: the worker needs it to call HeyGen (point HEYGEN_BASE_URL at `reelflow sandbox` to run without one)")}
	}
	acct, err := f.acct.account(f.hg.apiKey)
	if err != nil {
		return activities.Account{}, &exitError{code: 2, err: err}
	}
	if f.opts.DeploymentName != "" && f.opts.BuildID == "" && version != "dev" {
		f.opts.BuildID = version
	}
	if err := f.opts.Validate(); err != nil {
		return activities.Account{}, &exitError{code: 2, err: fmt.Errorf("--deployment-name and --build-id: %w", err)}
	}
	return acct, nil
}

// runWorker runs a worker for acct until ctx ends and its running activities finished
// or the stop timeout passed; the metrics server stops after it.
func (a *app) runWorker(ctx context.Context, f *workerFlags, acct activities.Account) error {
	log, err := a.logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	copts, err := a.clientOptions(log.Named("sdk"))
	if err != nil {
		return err
	}
	if f.metricsAddr != "" {
		stop, err := serveWorkerMetrics(f.metricsAddr, &copts, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	c, err := client.DialContext(ctx, copts)
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", copts.HostPort, err)
	}
	defer c.Close()
	tr, err := a.tracer()
	if err != nil {
		return err
	}
	acts := activities.New(heygen.NewClient(f.hg.baseURL, f.hg.apiKey, heygenHTTPClient(tr)), activities.WithHTTPTransport(tr.Transport), activities.WithAccount(acct))
	w := worker.New(c, acts, f.opts)
	log.Info("worker starting", zap.String("temporal", copts.HostPort), zap.String("namespace", copts.Namespace),
		zap.String("deployment", f.opts.DeploymentName), zap.String("build_id", f.opts.BuildID))
	if err := w.Run(stopOn(ctx, log, f.opts.WithDefaults().StopTimeout)); err != nil {
		return err
	}
	log.Info("worker stopped")
	return nil
}

// serveWorkerMetrics points copts' SDK metrics at a Prometheus registry and serves it on
// addr; stop shuts both down.
func serveWorkerMetrics(addr string, copts *client.Options, log *zap.Logger) (stop func(), err error) {
	m, err := worker.NewMetrics()
	if err != nil {
		return nil, err
	}
	copts.MetricsHandler = m.Handler()
	stopServer, err := startMetricsServer(addr, m.HTTPHandler(), log)
	if err != nil {
		_ = m.Shutdown(context.Background())
		return nil, &exitError{code: 2, err: err}
	}
	return func() {
		stopServer()
		_ = m.Shutdown(context.Background())
	}, nil
}

// stopOn adapts a context to the worker's interrupt channel, and logs when the stop
// begins: from then on the worker takes no new tasks, and its running activities have
// until the stop timeout to finish.
func stopOn(ctx context.Context, log *zap.Logger, stopTimeout time.Duration) <-chan any {
	ch := make(chan any, 1)
	go func() {
		<-ctx.Done()
		log.Info("worker stopping: no new tasks; running activities may finish", zap.Duration("stop_timeout", stopTimeout))
		ch <- struct{}{}
	}()
	return ch
}

func (a *app) receiverCommand() *cobra.Command {
	var (
		addr     string
		secrets  string
		insecure bool
		cfg      receiver.Config
	)
	cmd := &cobra.Command{
		Use:   "receiver",
		Short: "Run the HeyGen webhook receiver: verify, then signal the job's workflow, then answer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			cfg.Secrets, cfg.InsecureSkipVerify, cfg.Logger = splitList(secrets), insecure, log.Named("receiver")
			copts, err := a.clientOptions(log.Named("sdk"))
			if err != nil {
				return err
			}
			copts.ConnectionOptions.DialOptions = append(copts.ConnectionOptions.DialOptions, receiver.RequestIDDialOption())
			// Lazy: the receiver starts while Temporal is down, answers 503 so that
			// HeyGen retries, and reports not ready until Temporal answers.
			c, err := client.NewLazyClient(copts)
			if err != nil {
				return fmt.Errorf("temporal client for %s: %w", copts.HostPort, err)
			}
			defer c.Close()
			cfg.Finder = receiver.NewTemporalJobFinder(c)
			if cfg.Tracing, err = a.receiverTracingOf(); err != nil {
				return err
			}
			rcv, err := receiver.New(cfg, receiver.NewTemporalSignaler(c, cfg.Logger), receiver.NewTemporalHealthChecker(c))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			log.Info("receiver listening", zap.String("addr", addr), zap.String("path", receiver.WebhookPath))
			return serveUntilDone(cmd.Context(), rcv.Server(addr))
		},
	}
	fs := cmd.Flags()
	a.env.String(fs, &addr, "addr", "REELFLOW_RECEIVER_ADDR", "127.0.0.1:8080", "listen address")
	a.env.String(fs, &secrets, "webhook-secrets", "HEYGEN_WEBHOOK_SECRETS", "", "endpoint signing secrets, comma-separated; several are accepted during a rotation")
	a.env.Bool(fs, &insecure, "insecure-skip-verify", "REELFLOW_INSECURE_SKIP_VERIFY", false, "accept unsigned deliveries (never in production)")
	a.env.Int64(fs, &cfg.MaxBodyBytes, "max-body", "REELFLOW_MAX_BODY", receiver.DefaultMaxBodyBytes, "largest delivery accepted, in bytes; larger ones get 413")
	a.env.Duration(fs, &cfg.SignalTimeout, "signal-timeout", "REELFLOW_SIGNAL_TIMEOUT", receiver.DefaultSignalTimeout, "longest wait for Temporal before answering 503")
	return cmd
}

func (a *app) sandboxCommand() *cobra.Command {
	var (
		addr    string
		cfg     sandbox.Config
		account sandboxAccount
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the HeyGen sandbox alone: a working fake of HeyGen's API for development",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			if err := account.apply("", &cfg.ConcurrencyLimit, &cfg.Credits, &cfg.Billing); err != nil {
				return err
			}
			cfg.Logger = log.Named("sandbox")
			sb, err := sandbox.New(cfg)
			if err != nil {
				return err
			}
			defer func() { _ = sb.Close() }()
			log.Info("sandbox listening", zap.String("addr", addr))
			return serveUntilDone(cmd.Context(), &http.Server{Addr: addr, Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second})
		},
	}
	fs := cmd.Flags()
	a.env.String(fs, &addr, "addr", "REELFLOW_SANDBOX_ADDR", "127.0.0.1:8090", "listen address")
	a.env.Duration(fs, &cfg.RenderTime, "render-time", "REELFLOW_SANDBOX_RENDER_TIME", 3*time.Second, "simulated render time")
	a.env.Float(fs, &cfg.DropRate, "drop-rate", "REELFLOW_SANDBOX_DROP_RATE", 0, "fraction of webhooks dropped (0-1)")
	a.env.String(fs, &cfg.StatePath, "state", "REELFLOW_SANDBOX_STATE", "", "JSON file that keeps jobs and endpoints across restarts")
	a.env.String(fs, &cfg.PublicURL, "public-url", "REELFLOW_SANDBOX_PUBLIC_URL", "", "base URL of file links (default: from each request's Host)")
	a.env.String(fs, &cfg.APIKey, "api-key", "REELFLOW_SANDBOX_API_KEY", "", "API key the sandbox requires (default: any)")
	a.bindSigningScheme(fs, &cfg.SigningScheme)
	a.env.String(fs, (*string)(&cfg.Answers), "answers", "REELFLOW_SANDBOX_ANSWERS", string(sandbox.AnswersFull),
		"how much of each answer to give: full, or only what HeyGen's published contract requires, with the rest null (null) or left out (omit)")
	a.bindSandboxAccount(fs, "", &account)
	return cmd
}

// bindSigningScheme binds --signing-scheme, how the sandbox signs its deliveries. The
// value is checked when the sandbox is built.
func (a *app) bindSigningScheme(fs *pflag.FlagSet, p *heygen.SigningScheme) {
	a.env.String(fs, (*string)(p), "signing-scheme", "REELFLOW_SANDBOX_SIGNING_SCHEME", string(heygen.SchemeHex),
		"how the sandbox signs webhooks: hex (HMAC of the body in Signature) or standard (Standard Webhooks headers)")
}

// serveUntilDone serves until ctx ends, then shuts down gracefully: the listener closes
// first, and in-flight requests get up to shutdownTimeout to finish.
func serveUntilDone(ctx context.Context, srv *http.Server) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "reelflow: shutdown:", err)
	}
	return nil
}
