package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/workflows"
)

// These tests put the receiver in front of a real Temporal server, over real HTTP, with
// the real signaler, to show what a fake cannot: that an answer of 200 means Temporal has
// the event, and that a repeated delivery lands once.

const (
	rxSecret    = "whsec_receiver_e2e_secret"
	rxTaskQueue = "rx-test"
	rxWorkflow  = "rx-collect"
)

// rxCollect stands in for a Job workflow: it takes heygen.event signals until it is
// cancelled. The tests read what it was sent from its history, not from its state.
func rxCollect(ctx workflow.Context) (int, error) {
	ch := workflow.GetSignalChannel(ctx, workflows.SignalEvent)
	n := 0
	for {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
			var ev heygen.Event
			c.Receive(ctx, &ev)
			n++
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
}

// rxEnv is a Temporal server on a SQLite file, a lazy client (as `reelflow receiver`
// uses), a worker running rxCollect, and a receiver served on a free local port.
type rxEnv struct {
	t        *testing.T
	db       string
	temporal *Temporal
	client   client.Client
	worker   worker.Worker
	srv      *http.Server
	url      string
	http     *http.Client
}

func startRxEnv(t *testing.T, signalTimeout time.Duration) *rxEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &rxEnv{t: t, db: filepath.Join(t.TempDir(), "temporal.db")}
	var err error
	e.temporal, err = StartTemporal(ctx, TemporalConfig{DBPath: e.db})
	require.NoError(t, err)
	t.Cleanup(func() {
		if e.temporal != nil {
			_ = e.temporal.Stop()
		}
	})

	e.client, err = client.NewLazyClient(client.Options{
		HostPort:          e.temporal.Address(),
		Namespace:         e.temporal.Namespace(),
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{receiver.RequestIDDialOption()}},
	})
	require.NoError(t, err)
	t.Cleanup(e.client.Close)

	e.worker = worker.New(e.client, rxTaskQueue, worker.Options{})
	e.worker.RegisterWorkflowWithOptions(rxCollect, workflow.RegisterOptions{Name: rxWorkflow})
	require.NoError(t, e.worker.Start())
	t.Cleanup(e.worker.Stop)

	rcv, err := receiver.New(receiver.Config{Secrets: []string{rxSecret}, SignalTimeout: signalTimeout},
		receiver.NewTemporalSignaler(e.client, nil),
		receiver.NewTemporalHealthChecker(e.client))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e.srv = rcv.Server(ln.Addr().String())
	e.url = "http://" + ln.Addr().String()
	go func() { _ = e.srv.Serve(ln) }()
	t.Cleanup(func() { _ = e.srv.Close() })

	e.http = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}
	t.Cleanup(e.http.CloseIdleConnections)
	return e
}

// startWorkflow starts rxCollect with the given ID.
func (e *rxEnv) startWorkflow(ctx context.Context, id string) client.WorkflowRun {
	e.t.Helper()
	run, err := e.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: rxTaskQueue}, rxWorkflow)
	require.NoError(e.t, err)
	return run
}

// delivery is a signed HeyGen webhook delivery.
type delivery struct {
	body []byte
	sig  string
}

func signedEvent(eventType, callbackID, videoID string) delivery {
	body, _ := json.Marshal(map[string]any{
		"event_type": eventType,
		"event_data": map[string]any{
			"video_id":    videoID,
			"url":         "https://files.example/" + videoID + ".mp4",
			"callback_id": callbackID,
		},
	})
	return delivery{body: body, sig: heygen.Sign(rxSecret, body)}
}

// answer is what a delivery got: a status code and the body's status, or an error.
type answer struct {
	code       int
	status     string
	retryAfter string
	err        error
	took       time.Duration
}

func (e *rxEnv) send(ctx context.Context, d delivery) answer {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+receiver.WebhookPath, bytes.NewReader(d.body))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(heygen.SignatureHeader, d.sig)
	resp, err := e.http.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	return answer{code: resp.StatusCode, status: body.Status, retryAfter: resp.Header.Get("Retry-After"), err: err, took: time.Since(start)}
}

