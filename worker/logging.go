package worker

import (
	"log/slog"

	sdklog "go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
)

// SDKLogger hands the process's zap logger to the Temporal SDK through slog, so that
// the SDK's and reelflow's lines share one format and one sink.
func SDKLogger(z *zap.Logger) sdklog.Logger {
	if z == nil {
		z = zap.NewNop()
	}
	return sdklog.NewStructuredLogger(slog.New(zapslog.NewHandler(z.Core(), zapslog.WithCaller(false))))
}
