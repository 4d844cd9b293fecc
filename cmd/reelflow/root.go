package main

import (
	"context"
	"fmt"
	"io"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/reelflow/reelflow/tracing"
	"github.com/reelflow/reelflow/worker"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// app holds what every command shares: the output streams and the flag bindings.
type app struct {
	out, errOut io.Writer
	env         *envFlags

	// Temporal connection, layered over Temporal's own environment conventions.
	address, namespace, profile string
	logLevel, logFormat         string

	// Payload encryption and tracing (payload.go, tracing.go).
	payload payloadFlags
	tracing *tracing.Tracing
	command string // the running command's name, for service.name
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	// Gin's debug mode prints every route at start; reelflow logs through zap instead.
	gin.SetMode(gin.ReleaseMode)
	a := &app{out: out, errOut: errOut, env: newEnvFlags()}
	root := a.rootCommand()
	root.SetArgs(args)
	defer a.flushTraces()
	return withKeyHint(root.ExecuteContext(ctx))
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "reelflow",
		Short: "HeyGen video pipelines on Temporal: renders, webhooks and polling that finish every job once",
		Long: `reelflow runs HeyGen video pipelines as Temporal workflows. A webhook receiver turns
HeyGen's deliveries into signals; a job that hears nothing falls back to polling.

Start locally with "reelflow dev", then "reelflow start examples/welcome.yaml --wait".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.command = cmd.Name()
			return a.env.Err(cmd.Flags(), cmd.InheritedFlags(), cmd.Root().PersistentFlags())
		},
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	pf := root.PersistentFlags()
	a.env.String(pf, &a.address, "address", "TEMPORAL_ADDRESS", "", "Temporal frontend host:port (default 127.0.0.1:7233)")
	a.env.String(pf, &a.namespace, "namespace", "TEMPORAL_NAMESPACE", "", "Temporal namespace (default \"default\")")
	a.env.String(pf, &a.profile, "profile", "TEMPORAL_PROFILE", "", "profile in Temporal's temporal.toml (TEMPORAL_CONFIG_FILE)")
	a.env.String(pf, &a.logLevel, "log-level", "REELFLOW_LOG_LEVEL", "info", "debug, info, warn or error")
	a.env.String(pf, &a.logFormat, "log-format", "REELFLOW_LOG_FORMAT", "console", "console or json")
	a.bindPayload(pf, &a.payload)

	root.AddCommand(
		a.devCommand(),
		a.workerCommand(),
		a.receiverCommand(),
		a.startCommand(),
		a.statusCommand(),
		a.queueCommand(),
		a.cancelCommand(),
		a.webhookCommand(),
		a.sandboxCommand(),
		a.codecServerCommand(),
		a.healthCommand(),
		&cobra.Command{
			Use:   "version",
			Short: "Print reelflow's version",
			Args:  cobra.NoArgs,
			Run: func(*cobra.Command, []string) {
				dev := "with the dev stack"
				if !devstackIncluded {
					dev = "without the dev stack (-tags nodev)"
				}
				fmt.Fprintln(a.out, "reelflow", version, dev)
			},
		},
	)
	return root
}

// logger builds the process's one zap logger, on stderr.
func (a *app) logger() (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(a.logLevel)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	var cfg zap.Config
	switch a.logFormat {
	case "json":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	default:
		return nil, &exitError{code: 2, err: fmt.Errorf("--log-format %q: want console or json", a.logFormat)}
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	return cfg.Build()
}

// clientOptions reads the Temporal connection the way Temporal's own tools do: the
// temporal.toml profile, then TEMPORAL_* variables (address, namespace, API key, TLS),
// then this command's flags.
func (a *app) clientOptions(log *zap.Logger) (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{ConfigFileProfile: a.profile})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal connection settings: %w", err)
	}
	if a.address != "" {
		opts.HostPort = a.address
	}
	if opts.HostPort == "" {
		opts.HostPort = "127.0.0.1:7233"
	}
	if a.namespace != "" {
		opts.Namespace = a.namespace
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	opts.Logger = worker.SDKLogger(log)
	if err := a.instrument(&opts); err != nil {
		return client.Options{}, err
	}
	return opts, nil
}

// dial connects to Temporal with a quiet logger, for the short-lived commands.
func (a *app) dial(ctx context.Context) (client.Client, error) {
	log, err := a.logger()
	if err != nil {
		return nil, err
	}
	opts, err := a.clientOptions(log.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)))
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s (is `reelflow dev` running?): %w", opts.HostPort, err)
	}
	return c, nil
}
