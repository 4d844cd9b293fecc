package receiver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// fakeClient is the Temporal client calls the signaler, the finder and the health check
// make.
type fakeClient struct {
	client.Client
	mu        sync.Mutex
	signals   []string // workflow IDs
	sigErr    error
	listReqs  []*workflowservice.ListWorkflowExecutionsRequest
	listIDs   []string
	listErr   error
	healthErr error
}

func (f *fakeClient) SignalWorkflow(_ context.Context, workflowID, runID, name string, _ any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if runID != "" || name != workflows.SignalEvent {
		return errors.New("unexpected run ID or signal name")
	}
	f.signals = append(f.signals, workflowID)
	return f.sigErr
}

func (f *fakeClient) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listReqs = append(f.listReqs, req)
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, id := range f.listIDs {
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id}})
	}
	return resp, f.listErr
}

func (f *fakeClient) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, f.healthErr
}

func TestTemporalSignalerErrors(t *testing.T) {
	unavailable := serviceerror.NewUnavailable("connection refused")
	tests := []struct {
		name     string
		err      error
		late     bool
		wantCode int
		state    string
	}{
		{"signalled", nil, false, 200, "signalled"},
		{"workflow closed", serviceerror.NewNotFound("workflow execution already completed"), true, 200, "late"},
		{"unavailable", unavailable, false, 503, "unavailable"},
		{"namespace not found", serviceerror.NewNamespaceNotFound("nope"), false, 503, "unavailable"},
		{"deadline", serviceerror.NewDeadlineExceeded("slow"), false, 503, "unavailable"},
		{"context deadline", context.DeadlineExceeded, false, 503, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeClient{sigErr: tc.err}
			s := NewTemporalSignaler(fc, nil)
			err := s.Signal(context.Background(), "welcome-42/render", "rid", heygen.Event{Type: heygen.EventAvatarVideoSuccess})
			assert.Equal(t, tc.late, errors.Is(err, ErrWorkflowNotFound))
			if tc.err != nil && !tc.late {
				assert.Equal(t, tc.err, err, "returned as is")
			}

			// And through the router.
			r, err := New(Config{Secrets: []string{secretNew}}, s, NewTemporalHealthChecker(fc))
			require.NoError(t, err)
			rec := do(t, r.Handler(), tcase{body: successBody, header: signed(successBody)})
			assert.Equal(t, tc.wantCode, rec.Code)
			assert.Contains(t, rec.Body.String(), `"status":"`+tc.state+`"`)
		})
	}
}

func TestTemporalHealthChecker(t *testing.T) {
	assert.NoError(t, NewTemporalHealthChecker(&fakeClient{}).CheckHealth(context.Background()))
	down := &fakeClient{healthErr: serviceerror.NewUnavailable("down")}
	assert.Error(t, NewTemporalHealthChecker(down).CheckHealth(context.Background()))

	r, err := New(Config{Secrets: []string{secretNew}}, &fakeSignaler{}, NewTemporalHealthChecker(down))
	require.NoError(t, err)
	rec := do(t, r.Handler(), tcase{method: http.MethodGet, path: "/readyz"})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
}

func TestTemporalJobFinder(t *testing.T) {
	tests := []struct {
		name    string
		jobID   string
		listed  []string
		listErr error
		want    string
		wantErr bool
		queried bool
	}{
		{name: "the job", jobID: "v_123", listed: []string{"welcome-42/render"}, want: "welcome-42/render", queried: true},
		{name: "a pipeline carries its render's ID too", jobID: "v_123", listed: []string{"welcome-42", "welcome-42/render"}, want: "welcome-42/render", queried: true},
		{name: "only a pipeline", jobID: "v_123", listed: []string{"welcome-42"}, queried: true},
		{name: "none (or visibility lags)", jobID: "v_123", queried: true},
		{name: "visibility down", jobID: "v_123", listErr: serviceerror.NewUnavailable("down"), wantErr: true, queried: true},
		{name: "a quote cannot reach the query", jobID: "v' OR WorkflowId != '", listed: []string{"welcome-42/render"}},
		{name: "a space neither", jobID: "v 1", listed: []string{"welcome-42/render"}},
		{name: "empty", jobID: "", listed: []string{"welcome-42/render"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeClient{listIDs: tc.listed, listErr: tc.listErr}
			got, err := NewTemporalJobFinder(fc).FindJob(context.Background(), tc.jobID)
			assert.Equal(t, tc.wantErr, err != nil, err)
			assert.Equal(t, tc.want, got)
			require.Equal(t, tc.queried, len(fc.listReqs) == 1)
			if tc.queried {
				assert.Equal(t, "HeyGenJobID = '"+tc.jobID+"' AND ExecutionStatus = 'Running'", fc.listReqs[0].GetQuery())
			}
		})
	}
}

// frontend is a Temporal frontend that records the signals it gets, so that a real SDK
// client, with its data converter and interceptors, can be watched from the far end.
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu   sync.Mutex
	reqs []*workflowservice.SignalWorkflowExecutionRequest
}

