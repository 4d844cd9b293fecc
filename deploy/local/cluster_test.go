//go:build cluster

package local

// The cluster test of issue 12: docker-compose.yml's topology, run by cluster.sh, through
// a worker and a receiver killed with SIGKILL and the Temporal server restarted, with
// 30% of webhooks dropped. Run it with `.ci/run`, or alone:
//
//	go test -tags cluster -run TestClusterThroughCrashes -v -timeout 30m ./deploy/local/
//
// CLUSTER_PIPELINES changes the number of pipelines (default 300).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

func pipelineInput(id string) workflows.PipelineInput {
	return workflows.PipelineInput{
		ID:    id,
		Title: "Cluster " + id,
		Video: map[string]any{
			"type": "avatar", "avatar_id": "Daisy-inskirt-20220818", "voice_id": "2d5b0e6cf36f460aa7fc47e3eee4ba54",
			"script": "Run on the production topology.",
		},
		Translate: &workflows.Translate{Languages: []string{"Spanish (Spain)", "French"}},
		// A dropped webhook is healed by polling after 20 s.
		Timeouts: workflows.Timeouts{PushWindow: 20 * time.Second, PollInitial: 2 * time.Second, PollMax: 10 * time.Second, Deadline: 20 * time.Minute},
	}
}

// startPipelines starts n pipelines, conc at a time, and returns their IDs.
func startPipelines(ctx context.Context, t *testing.T, c client.Client, prefix string, n, conc int) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: workflows.TaskQueue}, workflows.Pipeline, pipelineInput(ids[i]))
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return ids
}

func TestClusterThroughCrashes(t *testing.T) {
	n := 300
	if v, err := strconv.Atoi(os.Getenv("CLUSTER_PIPELINES")); err == nil {
		n = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	c := startCluster(t, "2s")
	// 30% of deliveries dropped; renders take 2 s plus a long tail (mean 4 s), so that
	// pipelines end over minutes and every fault below lands mid-run.
	c.setFaults(sandbox.Faults{DropRate: 0.3, RenderTail: 4 * time.Second})

	began := time.Now()
	ids := startPipelines(ctx, t, c.Client, "cluster", n, 16)
	t.Logf("%d pipelines started in %s", n, time.Since(began).Round(time.Millisecond))

	closed := func() int64 {
		k, err := c.count(ctx, "WorkflowType = 'Pipeline' AND ExecutionStatus != 'Running'")
		if err != nil {
			return -1 // the server is restarting
		}
		return k
	}
	faults := []struct {
		at   int64
		what string
		do   func()
	}{
		{int64(n) / 10, "kill -9 worker1", func() { c.kill9("worker1") }},
		{int64(n) / 4, "kill -9 receiver1", func() { c.kill9("receiver1") }},
		{int64(n) * 2 / 5, "restart the Temporal server", func() { c.restartTemporal(ctx) }},
	}
	for _, f := range faults {
		require.NoError(t, until(ctx, 200*time.Millisecond, func() bool { return closed() >= f.at }), "before %s", f.what)
		k := closed()
		require.Less(t, k, int64(n), "%s comes mid-run", f.what)
		t.Logf("%s with %d of %d pipelines closed, at %s", f.what, k, n, time.Since(began).Round(time.Second))
		f.do()
	}
	require.NoError(t, until(ctx, time.Second, func() bool { return closed() == int64(n) }), "every pipeline closes")
	t.Logf("all %d pipelines closed after %s", n, time.Since(began).Round(time.Second))

	c.checkPipelines(ctx, ids)
	c.checkCreates(ctx, ids)
	c.checkDeliveries(ctx, ids)
	c.checkStatusAndVisibility(ctx, ids)
	c.checkEncrypted(ctx, ids[0])
}

// checkEncrypted: read without a key, the history holds ciphertext sealed with the
// cluster's key, and none of the pipeline's script; the codec server decodes it.
func (c *cluster) checkEncrypted(ctx context.Context, id string) {
	raw, err := client.Dial(client.Options{HostPort: c.ports["temporal"], Logger: quietLogger{}})
	require.NoError(c.t, err)
	defer raw.Close()
	it := raw.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	require.NoError(c.t, err)
	in := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	require.Len(c.t, in, 1)
	assert.Equal(c.t, payload.Encoding, string(in[0].GetMetadata()["encoding"]))
	assert.NotContains(c.t, string(in[0].GetData()), "production topology", "the script is not in the history")

	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: in})
	require.NoError(c.t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:"+c.ports["codec"]+"/decode", bytes.NewReader(body))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	require.Equal(c.t, http.StatusOK, resp.StatusCode)
	var out commonpb.Payloads
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	require.NoError(c.t, protojson.Unmarshal(b, &out))
	require.Len(c.t, out.GetPayloads(), 1)
	assert.Contains(c.t, string(out.GetPayloads()[0].GetData()), "Run on the production topology.", "the codec server decodes it")
}

// restartTemporal kills the server with SIGKILL and starts it again through the script.
func (c *cluster) restartTemporal(ctx context.Context) {
	c.kill9("temporal")
	began := time.Now()
	out, err := c.script("start", "temporal")
	require.NoError(c.t, err, out)
	c.t.Logf("temporal: serving again %s after the kill", time.Since(began).Round(time.Millisecond))
}

