// Command clusterctl is the glue that deploy/local/cluster.sh needs to run
// docker-compose.yml's topology without Docker, where compose uses an image that this
// machine does not have:
//
//   - `clusterctl ui` serves the Temporal Web UI from the ui-server module the repo
//     already embeds (devstack.StartUI), in place of the temporalio/ui image;
//   - `clusterctl balance` is the load balancer in front of the two receivers, which
//     compose leaves to the platform (`--scale receiver=2` behind a proxy).
//
// It is not part of the product: the reelflow binary stays the one thing to deploy.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, filepath.Base(os.Args[0])+":", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: clusterctl ui|balance [flags]")
	}
	switch args[0] {
	case "ui":
		return serveUI(ctx, args[1:])
	case "balance":
		return balance(ctx, args[1:])
	}
	return fmt.Errorf("unknown command %q: want ui or balance", args[0])
}
