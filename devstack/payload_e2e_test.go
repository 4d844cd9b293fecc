package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reelflow/reelflow/payload"
	"github.com/reelflow/reelflow/workflows"
)

func genKey(t *testing.T, id string) payload.Key {
	t.Helper()
	k, err := payload.GenerateKey(id)
	require.NoError(t, err)
	return k
}

// rawHistory reads workflowID's history through a client with no codec: what Temporal
// stores and what anyone with API access (or the UI without a codec server) sees.
func rawHistory(ctx context.Context, t *testing.T, st *Stack, workflowID string) []*historypb.HistoryEvent {
	t.Helper()
	c, err := client.DialContext(ctx, client.Options{HostPort: st.Temporal.Address(), Namespace: st.Temporal.Namespace()})
	require.NoError(t, err)
	defer c.Close()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		events = append(events, ev)
	}
	require.NotEmpty(t, events)
	return events
}

// personal is a pipeline whose input carries what a CSV row puts there: a contact's
// name, email and company, in the title and the personalised script.
func personal(id string) workflows.PipelineInput {
	in := welcome(id)
	in.Title = "Welcome Zoë Quartermaine"
	in.Video["script"] = "Hi Zoë, welcome to Quartermaine Widgets; we will write to zoe.q@example.org."
	return in
}

var personalMarkers = []string{"Zoë", "Quartermaine", "zoe.q@example.org", "welcome to"}

// TestPayloadsEncryptedAtRest: with keys, Temporal holds no plaintext of a spec's script
// or a row's values, nor of the receiver's signal; a client with the key (what `status`
// and `start --wait` use) reads them; the codec server's /decode returns them.
func TestPayloadsEncryptedAtRest(t *testing.T) {
	keyA := genKey(t, "key-a")
	st := startStack(t, Config{Payload: payload.Options{Keys: payload.Keys{keyA}}, CodecAddr: "127.0.0.1:0"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	in := personal("enc-rest")
	in.Timeouts.PushWindow = time.Hour // only the webhook's signal can finish the Job
	in.Timeouts.Sweep = -1             // nor a sweep, which reads the job first when its render crosses a minute
	res, err := runPipeline(t, st, in)
	require.NoError(t, err, "a keyed client reads the result")
	require.NotEmpty(t, res.Steps)

	v, err := st.Client.QueryWorkflow(ctx, in.ID, "", workflows.QueryStatus)
	require.NoError(t, err)
	var status workflows.PipelineStatus
	require.NoError(t, v.Get(&status), "the status query decodes with the key")

	jobID := workflows.JobWorkflowID(in.ID, workflows.StepRender)
	var signalled, started *historypb.HistoryEvent
	for _, id := range []string{in.ID, jobID} {
		for _, ev := range rawHistory(ctx, t, st, id) {
			raw, err := protojson.Marshal(ev)
			require.NoError(t, err)
			for _, m := range personalMarkers {
				require.NotContains(t, string(raw), m, "event %d %s of %s holds plaintext", ev.GetEventId(), ev.GetEventType(), id)
			}
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				signalled = ev
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				if id == in.ID {
					started = ev
				}
			}
		}
	}
	require.NotNil(t, signalled, "the receiver signalled the Job")
	in0 := started.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	require.Equal(t, payload.Encoding, string(in0[0].GetMetadata()["encoding"]), "the pipeline's input is sealed")
	sig := signalled.GetWorkflowExecutionSignaledEventAttributes().GetInput().GetPayloads()
	require.Len(t, sig, 1)
	require.Equal(t, payload.Encoding, string(sig[0].GetMetadata()["encoding"]))
	require.Equal(t, "key-a", string(sig[0].GetMetadata()[payload.MetadataKeyID]))
	require.NotContains(t, string(sig[0].GetData()), "video", "the event's JSON is sealed")

	// The codec server, as the UI calls it.
	body, err := protojson.Marshal(started.GetWorkflowExecutionStartedEventAttributes().GetInput())
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.CodecURL()+"/decode", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", st.Temporal.Namespace())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(out))
	var decoded struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	require.NoError(t, json.Unmarshal(out, &decoded))
	require.Len(t, decoded.Payloads, 1)
	require.Contains(t, string(decoded.Payloads[0].Data), "zoe.q@example.org", "/decode returns the plaintext")
}

// TestKeyRotationAcrossWorkerRestart: a run started under key A completes after the worker
// restarts with [B, A]; a worker with only B says which key it lacks and loses nothing:
// once A is back the run completes, with one render.
func TestKeyRotationAcrossWorkerRestart(t *testing.T) {
	keyA, keyB := genKey(t, "key-a"), genKey(t, "key-b")
	core, logs := observer.New(zap.DebugLevel)
	st := startStack(t, Config{Payload: payload.Options{Keys: payload.Keys{keyA}}, RenderTime: time.Second, Logger: zap.New(core)})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := func(id string) client.WorkflowRun {
		run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, personal(id))
		require.NoError(t, err)
		return run
	}

	// Only B: the run started under A cannot go on, and the log names key-a.
	st.StopWorker()
	stuck := start("rot-stuck")
	require.NoError(t, st.StartWorkerWithPayload(ctx, payload.Options{Keys: payload.Keys{keyB}}))
	assert.Eventually(t, func() bool {
		for _, e := range logs.All() {
			if strings.Contains(e.Message+" "+fieldsOf(e), `key ID "key-a"`) {
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "a worker without key-a says so")
	if t.Failed() {
		for _, e := range logs.All() {
			t.Log(e.Message, fieldsOf(e))
		}
		for _, ev := range rawHistory(ctx, t, st, "rot-stuck") {
			b, _ := protojson.Marshal(ev)
			t.Log(string(b))
		}
		t.FailNow()
	}

	// [B, A]: the stuck run and one started under A while it ran both complete.
	rotated := start("rot-inflight")
	require.NoError(t, st.StartWorkerWithPayload(ctx, payload.Options{Keys: payload.Keys{keyB, keyA}}))
	// Readers rotate too: what the worker now writes is sealed with B.
	ropts, err := st.clientOptions(payload.Options{Keys: payload.Keys{keyB, keyA}})
	require.NoError(t, err)
	reader, err := client.DialContext(ctx, ropts)
	require.NoError(t, err)
	defer reader.Close()
	for _, run := range []client.WorkflowRun{stuck, rotated} {
		var res workflows.PipelineResult
		require.NoError(t, reader.GetWorkflow(ctx, run.GetID(), "").Get(ctx, &res), run.GetID())
		require.NotEmpty(t, res.Steps)
	}
	stats := st.Sandbox.Stats()
	for _, id := range []string{"rot-stuck", "rot-inflight"} {
		require.Equal(t, 1, stats.CreatesByCallbackID[workflows.JobWorkflowID(id, workflows.StepRender)], "%s rendered once", id)
	}
	// What the rotated worker wrote is sealed with B, the first key.
	var sawB bool
	for _, ev := range rawHistory(ctx, t, st, "rot-stuck") {
		if r := ev.GetActivityTaskScheduledEventAttributes(); r != nil {
			sawB = sawB || string(r.GetInput().GetPayloads()[0].GetMetadata()[payload.MetadataKeyID]) == "key-b"
		}
	}
	require.True(t, sawB, "the worker with [B, A] encrypts with B")
}

func fieldsOf(e observer.LoggedEntry) string {
	var b strings.Builder
	for k, v := range e.ContextMap() {
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strings.TrimSpace(strings.ReplaceAll(jsonString(v), `\"`, `"`)))
		b.WriteString(" ")
	}
	return b.String()
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
