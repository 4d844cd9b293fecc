package receiver

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// fakeService is the one workflow service call the signaler makes.
type fakeService struct {
	workflowservice.WorkflowServiceClient
	mu   sync.Mutex
	reqs []*workflowservice.SignalWorkflowExecutionRequest
	err  error
}

func (f *fakeService) SignalWorkflowExecution(_ context.Context, in *workflowservice.SignalWorkflowExecutionRequest, _ ...grpc.CallOption) (*workflowservice.SignalWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, in)
	if f.err != nil {
		return nil, f.err
	}
	return &workflowservice.SignalWorkflowExecutionResponse{}, nil
}

type fakeClient struct {
	client.Client
	svc       *fakeService
	healthErr error
}

func (f fakeClient) WorkflowService() workflowservice.WorkflowServiceClient { return f.svc }

func (f fakeClient) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, f.healthErr
}

func TestTemporalSignalerRequest(t *testing.T) {
	svc := &fakeService{}
	s := NewTemporalSignaler(fakeClient{svc: svc}, "reelflow-ns")
	ev, err := heygen.ParseEvent(successBody)
	require.NoError(t, err)

	require.NoError(t, s.Signal(context.Background(), ev.CallbackID, ev.DedupeKey(), ev))
	require.Len(t, svc.reqs, 1)
	req := svc.reqs[0]
	assert.Equal(t, "reelflow-ns", req.GetNamespace())
	assert.Equal(t, "welcome-42/render", req.GetWorkflowExecution().GetWorkflowId())
	assert.Empty(t, req.GetWorkflowExecution().GetRunId(), "the current run, whichever it is")
	assert.Equal(t, workflows.SignalEvent, req.GetSignalName())
	assert.Equal(t, ev.DedupeKey(), req.GetRequestId())
	assert.NotEmpty(t, req.GetIdentity())

	var got heygen.Event
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(req.GetInput(), &got))
	assert.Equal(t, ev, got)

	s = NewTemporalSignaler(fakeClient{svc: svc}, "")
	require.NoError(t, s.Signal(context.Background(), ev.CallbackID, ev.DedupeKey(), ev))
	assert.Equal(t, client.DefaultNamespace, svc.reqs[1].GetNamespace())
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
			svc := &fakeService{err: tc.err}
			fc := fakeClient{svc: svc}
			s := NewTemporalSignaler(fc, "default")
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
	assert.NoError(t, NewTemporalHealthChecker(fakeClient{}).CheckHealth(context.Background()))
	down := fakeClient{healthErr: serviceerror.NewUnavailable("down")}
	assert.Error(t, NewTemporalHealthChecker(down).CheckHealth(context.Background()))

	r, err := New(Config{Secrets: []string{secretNew}}, &fakeSignaler{}, NewTemporalHealthChecker(down))
	require.NoError(t, err)
	rec := do(t, r.Handler(), tcase{method: http.MethodGet, path: "/readyz"})
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
}
