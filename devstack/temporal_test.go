package devstack

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func waitForSignal(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &v)
	return v, nil
}

// TestTemporalSurvivesRestart starts a workflow, stops the server, starts it again on
// the same SQLite file and finishes the workflow there.
func TestTemporalSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "state", "temporal.db")
	attrs := []string{"ReelflowStage", "HeyGenJobID"}

	srv, err := StartTemporal(ctx, TemporalConfig{DBPath: db, SearchAttributes: attrs})
	require.NoError(t, err)
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "restart-1", TaskQueue: "tq"}, waitForSignal)
	require.NoError(t, err)
	c.Close()
	require.NoError(t, srv.Stop())

	srv, err = StartTemporal(ctx, TemporalConfig{DBPath: db, SearchAttributes: attrs})
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Stop()) }()
	c, err = client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	defer c.Close()

	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	require.NoError(t, err)
	for _, name := range attrs {
		require.Contains(t, sa.GetCustomAttributes(), name)
	}

	w := worker.New(c, "tq", worker.Options{})
	w.RegisterWorkflow(waitForSignal)
	require.NoError(t, w.Start())
	defer w.Stop()
	require.NoError(t, c.SignalWorkflow(ctx, "restart-1", run.GetRunID(), "go", "resumed"))
	var got string
	require.NoError(t, c.GetWorkflow(ctx, "restart-1", run.GetRunID()).Get(ctx, &got))
	require.Equal(t, "resumed", got)
}

func TestUIServes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := StartTemporal(ctx, TemporalConfig{})
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Stop()) }()
	ports, err := freePorts("127.0.0.1", 1)
	require.NoError(t, err)
	ui, err := StartUI(srv.Address(), "127.0.0.1", ports[0], srv.Namespace())
	require.NoError(t, err)
	defer ui.Stop()
	require.Eventually(t, func() bool {
		resp, err := http.Get(ui.URL() + "/api/v1/namespaces/default/workflows")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond)
}

// TestTemporalLogFile: with a LogFile, the server's warnings go there and not to the
// Logger, which keeps a console to reelflow's own lines.
func TestTemporalLogFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	core, console := observer.New(zapcore.DebugLevel)
	logFile := filepath.Join(t.TempDir(), "state", "temporal.log")
	srv, err := StartTemporal(ctx, TemporalConfig{Logger: zap.New(core), LogFile: logFile})
	require.NoError(t, err)
	defer func() { require.NoError(t, srv.Stop()) }()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	defer c.Close()

	// What the Web UI does each time it opens a workflow: the server warns and asks for
	// fewer events, whether or not the workflow exists.
	const warning = "GetHistory page size is larger than threshold"
	_, _ = c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace:       srv.Namespace(),
		Execution:       &commonpb.WorkflowExecution{WorkflowId: "any"},
		MaximumPageSize: 1 << 20,
	})
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		b, err := os.ReadFile(logFile)
		require.NoError(c, err)
		assert.Contains(c, string(b), warning)
	}, 10*time.Second, 20*time.Millisecond)
	assert.Zero(t, console.Len(), "none of the server's lines reached the Logger: %v", console.All())
}
