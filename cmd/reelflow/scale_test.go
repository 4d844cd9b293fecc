package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/worker"
	"github.com/reelflow/reelflow/workflows"
)

// The tests in this file and deploy_test.go run the reelflow binary as the production
// image does: built with -tags nodev, as separate processes, configured only through
// the environment.

// binary builds reelflow once per test process, as the Dockerfile does (without the
// ldflags), and returns its path.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "reelflow-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "reelflow")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-tags", "nodev", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags nodev: %w\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := binary(); err == nil {
		_ = os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// reelflowBinary skips the test under -short, and otherwise builds the binary.
func reelflowBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the reelflow binary; skipped with -short")
	}
	bin, err := binary()
	require.NoError(t, err)
	return bin
}

// proc is a reelflow subprocess. Its output is kept for assertions and for the log of
// a failed test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startProc runs bin with args and an environment of only env (plus PATH and a
// private HOME, so that no temporal.toml of the machine's user is read), and kills it
// at cleanup if it still runs.
func startProc(t *testing.T, name, bin string, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start(), name)
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, as docker stop does, and returns the exit code, failing the test
// when the process takes longer than within.
func (p *proc) stop(t *testing.T, within time.Duration) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM), p.name)
	return p.exitCode(t, within)
}

// exitCode waits for the process to exit and returns its code.
func (p *proc) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not exit within %s", p.name, within)
	}
	return p.cmd.ProcessState.ExitCode()
}

// freeAddr returns a free 127.0.0.1 address.
func freeAddr(t *testing.T) string {
	t.Helper()
	return "127.0.0.1:" + freePort(t)
}

// eventually is require.Eventually polling every 50 ms, with the condition last, where
// a multi-line closure reads best, and what the test waits for in its message.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, within, 50*time.Millisecond, "timed out after %s waiting for %s", within, what)
}

// httpOK reports whether GET url answers 2xx.
func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// scrape reads a Prometheus endpoint.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, url)
	return fams
}

// total sums a family's counters, or its histograms' counts, over the series whose
// labels include labels.
func total(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
series:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// startTestTemporal starts an in-memory Temporal server with reelflow's search
// attributes, stopped at cleanup.
func startTestTemporal(t *testing.T, namespace string) *devstack.Temporal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp, err := devstack.StartTemporal(ctx, devstack.TemporalConfig{Namespace: namespace, SearchAttributes: workflows.SearchAttributes()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tmp.Stop() })
	return tmp
}

// startTestSandbox serves a HeyGen sandbox on 127.0.0.1, stopped at cleanup.
func startTestSandbox(t *testing.T, renderTime time.Duration) (*sandbox.Sandbox, string) {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{RenderTime: renderTime, Logger: zap.NewNop(), RetryBase: 100 * time.Millisecond})
	require.NoError(t, err)
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = sb.Close()
	})
	return sb, srv.URL
}

func dialTest(t *testing.T, tmp *devstack.Temporal) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: tmp.Address(), Namespace: tmp.Namespace(), Logger: worker.SDKLogger(zap.NewNop())})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

var secretLine = regexp.MustCompile(`HEYGEN_WEBHOOK_SECRETS=(\S+)`)

