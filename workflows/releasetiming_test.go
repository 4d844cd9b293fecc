package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// When a Job gives its slot back: HeyGen's concurrency is free once the render is over,
// so the release goes out as the Job learns the outcome, not after the details fetch
// or at the Job's end. These tests hold the fetch for a minute of virtual time and see
// the release sent before it returns, once. (The release mock runs on a goroutine of
// its own, whose reading of the test clock is not reliable; the order is: the clock
// cannot move on to the fetch's answer while the release's mock is outstanding.)

const releaseScheduler = "reelflow-account-test"

// releaseLog records the release signals a Job sends to releaseScheduler.
type releaseLog struct {
	mu sync.Mutex
	n  int
	// beforeFetch is how many releases had been sent when the details fetch answered.
	beforeFetch int
}

func (r *releaseLog) signal(_, workflowID, _, signal string, _ any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if workflowID == releaseScheduler && signal == SignalSlotRelease {
		r.n++
	}
	return nil
}

func (r *releaseLog) sent() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *releaseLog) fetched() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beforeFetch = r.n
}

// scheduledJobEnv is a Job on a scheduled account: its create answers SlotRequired
// until it holds releaseScheduler's slot, which is granted 1 s after it asks. A status read
// with Details (the fetch after a success webhook) answers after fetchDelay.
func scheduledJobEnv(t *testing.T, fetchDelay time.Duration, answers ...pollAnswer) (*testsuite.TestWorkflowEnvironment, *releaseLog, *pollLog) {
	env := newEnv(t)
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
			if in.Slot != releaseScheduler {
				return activities.CreateJobResult{SlotRequired: &activities.SlotRequired{SchedulerID: releaseScheduler, Limit: 1}}, nil
			}
			return activities.CreateJobResult{HeyGenJobID: testJobID, Status: heygen.StatusPending}, nil
		})
	env.OnActivity(a.AcquireSlot, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.AcquireSlotInput) (activities.AcquireSlotResult, error) {
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflow(SignalSlotGrant, SlotGrant{Scheduler: releaseScheduler, Limit: 1})
			}, time.Second)
			return activities.AcquireSlotResult{SchedulerID: releaseScheduler, Limit: 1}, nil
		})
	polls := &pollLog{env: env, answers: answers}
	rel := &releaseLog{}
	env.OnActivity(a.PollJob, mock.Anything, mock.MatchedBy(func(in activities.PollJobInput) bool { return in.Details })).
		After(fetchDelay).Return(func(ctx context.Context, in activities.PollJobInput) (activities.PollJobResult, error) {
		rel.fetched()
		return polls.poll(ctx, in)
	})
	env.OnActivity(a.PollJob, mock.Anything, mock.MatchedBy(func(in activities.PollJobInput) bool { return !in.Details })).
		Return(polls.poll)
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(rel.signal)
	return env, rel, polls
}

func TestJobReleasesItsSlotAtTheOutcome(t *testing.T) {
	tests := []struct {
		name    string
		ev      heygen.Event
		wantErr bool
	}{
		// A success webhook without its duration: the Job fetches the details, for a
		// minute here, and the slot is back before the fetch starts to wait.
		{name: "success", ev: heygen.Event{Type: heygen.EventAvatarVideoSuccess, CallbackID: JobWorkflowID(testPipelineID, StepRender),
			JobID: testJobID, URL: testVideoURL}},
		{name: "failure", ev: failure(testJobID, "avatar unavailable"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, rel, polls := scheduledJobEnv(t, time.Minute, completed())
			start := env.Now()
			signalAt(env, 10*time.Second, tt.ev)

			env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

			require.True(t, env.IsWorkflowCompleted())
			assert.Equal(t, 1, rel.sent(), "the slot is given back once")
			if tt.wantErr {
				require.Error(t, env.GetWorkflowError())
				assert.Empty(t, polls.offsets(start), "a failure needs no details")
				return
			}
			res := jobResult(t, env)
			assert.Equal(t, StateDone, res.State)
			assert.Equal(t, 42.0, res.Duration, "the fetch still completes the details")
			assert.Len(t, polls.offsets(start), 1, "one details fetch")
			assert.Equal(t, 1, rel.beforeFetch, "the slot was given back before the details fetch answered")
			assert.Equal(t, 70*time.Second, res.FinishedAt.Sub(start), "the Job ends after its fetch")
		})
	}
}

// A Job that ends without an outcome (its deadline) gives the slot back as it ends,
// once.
func TestJobReleasesItsSlotAtItsDeadline(t *testing.T) {
	env, rel, _ := scheduledJobEnv(t, 0, processing())

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Deadline: 10 * time.Minute, PushWindow: time.Hour}))

	require.True(t, env.IsWorkflowCompleted())
	assert.Equal(t, ErrTypeStillRendering, appError(t, env.GetWorkflowError()).Type())
	assert.Equal(t, 1, rel.sent())
}
