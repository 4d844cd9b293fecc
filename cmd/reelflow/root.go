package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/reelflow/reelflow/tracing"
	"github.com/reelflow/reelflow/worker"
)

// release is the release this source is: the newest entry of CHANGELOG.md.
const release = "v0.1.0"

// version is the build's stamp, set with -ldflags "-X main.version=..." (the image's
// VERSION); "dev" for a build from source. A stamped build is its workers' default
// Worker Versioning build ID.
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
	// devDir is where `reelflow dev` keeps its state, and where the other commands find
	// its addresses and webhook secret (devstate.go).
	devDir string
}

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	// Gin's debug mode prints every route at start; reelflow logs through zap instead.
	gin.SetMode(gin.ReleaseMode)
	a := &app{out: out, errOut: errOut, env: newEnvFlags()}
	root := a.rootCommand()
	root.SetArgs(args)
	defer a.flushTraces()
	ran := trackRun(root)
	err := withKeyHint(root.ExecuteContext(ctx))
	var ee *exitError
	if err != nil && !*ran && !errors.As(err, &ee) {
		// Cobra refused the command line before any command ran: a missing argument,
		// an unknown flag or command. That is usage, exit code 2.
		return usageError(err)
	}
	return err
}

// trackRun wraps the run function of every command under root so that the returned
// flag tells whether a command's own code was reached. Whatever fails before that is
// cobra's parsing of the command line.
func trackRun(root *cobra.Command) *bool {
	ran := new(bool)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if runE := c.RunE; runE != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				*ran = true
				return runE(cmd, args)
			}
		}
		if r := c.Run; r != nil {
			c.Run = func(cmd *cobra.Command, args []string) {
				*ran = true
				r(cmd, args)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return ran
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "reelflow",
		Short: "HeyGen video pipelines on Temporal: renders, webhooks and polling that finish every job once",
		Long: `reelflow runs HeyGen video pipelines as Temporal workflows. A webhook receiver turns
HeyGen's deliveries into signals; a job that hears nothing falls back to polling.

Start locally with "reelflow dev", then "reelflow start examples/welcome.yaml --wait".

Exit codes:
  0  every step succeeded (or, for status, the pipeline is still running)
  1  a pipeline failed or was cancelled, or the command could not do its job
     (Temporal unreachable, no such pipeline)
  2  usage or an invalid spec: a missing argument, an unknown flag, a spec file that
     is missing, unreadable or invalid; nothing was started
  3  completed with failed steps: start --wait or status of a pipeline whose
     translation failed (without fail_fast), or a --rows batch with bad rows or
     pipelines that did not complete every step`,
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
	a.env.String(pf, &a.devDir, "dir", "REELFLOW_DIR", ".reelflow", "the dev stack's state directory: reelflow dev keeps Temporal's SQLite file, the sandbox's jobs, its addresses (dev.json) and the webhook secret (webhook.json) there, and the other commands read the last two from it")

	root.AddCommand(
		a.devCommand(),
		a.workerCommand(),
		a.receiverCommand(),
		a.startCommand(),
		a.statusCommand(),
		a.queueCommand(),
		a.listCommand(),
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
				build := ""
				if version != "dev" && version != release {
					build = " (build " + version + ")"
				}
				fmt.Fprintf(a.out, "reelflow %s%s %s\n", release, build, dev)
			},
		},
	)
	return root
}

// logger builds the process's one zap logger, on the app's error stream (stderr).
func (a *app) logger() (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(a.logLevel)
	if err != nil {
		return nil, usageError(fmt.Errorf("--log-level: %w", err))
	}
	var (
		cfg zap.Config
		enc zapcore.Encoder
	)
	switch a.logFormat {
	case "json":
		cfg = zap.NewProductionConfig()
		enc = zapcore.NewJSONEncoder(cfg.EncoderConfig)
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		if colourful(a.errOut) {
			cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(cfg.EncoderConfig)
	default:
		return nil, usageError(fmt.Errorf("--log-format %q: want console or json", a.logFormat))
	}
	ws := zapcore.Lock(zapcore.AddSync(a.errOut))
	core := zapcore.NewCore(enc, ws, zap.NewAtomicLevelAt(lvl))
	if s := cfg.Sampling; s != nil {
		core = zapcore.NewSamplerWithOptions(core, time.Second, s.Initial, s.Thereafter)
	}
	opts := []zap.Option{zap.ErrorOutput(ws), zap.AddCaller()}
	if a.logFormat == "json" {
		// As zap's production config: a stack trace on errors. The console log has none.
		opts = append(opts, zap.AddStacktrace(zapcore.ErrorLevel))
	}
	return zap.New(core, opts...), nil
}

// colourful reports whether the log on w may carry ANSI colour codes: only when w is a
// terminal, and NO_COLOR (no-color.org) is not set. A log sent to a file or a pipe stays
// plain text. A character device is a terminal, or /dev/null, where colour is harmless;
// os.File has no isatty of its own, and this spares a dependency.
func colourful(w io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
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
