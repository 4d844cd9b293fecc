package receiver

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// temporalSignaler signals through client.SignalWorkflow, so that the event goes through
// the client's data converter (a payload codec, say) and its interceptors (tracing).
// That call takes no request ID, so the ID rides in the context to RequestIDInterceptor,
// which sets it on the gRPC request: the request ID is what makes Temporal drop a
// repeated delivery instead of adding it to the history again.
type temporalSignaler struct {
	c    client.Client
	log  *zap.Logger
	warn sync.Once
}

// NewTemporalSignaler returns a Signaler that sends the workflows.SignalEvent signal
// through c.SignalWorkflow. A NotFound answer (the workflow is closed or absent) is
// returned as ErrWorkflowNotFound; every other error is returned as is.
//
// c should be dialled with RequestIDDialOption. Without it a repeated delivery is added
// to the history again (the Job still ignores it), and the signaler warns once on log
// (nil logs nothing).
func NewTemporalSignaler(c client.Client, log *zap.Logger) Signaler {
	if log == nil {
		log = zap.NewNop()
	}
	return &temporalSignaler{c: c, log: log}
}

// Signal implements Signaler.
func (s *temporalSignaler) Signal(ctx context.Context, workflowID, requestID string, ev heygen.Event) error {
	carrier := &requestIDCarrier{id: requestID}
	ctx = context.WithValue(ctx, requestIDKey{}, carrier)
	err := s.c.SignalWorkflow(ctx, workflowID, "", workflows.SignalEvent, ev)
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return fmt.Errorf("signal %s: %w", workflowID, ErrWorkflowNotFound)
	}
	if err == nil && requestID != "" && !carrier.applied.Load() {
		s.warn.Do(func() {
			s.log.Warn("the Temporal client was dialled without receiver.RequestIDDialOption: " +
				"repeated deliveries are not deduplicated by Temporal, only by the Job")
		})
	}
	return err
}

// requestIDKey is the context key of a signal's request ID.
type requestIDKey struct{}

// requestIDCarrier carries a request ID to the interceptor, which reports that it used it.
type requestIDCarrier struct {
	id      string
	applied atomic.Bool
}

// RequestIDInterceptor is a gRPC client interceptor that sets the request ID of a signal
// sent by a Signaler from NewTemporalSignaler, which client.SignalWorkflow cannot take.
// Every other call passes through untouched.
func RequestIDInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if r, ok := req.(*workflowservice.SignalWorkflowExecutionRequest); ok {
			if c, ok := ctx.Value(requestIDKey{}).(*requestIDCarrier); ok && c.id != "" {
				r.RequestId = c.id
				c.applied.Store(true)
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// RequestIDDialOption installs RequestIDInterceptor; add it to the client's
// client.Options.ConnectionOptions.DialOptions.
func RequestIDDialOption() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(RequestIDInterceptor())
}

// temporalFinder looks Jobs up through Temporal's visibility.
type temporalFinder struct{ c client.Client }

// NewTemporalJobFinder returns a JobFinder that lists the running workflows whose
// HeyGenJobID search attribute is the job ID, in c's namespace, and returns the first
// one that is a Job (see workflows.ParseJobWorkflowID): a Pipeline carries its render's
// HeyGenJobID too. Visibility lags a little behind the Job's upsert, so a miss is not
// proof that no Job waits.
func NewTemporalJobFinder(c client.Client) JobFinder { return temporalFinder{c} }

// jobIDPattern bounds what is put in a visibility query: HeyGen's IDs are hex or UUIDs,
// and anything with a quote or a space would change the query's meaning.
var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// FindJob implements JobFinder.
func (f temporalFinder) FindJob(ctx context.Context, heygenJobID string) (string, error) {
	if !jobIDPattern.MatchString(heygenJobID) {
		return "", nil
	}
	resp, err := f.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: 10,
		Query: fmt.Sprintf("%s = '%s' AND ExecutionStatus = 'Running'",
			workflows.SearchAttrHeyGenJobID, heygenJobID),
	})
	if err != nil {
		return "", err
	}
	for _, ex := range resp.GetExecutions() {
		id := ex.GetExecution().GetWorkflowId()
		if _, _, ok := workflows.ParseJobWorkflowID(id); ok {
			return id, nil
		}
	}
	return "", nil
}

// temporalHealth adapts client.Client's health check to HealthChecker.
type temporalHealth struct{ c client.Client }

// NewTemporalHealthChecker returns a HealthChecker that asks c's frontend for its health.
func NewTemporalHealthChecker(c client.Client) HealthChecker { return temporalHealth{c} }

// CheckHealth implements HealthChecker.
func (h temporalHealth) CheckHealth(ctx context.Context) error {
	_, err := h.c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}
