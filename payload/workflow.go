package payload

import (
	"context"
	"errors"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// blockInWorkflows wraps a data converter so that, inside workflow code, a payload that
// cannot be decrypted (a key that is not configured, or bytes that do not authenticate)
// panics instead of returning an error. The SDK turns a workflow's panic into a failed
// workflow task, which Temporal retries until a worker with the key takes it: the run
// waits and loses nothing. Returned as an error, the same fault would fail the whole
// workflow (the SDK fails a run whose input does not decode). Outside workflows
// (clients, activities) errors stay errors.
type blockInWorkflows struct{ converter.DataConverter }

// WithWorkflowContext implements converter.ContextAware.
func (b blockInWorkflows) WithWorkflowContext(converter.WorkflowContext) converter.DataConverter {
	return panicOnKeyError(b)
}

// WithContext implements converter.ContextAware.
func (b blockInWorkflows) WithContext(context.Context) converter.DataConverter { return b }

type panicOnKeyError struct{ converter.DataConverter }

func (p panicOnKeyError) FromPayload(pl *commonpb.Payload, v any) error {
	return blockOn(p.DataConverter.FromPayload(pl, v))
}

func (p panicOnKeyError) FromPayloads(pls *commonpb.Payloads, vs ...any) error {
	return blockOn(p.DataConverter.FromPayloads(pls, vs...))
}

func blockOn(err error) error {
	var missing *MissingKeyError
	if errors.As(err, &missing) || errors.Is(err, ErrCorrupt) {
		panic(err)
	}
	return err
}