// checkPipelines: every pipeline completed, with a done render and two done translations.
func (c *cluster) checkPipelines(ctx context.Context, ids []string) {
	var bad []string
	for _, id := range ids {
		var res workflows.PipelineResult
		if err := c.Client.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		done := 0
		for _, s := range res.Steps {
			if s.CallbackID != "" && s.State == workflows.StateDone {
				done++
			}
		}
		if done != 3 {
			bad = append(bad, fmt.Sprintf("%s: %d of 3 jobs done: %+v", id, done, res.Steps))
		}
	}
	assert.Empty(c.t, bad, "pipelines that did not complete")
}

// jobIDs are the callback_ids of the pipelines' jobs.
func jobIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, workflows.JobWorkflowID(id, workflows.StepRender))
		for _, lang := range pipelineInput(id).Translate.Languages {
			out = append(out, workflows.JobWorkflowID(id, workflows.TranslateStep(lang)))
		}
	}
	return out
}

// checkCreates: the sandbox made exactly one job per callback_id, and dropped webhooks.
func (c *cluster) checkCreates(ctx context.Context, ids []string) {
	st, err := c.stats()
	require.NoError(c.t, err)
	for _, cb := range jobIDs(ids) {
		assert.Equal(c.t, 1, st.CreatesByCallbackID[cb], "creates of %s", cb)
	}
	assert.Len(c.t, st.JobsByCallbackID, 3*len(ids), "callback_ids the sandbox saw")
	c.t.Logf("sandbox: %d creates, %d deliveries (%d acked, %d dropped, %d exhausted), %d polls",
		st.Creates, st.Deliveries, st.DeliveriesAcked, st.DeliveriesDropped, st.DeliveriesExhausted, st.Polls)
	assert.Positive(c.t, st.DeliveriesDropped, "webhooks were dropped")
}

// checkDeliveries: every delivery that a receiver answered 200 before its Job closed is
// a signal in that Job's history (one answered after the close is a late event, which
// the receiver acks without a signal); and both receivers took deliveries.
func (c *cluster) checkDeliveries(ctx context.Context, ids []string) {
	acked := map[string][]time.Time{}
	byBackend := map[string]int{}
	for _, d := range c.deliveryLog() {
		if d.Status == 200 {
			acked[d.CallbackID] = append(acked[d.CallbackID], d.End)
			byBackend[d.Backend]++
		}
	}
	c.t.Logf("deliveries answered 200, by receiver: %v", byBackend)
	assert.Len(c.t, byBackend, 2, "deliveries spread over both receivers")
	jobs := jobIDs(ids)
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var late atomic.Int64
	for i, cb := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			signals, closeTime, err := c.signals(ctx, cb)
			if err != nil {
				errs[i] = err
				return
			}
			before := 0
			for _, at := range acked[cb] {
				if at.Before(closeTime) {
					before++
				} else {
					late.Add(1)
				}
			}
			if signals < before {
				errs[i] = fmt.Errorf("%s: %d deliveries answered 200 before it closed, %d signals in its history", cb, before, signals)
			}
		})
	}
	wg.Wait()
	assert.NoError(c.t, errors.Join(errs...))
	c.t.Logf("deliveries answered 200 after their Job closed (late, no signal): %d", late.Load())
}

// signals counts the heygen.event signals in a Job's history, and returns its close time.
func (c *cluster) signals(ctx context.Context, jobID string) (int, time.Time, error) {
	it := c.Client.GetWorkflowHistory(ctx, jobID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	var closed time.Time
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, closed, fmt.Errorf("history of %s: %w", jobID, err)
		}
		if a := ev.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.GetSignalName() == workflows.SignalEvent {
			n++
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
			closed = ev.GetEventTime().AsTime()
		}
	}
	if closed.IsZero() {
		return n, closed, fmt.Errorf("%s did not complete", jobID)
	}
	return n, closed, nil
}

// checkStatusAndVisibility: `reelflow status` shows the pipelines, and a visibility
// query on ReelflowStage finds all of them done.
func (c *cluster) checkStatusAndVisibility(ctx context.Context, ids []string) {
	for _, id := range []string{ids[0], ids[len(ids)/2], ids[len(ids)-1]} {
		out, err := c.reelflow(ctx, "status", id)
		require.NoError(c.t, err, out)
		assert.Contains(c.t, out, fmt.Sprintf("pipeline %s", id))
		assert.Contains(c.t, out, "completed (stage done)", out)
	}
	q := fmt.Sprintf("WorkflowType = 'Pipeline' AND %s = '%s'", workflows.SearchAttrStage, workflows.StageDone)
	var k int64
	err := until(ctx, 200*time.Millisecond, func() bool {
		var err error
		k, err = c.count(ctx, q)
		return err == nil && k == int64(len(ids))
	})
	assert.NoError(c.t, err, "%d of %d pipelines match %q", k, len(ids), q)
	jobs, err := c.count(ctx, fmt.Sprintf("WorkflowType = 'Job' AND %s = '%s'", workflows.SearchAttrStage, workflows.StateDone))
	require.NoError(c.t, err)
	assert.Equal(c.t, int64(3*len(ids)), jobs, "Jobs with ReelflowStage %s", workflows.StateDone)
}
