package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/worker"
)

// EnvConfig describes a dev stack to measure.
type EnvConfig struct {
	// Dir keeps the stack's state (the Temporal SQLite file); a new temporary directory,
	// removed by Close, when empty.
	Dir string
	// RenderTime is the sandbox's render time.
	RenderTime time.Duration
	// Worker tunes reelflow's worker; zero fields take the dev stack's defaults.
	Worker worker.Options
	// Account is the HeyGen account's scheduling (its concurrency); none when zero.
	Account activities.Account
	// Payload encrypts the payloads of the stack's clients (its worker's, its receiver's);
	// zero: plaintext.
	Payload payload.Options
	// Logger receives the stack's logs; nil discards them.
	Logger *zap.Logger
	// Logf, when set, receives a line per phase of a benchmark, to follow a long run.
	Logf func(format string, args ...any)
}

// logf passes a progress line to cfg.Logf, if set.
func (cfg EnvConfig) logf(format string, args ...any) {
	if cfg.Logf != nil {
		cfg.Logf(format, args...)
	}
}

// Env is a running dev stack with a Tap in front of its receiver.
type Env struct {
	*devstack.Stack
	// Tap carries the sandbox's webhooks to the receiver.
	Tap *Tap
	// ReceiverSecret signs deliveries that the receiver accepts.
	ReceiverSecret string
	// WebhookURL is the receiver's webhook route.
	WebhookURL string

	dir    string
	ownDir bool
	tapSrv *http.Server
}

// StartEnv starts the dev stack on free ports with no UI, then moves its webhooks onto
// a Tap: the tap is registered with the sandbox as a second endpoint and the stack's own
// endpoint is deleted, so every webhook passes through the tap exactly once.
func StartEnv(ctx context.Context, cfg EnvConfig) (env *Env, err error) {
	env = &Env{dir: cfg.Dir}
	if env.dir == "" {
		if env.dir, err = os.MkdirTemp("", "reelflow-bench-"); err != nil {
			return nil, fmt.Errorf("bench state dir: %w", err)
		}
		env.ownDir = true
	}
	defer func() {
		if err != nil {
			_ = env.Close(context.Background())
			env = nil
		}
	}()
	env.Stack, err = devstack.Start(ctx, devstack.Config{
		Dir:          env.dir,
		TemporalPort: -1,
		UIPort:       -1,
		SandboxAddr:  "127.0.0.1:0",
		ReceiverAddr: "127.0.0.1:0",
		RenderTime:   cfg.RenderTime,
		Worker:       cfg.Worker,
		Account:      cfg.Account,
		Payload:      cfg.Payload,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return env, fmt.Errorf("start dev stack: %w", err)
	}

	env.ReceiverSecret = env.WebhookSecret()
	env.WebhookURL = env.ReceiverURL() + receiver.WebhookPath

	env.Tap = NewTap(env.WebhookURL, env.ReceiverSecret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return env, fmt.Errorf("tap listener: %w", err)
	}
	env.tapSrv = &http.Server{Handler: env.Tap, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = env.tapSrv.Serve(ln) }()
	if _, err := env.HeyGen.CreateWebhookEndpoint(ctx, "http://"+ln.Addr().String()+receiver.WebhookPath, nil); err != nil {
		return env, fmt.Errorf("register the tap with the sandbox: %w", err)
	}
	eps, err := env.HeyGen.ListWebhookEndpoints(ctx)
	if err != nil {
		return env, fmt.Errorf("list the sandbox's endpoints: %w", err)
	}
	for _, ep := range eps {
		if ep.URL != env.WebhookURL {
			continue
		}
		if err := env.HeyGen.DeleteWebhookEndpoint(ctx, ep.ID); err != nil {
			return env, fmt.Errorf("delete the dev stack's own endpoint: %w", err)
		}
	}
	return env, nil
}

// Close stops the stack and the tap and removes a temporary state directory.
func (e *Env) Close(ctx context.Context) error {
	var errs []error
	if e.Stack != nil {
		errs = append(errs, e.Stack.Stop(ctx))
	}
	if e.tapSrv != nil {
		errs = append(errs, e.tapSrv.Shutdown(ctx))
	}
	if e.Tap != nil {
		e.Tap.Close()
	}
	if e.ownDir {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}

// count returns how many workflow executions match a visibility query.
func (e *Env) count(ctx context.Context, query string) (int64, error) {
	resp, err := e.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: e.Temporal.Namespace(), Query: query,
	})
	if err != nil {
		return 0, fmt.Errorf("count %q: %w", query, err)
	}
	return resp.GetCount(), nil
}

// waitCount polls a visibility query until it counts want executions, and returns when
// it first did. Visibility trails the history by a few tens of milliseconds.
func (e *Env) waitCount(ctx context.Context, query string, want int, every time.Duration) (time.Time, error) {
	var last int64
	for {
		n, err := e.count(ctx, query)
		if err == nil && n >= int64(want) {
			return time.Now(), nil
		}
		if err == nil {
			last = n
		}
		if err := sleepCtx(ctx, every); err != nil {
			return time.Time{}, fmt.Errorf("%d of %d executions match %q: %w", last, want, query, err)
		}
	}
}

// describe reads each workflow's status and close time from its mutable state
// (DescribeWorkflowExecution), conc at a time. Visibility would be one call, but on
// SQLite it trails the history by seconds under load and a listing of thousands of
// executions can outlast the server's query timeout.
func (e *Env) describe(ctx context.Context, ids []string, conc int) ([]execution, error) {
	out := make([]execution, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d, err := e.Client.DescribeWorkflowExecution(ctx, id, "")
			if err != nil {
				errs[i] = fmt.Errorf("describe %s: %w", id, err)
				return
			}
			x := d.GetWorkflowExecutionInfo()
			out[i] = execution{ID: id, Status: x.GetStatus(), Start: x.GetStartTime().AsTime(), Close: x.GetCloseTime().AsTime(), Closed: x.GetCloseTime() != nil}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// execution is a workflow's status and times.
type execution struct {
	ID           string
	Status       enumspb.WorkflowExecutionStatus
	Start, Close time.Time
	Closed       bool
}

// sleepCtx waits d or until ctx ends. The harness polls conditions with it; it never
// waits a fixed time for something to have happened.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
