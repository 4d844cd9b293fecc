package receiver

import (
	"context"
	"errors"
	"fmt"
	"os"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// temporalSignaler signals through the workflow service rather than client.SignalWorkflow,
// because only the service call takes a request ID, and the request ID is what makes
// Temporal drop a repeated delivery instead of adding it to the history again.
type temporalSignaler struct {
	svc       workflowservice.WorkflowServiceClient
	namespace string
	dc        converter.DataConverter
	identity  string
}

// NewTemporalSignaler returns a Signaler that sends the workflows.SignalEvent signal
// through c's workflow service in namespace ("default" when empty), with the event
// encoded by the default data converter, as the workflow decodes it. A NotFound answer
// (the workflow is closed or absent) is returned as ErrWorkflowNotFound; every other
// error is returned as is.
func NewTemporalSignaler(c client.Client, namespace string) Signaler {
	if namespace == "" {
		namespace = client.DefaultNamespace
	}
	host, _ := os.Hostname()
	return &temporalSignaler{
		svc:       c.WorkflowService(),
		namespace: namespace,
		dc:        converter.GetDefaultDataConverter(),
		identity:  fmt.Sprintf("%d@%s@reelflow-receiver", os.Getpid(), host),
	}
}

// Signal implements Signaler.
func (s *temporalSignaler) Signal(ctx context.Context, workflowID, requestID string, ev heygen.Event) error {
	input, err := s.dc.ToPayloads(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err = s.svc.SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{
		Namespace:         s.namespace,
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflowID},
		SignalName:        workflows.SignalEvent,
		Input:             input,
		Identity:          s.identity,
		RequestId:         requestID,
	})
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return fmt.Errorf("signal %s: %w", workflowID, ErrWorkflowNotFound)
	}
	return err
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
