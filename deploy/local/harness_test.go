//go:build cluster

package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/sandbox"
)

// cluster is a stack that cluster.sh runs, on ports of its own (REELFLOW_CLUSTER_PORT_BASE,
// default 27400, beside a developer's cluster on 27300) and in .reelflow/cluster-test.
// `down --wipe` runs at the end, unless REELFLOW_CLUSTER_KEEP=1.
type cluster struct {
	t      *testing.T
	root   string
	dir    string
	env    []string
	ports  map[string]string
	Client client.Client
}

func startCluster(t *testing.T, renderTime string) *cluster {
	t.Helper()
	root := repoRoot(t)
	c := &cluster{t: t, root: root, dir: envOr("REELFLOW_CLUSTER_DIR", filepath.Join(root, ".reelflow/cluster-test"))}
	c.env = append(os.Environ(), "REELFLOW_CLUSTER_DIR="+c.dir,
		"REELFLOW_CLUSTER_PORT_BASE="+envOr("REELFLOW_CLUSTER_PORT_BASE", "27400"),
		"REELFLOW_SANDBOX_RENDER_TIME="+renderTime)
	t.Cleanup(func() {
		if os.Getenv("REELFLOW_CLUSTER_KEEP") != "1" {
			c.script("down", "--wipe")
		}
	})
	// REELFLOW_CLUSTER_REUSE=1 runs against a cluster that is up already (with KEEP=1,
	// between benchmark runs); otherwise every run starts from nothing.
	if _, err := c.script("status"); err != nil || os.Getenv("REELFLOW_CLUSTER_REUSE") != "1" {
		c.script("down", "--wipe") // what an earlier run left
		began := time.Now()
		out, err := c.script("up")
		require.NoError(t, err, "cluster.sh up:\n%s", out)
		t.Logf("cluster.sh up took %s", time.Since(began).Round(time.Second))
	}
	c.ports = map[string]string{}
	ports, err := c.script("ports")
	require.NoError(t, err)
	for _, f := range strings.Fields(ports) {
		k, v, _ := strings.Cut(f, "=")
		c.ports[k] = v
	}
	// The test's client encrypts with the cluster's keys, as the CLI does (which finds
	// them, with no flag, where cluster.sh leaves them for it).
	keys, err := payload.LoadKeyFile(filepath.Join(c.dir, "payload.keys"))
	require.NoError(t, err)
	copts := client.Options{HostPort: c.ports["temporal"], Logger: quietLogger{}}
	require.NoError(t, payload.Options{Keys: keys}.Apply(&copts))
	c.Client, err = client.Dial(copts)
	require.NoError(t, err)
	t.Cleanup(c.Client.Close)
	return c
}

// script runs cluster.sh; its output goes to the test log as well.
func (c *cluster) script(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{filepath.Join(c.root, "deploy/local/cluster.sh")}, args...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	c.t.Logf("cluster.sh %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// reelflow runs the CLI that cluster.sh built, against the cluster.
func (c *cluster) reelflow(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(envOr("REELFLOW_CLUSTER_BIN", filepath.Join(c.dir, "bin")), "reelflow"), args...)
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+c.ports["temporal"], "TEMPORAL_NAMESPACE=default")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *cluster) pid(name string) int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "run", name+".pid"))
	require.NoError(c.t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(c.t, err)
	return pid
}

// kill9 kills a process of the stack with SIGKILL and waits until it is gone.
func (c *cluster) kill9(name string) {
	c.t.Helper()
	pid := c.pid(name)
	require.NoError(c.t, syscall.Kill(pid, syscall.SIGKILL), "kill -9 %s", name)
	require.Eventually(c.t, func() bool { return syscall.Kill(pid, 0) != nil }, 30*time.Second, 20*time.Millisecond)
	c.t.Logf("%s: kill -9 %d at %s", name, pid, time.Now().Format("15:04:05.000"))
}

func (c *cluster) sandboxURL() string { return "http://127.0.0.1:" + c.ports["sandbox"] }

func (c *cluster) setFaults(f sandbox.Faults) {
	c.t.Helper()
	b, err := json.Marshal(f)
	require.NoError(c.t, err)
	resp, err := http.Post(c.sandboxURL()+"/_sandbox/faults", "application/json", bytes.NewReader(b))
	require.NoError(c.t, err)
	require.NoError(c.t, resp.Body.Close())
	require.Equal(c.t, http.StatusOK, resp.StatusCode)
}

func (c *cluster) stats() (sandbox.Stats, error) {
	var st sandbox.Stats
	resp, err := http.Get(c.sandboxURL() + "/_sandbox/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// count returns how many executions match a visibility query (SQL visibility on
// PostgreSQL).
func (c *cluster) count(ctx context.Context, query string) (int64, error) {
	resp, err := c.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: query})
	if err != nil {
		return 0, fmt.Errorf("count %q: %w", query, err)
	}
	return resp.GetCount(), nil
}

// deliveryLog reads the balancer's log of webhook deliveries.
func (c *cluster) deliveryLog() []delivery {
	c.t.Helper()
	f, err := os.Open(filepath.Join(c.dir, "deliveries.jsonl"))
	require.NoError(c.t, err)
	defer f.Close()
	var out []delivery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d delivery
		require.NoError(c.t, json.Unmarshal(sc.Bytes(), &d))
		out = append(out, d)
	}
	require.NoError(c.t, sc.Err())
	return out
}

// delivery is a line of the balancer's log (clusterctl's Delivery).
type delivery struct {
	Start, End time.Time
	Backend    string
	Status     int
	CallbackID string `json:"callback_id"`
	EventType  string `json:"event_type"`
}

// procMB reads a memory line of /proc/PID/status (VmRSS:, VmHWM:), in MB.
func procMB(pid int, key string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", key, pid)
}

// until polls cond every interval until it holds or ctx ends: a condition with a
// deadline, never a fixed sleep.
func until(ctx context.Context, every time.Duration, cond func() bool) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
