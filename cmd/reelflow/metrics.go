package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// defaultWorkerMetricsAddr is where a worker serves /metrics unless told otherwise:
// loopback, so that nothing is exposed by default. Containers set 0.0.0.0:9090.
const defaultWorkerMetricsAddr = "127.0.0.1:9090"

// healthTimeout bounds one `reelflow health` probe; container healthchecks run it
// every few seconds and must not pile up.
const healthTimeout = 5 * time.Second

// startMetricsServer listens on addr at once, so that a taken port fails the command
// before the worker starts, and serves h on /metrics and a liveness answer on
// /healthz. stop shuts it down gracefully.
func startMetricsServer(addr string, h http.Handler, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", zap.Error(err))
		}
	}()
	log.Info("metrics listening", zap.String("addr", ln.Addr().String()), zap.String("path", "/metrics"))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// healthCommand probes an HTTP endpoint for container healthchecks: the production
// image is distroless, without curl or wget.
func (a *app) healthCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "health URL",
		Short: "Probe an HTTP health endpoint; exit 0 on a 2xx answer (for container healthchecks)",
		Example: `  reelflow health http://127.0.0.1:8080/healthz   # the receiver
  reelflow health http://127.0.0.1:9090/healthz   # a worker's metrics address`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), healthTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return fmt.Errorf("%s answered %s", args[0], resp.Status)
			}
			fmt.Fprintln(a.out, args[0], resp.Status)
			return nil
		},
	}
}