func (f *frontend) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{}, nil
}

func (f *frontend) SignalWorkflowExecution(_ context.Context, req *workflowservice.SignalWorkflowExecutionRequest) (*workflowservice.SignalWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return &workflowservice.SignalWorkflowExecutionResponse{}, nil
}

func (f *frontend) received() []*workflowservice.SignalWorkflowExecutionRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*workflowservice.SignalWorkflowExecutionRequest(nil), f.reqs...)
}

func startFrontend(t *testing.T) (*frontend, string) {
	t.Helper()
	f := &frontend{}
	srv := grpc.NewServer()
	workflowservice.RegisterWorkflowServiceServer(srv, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return f, ln.Addr().String()
}

// markCodec wraps every payload in one of encoding "test/marked", as an encrypting codec
// would: a signal that skipped the data converter would reach the server unmarked.
type markCodec struct{}

const markedEncoding = "test/marked"

func (markCodec) Encode(in []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(in))
	for i, p := range in {
		b, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(markedEncoding)}, Data: b}
	}
	return out, nil
}

func (markCodec) Decode(in []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(in))
	for i, p := range in {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != markedEncoding {
			return nil, errors.New("not marked")
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(p.GetData(), out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// signalWatcher is a client interceptor that records the signals sent through it.
type signalWatcher struct {
	interceptor.ClientInterceptorBase
	mu   sync.Mutex
	seen []string
}

func (w *signalWatcher) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &signalWatcherOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, w: w}
}

type signalWatcherOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	w *signalWatcher
}

func (o *signalWatcherOutbound) SignalWorkflow(ctx context.Context, in *interceptor.ClientSignalWorkflowInput) error {
	o.w.mu.Lock()
	o.w.seen = append(o.w.seen, in.WorkflowID+" "+in.SignalName)
	o.w.mu.Unlock()
	return o.Next.SignalWorkflow(ctx, in)
}

// TestTemporalSignalerUsesClientPipeline sends a signal through a real SDK client built
// with a payload codec and a client interceptor, and reads what reached the frontend:
// the codec encoded the event, the interceptor saw the call, and the request ID is the
// event's dedupe key, set by RequestIDDialOption.
func TestTemporalSignalerUsesClientPipeline(t *testing.T) {
	ev, err := heygen.ParseEvent(successBody)
	require.NoError(t, err)
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), markCodec{})

	for _, withDialOption := range []bool{true, false} {
		name := map[bool]string{true: "with the dial option", false: "without it"}[withDialOption]
		t.Run(name, func(t *testing.T) {
			fe, addr := startFrontend(t)
			watcher := &signalWatcher{}
			opts := client.Options{HostPort: addr, Namespace: "reelflow-ns", DataConverter: dc,
				Interceptors: []interceptor.ClientInterceptor{watcher}}
			if withDialOption {
				opts.ConnectionOptions.DialOptions = []grpc.DialOption{RequestIDDialOption()}
			}
			c, err := client.NewLazyClient(opts)
			require.NoError(t, err)
			t.Cleanup(c.Close)
			core, logs := observer.New(zap.WarnLevel)
			s := NewTemporalSignaler(c, zap.New(core))

			for range 2 { // the warning comes once
				require.NoError(t, s.Signal(context.Background(), ev.CallbackID, ev.DedupeKey(), ev))
			}
			reqs := fe.received()
			require.Len(t, reqs, 2)
			req := reqs[0]
			assert.Equal(t, "reelflow-ns", req.GetNamespace())
			assert.Equal(t, "welcome-42/render", req.GetWorkflowExecution().GetWorkflowId())
			assert.Empty(t, req.GetWorkflowExecution().GetRunId(), "the current run, whichever it is")
			assert.Equal(t, workflows.SignalEvent, req.GetSignalName())
			require.Len(t, req.GetInput().GetPayloads(), 1)
			assert.Equal(t, markedEncoding, string(req.GetInput().GetPayloads()[0].GetMetadata()[converter.MetadataEncoding]),
				"the client's codec encoded the event")
			var got heygen.Event
			require.NoError(t, dc.FromPayloads(req.GetInput(), &got))
			assert.Equal(t, ev, got)
			assert.Equal(t, []string{"welcome-42/render heygen.event", "welcome-42/render heygen.event"}, watcher.seen,
				"the client's interceptor saw both signals")

			if withDialOption {
				assert.Equal(t, ev.DedupeKey(), req.GetRequestId())
				assert.Equal(t, ev.DedupeKey(), reqs[1].GetRequestId(), "a repeat carries the same request ID")
				assert.Zero(t, logs.Len())
			} else {
				assert.NotEqual(t, ev.DedupeKey(), req.GetRequestId())
				assert.Equal(t, 1, logs.FilterMessageSnippet("RequestIDDialOption").Len(), "warned once")
			}
		})
	}
}
