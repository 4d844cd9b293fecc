package receiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// Outcomes of routing one event, as Route returns them and as the receiver answers them
// in its "status" field.
const (
	OutcomeSignalled    = "signalled"      // Temporal has the event
	OutcomeLate         = "late"           // the workflow is closed or gone
	OutcomeIgnored      = "ignored"        // an event type reelflow does not act on
	OutcomeNoCallbackID = "no_callback_id" // no callback_id, and no open Job has its job ID
	OutcomeNotOurs      = "not_ours"       // a callback_id outside reelflow's ID scheme
)

// JobFinder finds the open Job workflow whose HeyGenJobID search attribute is a HeyGen
// video or translation ID, for events that carry no callback_id (a v3 video has none).
// It returns "" and no error when there is none, which includes the moments when
// visibility lags behind the Job's upsert.
type JobFinder interface {
	FindJob(ctx context.Context, heygenJobID string) (workflowID string, err error)
}

// Routed is what became of one event.
type Routed struct {
	// Outcome is one of the Outcome constants.
	Outcome string
	// WorkflowID is the Job signalled (or found closed), "" when none was.
	WorkflowID string
	// FoundBy is "callback_id", or "visibility" when the Job was looked up by job ID.
	FoundBy string
}

// Router sends parsed events to their Job workflows. It is the routing half of the
// receiver, shared with `reelflow webhook replay`, so that a replayed event takes
// exactly the path of a delivery and is deduplicated as any retry is.
type Router struct {
	sig     Signaler
	finder  JobFinder
	timeout time.Duration
}

// NewRouter returns a Router that signals through sig. finder may be nil, and then an
// event without a callback_id is not looked up. Each Route call is bounded by timeout
// (DefaultSignalTimeout when not positive).
func NewRouter(sig Signaler, finder JobFinder, timeout time.Duration) (*Router, error) {
	if sig == nil {
		return nil, errors.New("receiver: nil Signaler")
	}
	if timeout <= 0 {
		timeout = DefaultSignalTimeout
	}
	return &Router{sig: sig, finder: finder, timeout: timeout}, nil
}

// Route sends ev to its Job: the workflow named by its callback_id or, without one, the
// open Job whose HeyGenJobID is ev.JobID. It returns an error only when Temporal did not
// answer (the caller should try again later: a webhook is answered 503); every other
// fate is an Outcome. The signal's request ID is ev.DedupeKey, so a repeat is dropped.
func (rt *Router) Route(ctx context.Context, ev heygen.Event) (Routed, error) {
	if !ev.Known() {
		return Routed{Outcome: OutcomeIgnored}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, rt.timeout)
	defer cancel()
	res := Routed{WorkflowID: ev.CallbackID, FoundBy: "callback_id"}
	if res.WorkflowID == "" {
		id, err := rt.find(ctx, ev.JobID)
		if err != nil {
			return Routed{}, withDeadline(ctx, err)
		}
		if id == "" {
			return Routed{Outcome: OutcomeNoCallbackID}, nil
		}
		res.WorkflowID, res.FoundBy = id, "visibility"
	}
	if _, _, ok := workflows.ParseJobWorkflowID(res.WorkflowID); !ok {
		// Never signal an ID reelflow did not make: a signed event could otherwise name
		// a system workflow or another application's.
		return Routed{Outcome: OutcomeNotOurs, FoundBy: res.FoundBy}, nil
	}
	err := rt.sig.Signal(ctx, res.WorkflowID, ev.DedupeKey(), ev)
	switch {
	case err == nil:
		res.Outcome = OutcomeSignalled
	case errors.Is(err, ErrWorkflowNotFound):
		res.Outcome = OutcomeLate
	default:
		// The signal may or may not have been recorded; a retry carries the same request
		// ID, so Temporal records it at most once either way.
		return Routed{}, withDeadline(ctx, err)
	}
	return res, nil
}

// find looks the Job of a HeyGen job ID up, when there is a finder and an ID.
func (rt *Router) find(ctx context.Context, jobID string) (string, error) {
	if rt.finder == nil || jobID == "" {
		return "", nil
	}
	id, err := rt.finder.FindJob(ctx, jobID)
	if err != nil {
		return "", fmt.Errorf("find job %s: %w", jobID, err)
	}
	return id, nil
}

// withDeadline marks err as context.DeadlineExceeded when ctx's deadline passed, since
// a gRPC call reports its own deadline as a service error that does not say so.
func withDeadline(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
}