// ready reports whether the receiver's /readyz answers 200, that is whether its client
// reaches Temporal.
func (e *rxEnv) ready(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/readyz", nil)
	resp, err := e.http.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// signals returns the heygen.event signals in a workflow's history, in order, decoded as
// the workflow decodes them.
func signals(ctx context.Context, t *testing.T, svc workflowservice.WorkflowServiceClient, namespace, workflowID string) []heygen.Event {
	t.Helper()
	var out []heygen.Event
	var token []byte
	for {
		resp, err := svc.GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace:              namespace,
			Execution:              &commonpb.WorkflowExecution{WorkflowId: workflowID},
			NextPageToken:          token,
			HistoryEventFilterType: enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT,
		})
		require.NoError(t, err, "history of %s", workflowID)
		for _, ev := range resp.GetHistory().GetEvents() {
			if ev.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
				continue
			}
			attrs := ev.GetWorkflowExecutionSignaledEventAttributes()
			require.Equal(t, workflows.SignalEvent, attrs.GetSignalName(), "an unexpected signal in %s", workflowID)
			var got heygen.Event
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &got))
			out = append(out, got)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out
		}
	}
}

// signals waits until no workflow task of workflowID is running, then returns its
// heygen.event signals. A signal that arrives while a workflow task runs is durable at
// once, but the server holds it as a buffered event, outside the history, until that
// task ends; reading the history earlier would miss an acknowledged event.
func (e *rxEnv) signals(ctx context.Context, workflowID string) []heygen.Event {
	e.t.Helper()
	svc := e.client.WorkflowService()
	var state enumspb.PendingWorkflowTaskState
	require.Eventually(e.t, func() bool {
		d, err := svc.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
			Namespace: e.temporal.Namespace(),
			Execution: &commonpb.WorkflowExecution{WorkflowId: workflowID},
		})
		if err != nil {
			return false
		}
		state = d.GetPendingWorkflowTask().GetState()
		return state != enumspb.PENDING_WORKFLOW_TASK_STATE_STARTED
	}, 30*time.Second, 20*time.Millisecond, "a workflow task of %s is still running", workflowID)
	return signals(ctx, e.t, svc, e.temporal.Namespace(), workflowID)
}

// TestReceiverTemporalDown: with the server stopped, a valid delivery is answered 503 with
// Retry-After within the signal deadline; once the server is back on the same database,
// the same client recovers and the same delivery is answered 200 and recorded once.
func TestReceiverTemporalDown(t *testing.T) {
	const signalTimeout = 1500 * time.Millisecond
	e := startRxEnv(t, signalTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const wfID = "rx-test-1/render"
	e.startWorkflow(ctx, wfID)
	require.True(t, e.ready(ctx))
	d := signedEvent(heygen.EventAvatarVideoSuccess, wfID, "vid-down-1")

	_, portText, err := net.SplitHostPort(e.temporal.Address())
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	require.NoError(t, e.temporal.Stop())
	e.temporal = nil

	a := e.send(ctx, d)
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusServiceUnavailable, a.code)
	assert.Contains(t, []string{"timeout", "unavailable"}, a.status)
	assert.NotEmpty(t, a.retryAfter, "a 503 tells HeyGen when to retry")
	assert.Less(t, a.took, signalTimeout+2*time.Second, "answered within the signal deadline")
	t.Logf("Temporal down: %d %s after %v, Retry-After %s", a.code, a.status, a.took.Round(time.Millisecond), a.retryAfter)
	assert.False(t, e.ready(ctx), "not ready while Temporal is down")

	// Same database, same frontend port: the receiver's client is never replaced.
	restart := time.Now()
	e.temporal, err = StartTemporal(ctx, TemporalConfig{DBPath: e.db, Port: port})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.ready(ctx) }, 30*time.Second, 100*time.Millisecond,
		"the receiver's client reconnects to the restarted server")
	t.Logf("Temporal back and the receiver ready %v after the restart began", time.Since(restart).Round(time.Millisecond))

	a = e.send(ctx, d)
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.code)
	require.Equal(t, "signalled", a.status)

	got := e.signals(ctx, wfID)
	require.Len(t, got, 1, "the 503 attempt never reached the workflow")
	require.Equal(t, "vid-down-1", got[0].JobID)

	// HeyGen's retry of a delivery it already saw acknowledged changes nothing either:
	// the request IDs a workflow has seen survive the restart with it.
	a = e.send(ctx, d)
	require.Equal(t, http.StatusOK, a.code)
	require.Len(t, e.signals(ctx, wfID), 1)
}

