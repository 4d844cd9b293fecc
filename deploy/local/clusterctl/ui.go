package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/reelflow/reelflow/devstack"
)

// serveUI serves the Temporal Web UI until ctx ends, as the temporalio/ui image does
// in compose (TEMPORAL_ADDRESS, TEMPORAL_DEFAULT_NAMESPACE, TEMPORAL_CODEC_ENDPOINT), from
// the same ui-server module and wiring as `reelflow dev`.
func serveUI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("clusterctl ui", flag.ContinueOnError)
	temporal := fs.String("temporal", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend address [$TEMPORAL_ADDRESS]")
	host := fs.String("host", "127.0.0.1", "listen host")
	port := fs.Int("port", 8233, "listen port")
	ns := fs.String("namespace", envOr("TEMPORAL_DEFAULT_NAMESPACE", "default"), "default namespace [$TEMPORAL_DEFAULT_NAMESPACE]")
	codec := fs.String("codec-endpoint", envOr("TEMPORAL_CODEC_ENDPOINT", ""), "codec server the browser decodes payloads through [$TEMPORAL_CODEC_ENDPOINT]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ui, err := devstack.StartUIWithCodec(*temporal, *host, *port, *ns, *codec)
	if err != nil {
		return err
	}
	fmt.Println("temporal ui on", ui.URL())
	<-ctx.Done()
	ui.Stop()
	return nil
}

// envOr reads the variables the temporalio/ui image reads.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