// TestScaleOut runs two `reelflow worker` and two `reelflow receiver` processes against
// one Temporal server and the sandbox, with 50 pipelines: all finish, each HeyGen job is
// created once, and both workers and both receivers did part of the work.
func TestScaleOut(t *testing.T) {
	bin := reelflowBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tmp := startTestTemporal(t, "default")
	sb, sandboxURL := startTestSandbox(t, 200*time.Millisecond)
	c := dialTest(t, tmp)
	temporalEnv := map[string]string{"TEMPORAL_ADDRESS": tmp.Address(), "TEMPORAL_NAMESPACE": tmp.Namespace(), "REELFLOW_LOG_FORMAT": "json"}
	with := func(extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range temporalEnv {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}

	// Two receivers. Each starts with a placeholder secret, is registered with the
	// sandbox by `reelflow webhook register` (which needs it to answer OPTIONS), and is
	// restarted with the secret that printed: the steps docs/production.md gives.
	receiverAddrs := []string{freeAddr(t), freeAddr(t)}
	receivers := make([]*proc, 2)
	for i, addr := range receiverAddrs {
		name := fmt.Sprintf("receiver-%d", i+1)
		p := startProc(t, name, bin, with(map[string]string{"REELFLOW_RECEIVER_ADDR": addr, "HEYGEN_WEBHOOK_SECRETS": "placeholder"}), "receiver")
		eventually(t, 20*time.Second, name+" /healthz", func() bool { return httpOK("http://" + addr + "/healthz") })
		reg := startProc(t, "webhook register", bin, map[string]string{"HEYGEN_API_KEY": "any", "HEYGEN_BASE_URL": sandboxURL},
			"webhook", "register", "http://"+addr+"/webhooks/heygen")
		require.Zero(t, reg.exitCode(t, 20*time.Second), reg.out.String())
		m := secretLine.FindStringSubmatch(reg.out.String())
		require.NotNil(t, m, reg.out.String())
		require.Zero(t, p.stop(t, 10*time.Second), "a receiver exits 0 on SIGTERM")
		receivers[i] = startProc(t, name, bin, with(map[string]string{"REELFLOW_RECEIVER_ADDR": addr, "HEYGEN_WEBHOOK_SECRETS": m[1]}), "receiver")
	}

	// Two workers, each with its own metrics address.
	metricsAddrs := []string{freeAddr(t), freeAddr(t)}
	workers := make([]*proc, 2)
	for i, addr := range metricsAddrs {
		workers[i] = startProc(t, fmt.Sprintf("worker-%d", i+1), bin, with(map[string]string{
			"HEYGEN_API_KEY": "any", "HEYGEN_BASE_URL": sandboxURL, "REELFLOW_METRICS_ADDR": addr,
		}), "worker")
	}
	for i := range 2 {
		eventually(t, 20*time.Second, "receiver /readyz", func() bool { return httpOK("http://" + receiverAddrs[i] + "/readyz") })
		eventually(t, 20*time.Second, "worker /healthz", func() bool { return httpOK("http://" + metricsAddrs[i] + "/healthz") })
	}

	const n = 50
	runs := make([]client.WorkflowRun, n)
	for i := range n {
		id := fmt.Sprintf("scale-%02d", i)
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, workflows.PipelineInput{
			ID:    id,
			Video: map[string]any{"type": "avatar", "avatar_id": "Daisy", "voice_id": "v1", "script": "Hello " + strconv.Itoa(i)},
			// A webhook normally answers within the render time; a poll covers any
			// that the sandbox's retries do not bring in time.
			Timeouts: workflows.Timeouts{PushWindow: 5 * time.Second, PollInitial: time.Second, PollMax: 2 * time.Second, Deadline: time.Minute},
		})
		require.NoError(t, err)
		runs[i] = run
	}
	for i, run := range runs {
		var res workflows.PipelineResult
		require.NoError(t, run.Get(ctx, &res), "pipeline %d", i)
		require.NotNil(t, res.Render, "pipeline %d", i)
		require.Equal(t, workflows.StateDone, res.Render.State, "pipeline %d", i)
	}

	stats := sb.Stats()
	for i := range n {
		cb := workflows.JobWorkflowID(fmt.Sprintf("scale-%02d", i), workflows.StepRender)
		require.Equal(t, 1, stats.CreatesByCallbackID[cb], "creates for %s", cb)
	}
	require.Len(t, stats.CreatesByCallbackID, n)

	var jobs, byWebhook float64
	for i, addr := range metricsAddrs {
		fams := scrape(t, "http://"+addr+"/metrics")
		activities := total(fams, "temporal_activity_execution_latency_seconds", nil)
		tasks := total(fams, "temporal_workflow_task_execution_latency_seconds", nil)
		t.Logf("worker-%d: %v activities, %v workflow tasks, %v jobs", i+1, activities, tasks, total(fams, "reelflow_jobs_total", nil))
		require.Positive(t, activities, "worker-%d ran no activity", i+1)
		require.Positive(t, tasks, "worker-%d ran no workflow task", i+1)
		jobs += total(fams, "reelflow_jobs_total", map[string]string{"outcome": "done"})
		byWebhook += total(fams, "reelflow_jobs_total", map[string]string{"outcome": "done", "path": "webhook"})
	}
	require.Equal(t, float64(n), jobs, "each job is counted once, by the worker that finished it")
	t.Logf("jobs finished by webhook: %v of %v", byWebhook, jobs)
	for i, addr := range receiverAddrs {
		fams := scrape(t, "http://"+addr+"/metrics")
		signals := total(fams, "reelflow_receiver_signals_sent_total", nil)
		t.Logf("receiver-%d: %v signals", i+1, signals)
		require.Positive(t, signals, "receiver-%d signalled nothing", i+1)
	}

	// Everything stops cleanly, as on a rolling deploy.
	for _, p := range append(workers, receivers...) {
		require.Zero(t, p.stop(t, 35*time.Second), "%s exits 0 on SIGTERM", p.name)
	}
}