// TestReceiverTemporalHung: a frontend that accepts connections and never answers (a
// hung server or a black-holed network) holds the signal call until SignalTimeout, and
// the delivery is answered 503 with Retry-After, not left hanging.
func TestReceiverTemporalHung(t *testing.T) {
	const signalTimeout = 1500 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})

	c, err := client.NewLazyClient(client.Options{
		HostPort: ln.Addr().String(),
		Logger:   sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	defer c.Close()
	rcv, err := receiver.New(receiver.Config{Secrets: []string{rxSecret}, SignalTimeout: signalTimeout},
		receiver.NewTemporalSignaler(c, nil), receiver.NewTemporalHealthChecker(c))
	require.NoError(t, err)
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := rcv.Server(rl.Addr().String())
	go func() { _ = srv.Serve(rl) }()
	defer srv.Close()
	e := &rxEnv{t: t, url: "http://" + rl.Addr().String(), http: &http.Client{Timeout: 30 * time.Second}}
	defer e.http.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := e.send(ctx, signedEvent(heygen.EventAvatarVideoSuccess, "rx-test-hung/render", "vid-hung-1"))
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusServiceUnavailable, a.code)
	assert.Equal(t, "timeout", a.status)
	assert.NotEmpty(t, a.retryAfter)
	assert.GreaterOrEqual(t, a.took, signalTimeout, "it waited for Temporal up to the deadline")
	assert.Less(t, a.took, signalTimeout+2*time.Second, "and no longer")
	t.Logf("Temporal hung: %d %s after %v", a.code, a.status, a.took.Round(time.Millisecond))
}

// TestReceiverConcurrentDuplicates: the same delivery 50 times at once is answered 200
// every time and recorded once, because every copy carries the same signal request ID
// (heygen.Event.DedupeKey) and the server checks and records request IDs under the
// workflow's lock.
func TestReceiverConcurrentDuplicates(t *testing.T) {
	e := startRxEnv(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const wfID = "rx-test-2/render"
	run := e.startWorkflow(ctx, wfID)
	d := signedEvent(heygen.EventAvatarVideoSuccess, wfID, "vid-dup-1")

	const n = 50
	answers := make([]answer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = e.send(ctx, d)
		})
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		require.NoError(t, a.err, "delivery %d", i)
		require.Equal(t, http.StatusOK, a.code, "delivery %d", i)
		require.Equal(t, "signalled", a.status, "delivery %d", i)
	}
	got := e.signals(ctx, wfID)
	require.Len(t, got, 1, "Temporal drops the copies by request ID")
	require.Equal(t, "vid-dup-1", got[0].JobID)

	// Every copy counts as a signal sent: the receiver cannot tell a dropped copy from
	// the first, which is why there is no duplicates counter (receiver/metrics.go).
	metrics := e.metrics(ctx)
	assert.Contains(t, metrics, fmt.Sprintf("reelflow_receiver_signals_sent_total %d\n", n))
	assert.Contains(t, metrics, fmt.Sprintf(`reelflow_receiver_requests_total{event_type="avatar_video.success",outcome="signalled"} %d`+"\n", n))

	// A different event for the same job is a different fact and is recorded.
	fail := signedEvent(heygen.EventAvatarVideoFail, wfID, "vid-dup-1")
	a := e.send(ctx, fail)
	require.Equal(t, http.StatusOK, a.code)
	require.Len(t, e.signals(ctx, wfID), 2)

	// Once the workflow has closed, a repeat of an event it recorded is still answered
	// "signalled": the server looks the request ID up before it checks that the run is
	// open. A new event for the closed workflow is "late".
	require.NoError(t, e.client.CancelWorkflow(ctx, wfID, ""))
	require.Error(t, run.Get(ctx, nil))
	a = e.send(ctx, d)
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, "signalled", a.status, "a repeat after close")
	a = e.send(ctx, signedEvent(heygen.EventAvatarVideoSuccess, wfID, "vid-dup-2"))
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, "late", a.status, "a new event after close")
	require.Len(t, e.signals(ctx, wfID), 2)
}

func (e *rxEnv) metrics(ctx context.Context) string {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/metrics", nil)
	resp, err := e.http.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return string(b)
}

