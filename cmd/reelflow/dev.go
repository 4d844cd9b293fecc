//go:build !nodev

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/spec"
)

// devstackIncluded reports whether this binary carries the embedded dev stack; the
// production image is built with -tags nodev and leaves the Temporal server out.
const devstackIncluded = true

// devFlags are dev's flags: most fill the stack's config directly.
type devFlags struct {
	cfg          devstack.Config
	hg           heygenFlags
	acct         workerAccountFlags
	secrets      string
	temporalLogs bool
	account      sandboxAccount
	encrypt      bool
}

func (a *app) devCommand() *cobra.Command {
	var f devFlags
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run Temporal, its UI, the HeyGen sandbox, the receiver and the worker in one process",
		Long: `dev runs the whole stack in one process, with no external service and no API key.
State lives under --dir, so Ctrl-C and a restart resume whatever was in flight.
With HEYGEN_API_KEY set it talks to real HeyGen instead of the sandbox; webhooks cannot
reach localhost then, and polling carries the jobs, unless --public-receiver-url gives the public
URL of a tunnel to the receiver: dev registers it with HeyGen and verifies its deliveries.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			cfg, err := a.devConfig(&f, log)
			if err != nil {
				return err
			}
			return a.runDev(cmd.Context(), cfg, log)
		},
	}
	a.bindDev(cmd, &f)
	return cmd
}

// devConfig checks dev's flags and completes the stack's config from them.
func (a *app) devConfig(f *devFlags, log *zap.Logger) (devstack.Config, error) {
	cfg := f.cfg
	if cfg.DropRate < 0 || cfg.DropRate > 1 {
		return cfg, &exitError{code: 2, err: fmt.Errorf("--drop-rate %v: want a fraction from 0 to 1", cfg.DropRate)}
	}
	if err := f.account.apply("sandbox-", &cfg.SandboxConcurrencyLimit, &cfg.SandboxCredits, &cfg.SandboxBilling); err != nil {
		return cfg, err
	}
	cfg.Logger = log
	cfg.HeyGenAPIKey, cfg.HeyGenBaseURL = f.hg.apiKey, f.hg.baseURL
	cfg.WebhookSecrets = splitList(f.secrets)
	var err error
	if cfg.Account, err = f.acct.account(f.hg.apiKey); err != nil {
		return cfg, &exitError{code: 2, err: err}
	}
	if err := checkWebhookURL(cfg.WebhookURL, f.hg.apiKey); err != nil {
		return cfg, &exitError{code: 2, err: err}
	}
	// Absolute: the embedded server's SQLite driver keys its databases by path.
	if cfg.Dir, err = filepath.Abs(a.devDir); err != nil {
		return cfg, usageError(fmt.Errorf("--dir: %w", err))
	}
	if !f.temporalLogs {
		cfg.TemporalLogFile = filepath.Join(cfg.Dir, "temporal.log")
	}
	if cfg.Payload, err = a.devPayload(cfg.Dir, net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.TemporalPort)), f.encrypt); err != nil {
		return cfg, err
	}
	if cfg.Tracing, err = a.tracer(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// runDev runs the stack until ctx ends, then stops it.
func (a *app) runDev(ctx context.Context, cfg devstack.Config, log *zap.Logger) error {
	// The embedded Temporal server reads OTEL_TRACES_EXPORTER too, and refuses to
	// start on what it cannot export itself (console, OTLP over HTTP). reelflow's
	// tracer has read it by now (devConfig); the server exports no spans of its own.
	if _, set := os.LookupEnv("OTEL_TRACES_EXPORTER"); set {
		if err := os.Unsetenv("OTEL_TRACES_EXPORTER"); err != nil {
			return err
		}
	}
	st, err := devstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if err := writeDevState(cfg.Dir, stackState(st)); err != nil {
		log.Warn("the other commands will not find this stack without flags", zap.Error(err))
	}
	fmt.Fprint(a.out, st.Banner())
	<-ctx.Done()
	fmt.Fprintln(a.out, "stopping; in-flight pipelines resume on the next start")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return st.Stop(sctx)
}

// bindDev binds dev's flags and their variables.
func (a *app) bindDev(cmd *cobra.Command, f *devFlags) {
	fs, cfg := cmd.Flags(), &f.cfg
	a.env.Int(fs, &cfg.TemporalPort, "temporal-port", "REELFLOW_TEMPORAL_PORT", 7233, "embedded Temporal frontend port")
	a.env.Int(fs, &cfg.UIPort, "ui-port", "REELFLOW_UI_PORT", 8233, "Temporal Web UI port (-1 to disable)")
	a.env.String(fs, &cfg.SandboxAddr, "sandbox-addr", "REELFLOW_SANDBOX_ADDR", "127.0.0.1:8090", "HeyGen sandbox listen address")
	a.env.String(fs, &cfg.ReceiverAddr, "addr", "REELFLOW_RECEIVER_ADDR", "127.0.0.1:8080", "webhook receiver listen address")
	a.env.Duration(fs, &cfg.RenderTime, "render-time", "REELFLOW_SANDBOX_RENDER_TIME", 3*time.Second, "how long the sandbox takes to render a video")
	a.env.Float(fs, &cfg.DropRate, "drop-rate", "REELFLOW_SANDBOX_DROP_RATE", 0, "fraction of webhooks the sandbox drops (0-1), to watch polling take over")
	a.env.Bool(fs, &f.temporalLogs, "temporal-logs", "REELFLOW_TEMPORAL_LOGS", false, "print the embedded Temporal server's warnings with reelflow's lines, instead of to temporal.log under --dir")
	a.bindSigningScheme(fs, &cfg.SigningScheme)
	a.bindSandboxAccount(fs, "sandbox-", &f.account)
	a.env.Bool(fs, &f.encrypt, "encrypt", "REELFLOW_DEV_ENCRYPT", true, "encrypt payloads with the key in --dir (made on the first start, shared with the CLI through the user config dir)")
	a.env.String(fs, &cfg.CodecAddr, "codec-addr", "REELFLOW_CODEC_ADDR", "127.0.0.1:8234", "codec server address, through which the UI shows plaintext; empty runs none")
	a.env.String(fs, &cfg.WebhookURL, "public-receiver-url", "REELFLOW_PUBLIC_RECEIVER_URL", "", "with HEYGEN_API_KEY: the public URL at which HeyGen reaches this receiver's /webhooks/heygen (a tunnel); dev registers it and keeps its secret under --dir")
	a.env.String(fs, &f.secrets, "webhook-secrets", "HEYGEN_WEBHOOK_SECRETS", "", "with HEYGEN_API_KEY: webhook signing secrets, comma-separated")
	a.bindHeyGen(cmd, &f.hg)
	a.bindWorkerAccount(cmd, &f.acct)
	a.bindWorker(cmd, &cfg.Worker)
}

// stackState is what dev leaves under --dir for the commands run beside it.
func stackState(st *devstack.Stack) devState {
	ds := devState{TemporalAddress: st.Temporal.Address(), Namespace: st.Temporal.Namespace(), SandboxURL: st.SandboxURL()}
	if st.UI != nil {
		ds.UIURL = st.UI.URL()
	}
	if st.ReceiverURL() != "" {
		ds.WebhookURL = st.ReceiverURL() + receiver.WebhookPath
	}
	return ds
}

// checkWebhookURL checks --public-receiver-url: an absolute http(s) URL, and only with a HeyGen
// key, since the sandbox reaches the receiver directly.
func checkWebhookURL(raw, apiKey string) error {
	if raw == "" {
		return nil
	}
	if apiKey == "" {
		return errors.New("--public-receiver-url needs HEYGEN_API_KEY: without it dev runs the sandbox, which reaches the receiver directly")
	}
	if !spec.HTTPURL(raw) {
		return fmt.Errorf("--public-receiver-url %q: want an absolute http(s) URL such as https://<tunnel>/webhooks/heygen", raw)
	}
	return nil
}