// TestReceiverShutdownDuringBurst: 500 distinct deliveries to 100 open workflows from 32
// senders, and the receiver's server shut down (what SIGTERM does) once half of them
// have been answered. Every delivery answered 200 is in its workflow's history, and no
// event is in a history that was not answered 200.
func TestReceiverShutdownDuringBurst(t *testing.T) {
	e := startRxEnv(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const (
		nWorkflows = 100
		perFlow    = 5
		total      = nWorkflows * perFlow
		senders    = 32
	)
	wfID := func(i int) string {
		return workflows.JobWorkflowID(fmt.Sprintf("rx-burst-%03d", i), workflows.StepRender)
	}
	for i := range nWorkflows {
		e.startWorkflow(ctx, wfID(i))
	}
	// Delivery k goes to workflow k%100, so that consecutive deliveries name different
	// workflows; each has its own job ID, so none is a repeat of another.
	deliveries := make([]delivery, total)
	jobs := make([]string, total)
	for k := range total {
		jobs[k] = fmt.Sprintf("vid-burst-%03d", k)
		deliveries[k] = signedEvent(heygen.EventAvatarVideoSuccess, wfID(k%nWorkflows), jobs[k])
	}

	answers := make([]answer, total)
	var answered atomic.Int32
	half := make(chan struct{})
	next := make(chan int)
	go func() {
		defer close(next)
		for k := range total {
			next <- k
		}
	}()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for k := range next {
				answers[k] = e.send(ctx, deliveries[k])
				if answered.Add(1) == total/2 {
					close(half)
				}
			}
		})
	}

	<-half
	shutCtx, shutCancel := context.WithTimeout(ctx, 20*time.Second)
	defer shutCancel()
	shutStart := time.Now()
	require.NoError(t, e.srv.Shutdown(shutCtx), "in-flight deliveries finish within the deadline")
	shutTook := time.Since(shutStart)
	wg.Wait()

	var ok, refused, other int
	acked := map[string]bool{}
	for k, a := range answers {
		switch {
		case a.err != nil:
			refused++
		case a.code == http.StatusOK:
			require.Equal(t, "signalled", a.status, "delivery %d", k)
			ok++
			acked[jobs[k]] = true
		default:
			// Temporal is up, so nothing but a 503 could be honest here.
			require.Equal(t, http.StatusServiceUnavailable, a.code, "delivery %d", k)
			other++
		}
	}
	t.Logf("%d answered 200, %d non-200, %d connection errors; Shutdown took %v", ok, other, refused, shutTook.Round(time.Millisecond))
	require.GreaterOrEqual(t, ok, total/2, "every delivery before the shutdown was acknowledged")
	require.Positive(t, refused, "the shutdown came in the middle of the burst")

	recorded := map[string]int{}
	for i := range nWorkflows {
		for _, ev := range e.signals(ctx, wfID(i)) {
			require.Equal(t, wfID(i), ev.CallbackID)
			recorded[ev.JobID]++
		}
	}
	for job := range acked {
		require.Equal(t, 1, recorded[job], "acknowledged delivery %s is in its workflow's history once", job)
	}
	for job, n := range recorded {
		require.True(t, acked[job], "%s was signalled (%d) but never acknowledged", job, n)
	}
}

// TestReceiverNotOurs: a correctly signed event whose callback_id names a workflow that
// reelflow did not make is answered 200 "not_ours", and that workflow is not signalled,
// although it exists and is open. A reelflow ID on the same server is the control.
func TestReceiverNotOurs(t *testing.T) {
	e := startRxEnv(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The task queue scanner's workflow runs in the temporal-system namespace, under the
	// ID "temporal-sys-tq-scanner" and the type "temporal-sys-tq-scanner-workflow". Both
	// names, and another application's workflow, are also started in the receiver's own
	// namespace, so that a signal would land if the receiver sent one.
	const systemNS = "temporal-system"
	foreign := []string{"temporal-sys-tq-scanner", "temporal-sys-tq-scanner-workflow", "other-app-workflow"}
	for _, id := range foreign {
		e.startWorkflow(ctx, id)
	}
	const ours = "rx-test-4/render"
	e.startWorkflow(ctx, ours)

	svc := e.client.WorkflowService()
	require.Eventually(t, func() bool {
		_, err := svc.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{
			Namespace: systemNS, Execution: &commonpb.WorkflowExecution{WorkflowId: foreign[0]},
		})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the system workflow runs")
	systemBefore := len(signals(ctx, t, svc, systemNS, foreign[0]))

	for _, id := range foreign {
		a := e.send(ctx, signedEvent(heygen.EventAvatarVideoSuccess, id, "vid-"+id))
		require.NoError(t, a.err)
		require.Equal(t, http.StatusOK, a.code, id)
		require.Equal(t, "not_ours", a.status, id)
	}
	a := e.send(ctx, signedEvent(heygen.EventAvatarVideoSuccess, ours, "vid-ours"))
	require.Equal(t, http.StatusOK, a.code)
	require.Equal(t, "signalled", a.status)

	// Histories are read after the control's signal, which is durable once answered;
	// the foreign deliveries were answered before it.
	require.Len(t, e.signals(ctx, ours), 1)
	for _, id := range foreign {
		require.Empty(t, e.signals(ctx, id), id)
	}
	require.Len(t, signals(ctx, t, svc, systemNS, foreign[0]), systemBefore)
	require.Contains(t, e.metrics(ctx),
		`reelflow_receiver_requests_total{event_type="avatar_video.success",outcome="not_ours"} 3`+"\n")
}
