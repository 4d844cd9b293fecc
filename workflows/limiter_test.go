package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// grantLog records the Limiter's grant signals; fail makes the grant to a workflow ID
// fail, as it does when that Job's run has ended.
type grantLog struct {
	mu     sync.Mutex
	grants []string
	fail   map[string]bool
}

func (g *grantLog) signal(_, workflowID, _, _ string, _ any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.grants = append(g.grants, workflowID)
	if g.fail[workflowID] {
		return errors.New("workflow execution already completed")
	}
	return nil
}

func (g *grantLog) list() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.grants...)
}

func newLimiterEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *grantLog) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Limiter)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: LimiterWorkflowID})
	g := &grantLog{fail: map[string]bool{}}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalPermitGrant, mock.Anything).Return(g.signal)
	return env, g
}

func permit(id string, limit int) activities.PermitRequest {
	return activities.PermitRequest{WorkflowID: id, RunID: "run-" + id, Limit: limit}
}

func limiterStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) LimiterStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st LimiterStatus
	require.NoError(t, v.Get(&st))
	return st
}

// TestLimiterGrantsInOrderWithinTheLimit: two permits, four Jobs. The first two are
// granted at once, the others wait in arrival order and get a permit as one is given
// back; a repeated request is not queued twice; a queued Job that gives up leaves the
// queue; an undeliverable grant frees its permit. Idle, the Limiter ends.
func TestLimiterGrantsInOrderWithinTheLimit(t *testing.T) {
	env, g := newLimiterEnv(t)
	at := func(d time.Duration, f func()) { env.RegisterDelayedCallback(f, d) }
	at(time.Second, func() {
		for _, id := range []string{"j1", "j2", "j3", "j4", "j5"} {
			env.SignalWorkflow(SignalPermitAcquire, permit(id, 2))
		}
		env.SignalWorkflow(SignalPermitAcquire, permit("j3", 2)) // an activity retry
	})
	at(time.Minute, func() {
		st := limiterStatus(t, env)
		assert.Equal(t, 2, st.Limit)
		assert.Equal(t, []string{"j1", "j2"}, st.Holders)
		assert.Equal(t, []string{"j3", "j4", "j5"}, st.Queue)
		assert.Equal(t, []string{"j1", "j2"}, g.list())
		env.SignalWorkflow(SignalPermitRelease, permit("j4", 0)) // j4 gives up waiting
		env.SignalWorkflow(SignalPermitRelease, permit("j1", 0)) // j1 ends
	})
	at(2*time.Minute, func() {
		st := limiterStatus(t, env)
		assert.Equal(t, []string{"j2", "j3"}, st.Holders)
		assert.Equal(t, []string{"j5"}, st.Queue)
		g.mu.Lock()
		g.fail["j5"] = true // j5 will be gone by the time its grant goes out
		g.mu.Unlock()
		env.SignalWorkflow(SignalPermitRelease, permit("j2", 0))
	})
	at(3*time.Minute, func() {
		st := limiterStatus(t, env)
		assert.Equal(t, []string{"j3"}, st.Holders, "j5's grant failed, so its permit is free again")
		assert.Empty(t, st.Queue)
		env.SignalWorkflow(SignalPermitRelease, permit("j3", 0))
	})
	env.ExecuteWorkflow(Limiter, LimiterState{})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "an idle limiter ends")
	assert.Equal(t, []string{"j1", "j2", "j3", "j5"}, g.list())
}

// TestLimiterLapsedPermit: a Job terminated while holding a permit never gives it back;
// the permit lapses at its lease and the next Job gets it.
func TestLimiterLapsedPermit(t *testing.T) {
	env, g := newLimiterEnv(t)
	start := env.Now()
	env.RegisterDelayedCallback(func() {
		r := permit("gone", 1)
		r.Until = start.Add(15 * time.Minute)
		env.SignalWorkflow(SignalPermitAcquire, r)
		env.SignalWorkflow(SignalPermitAcquire, permit("next", 1))
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		assert.Equal(t, []string{"gone"}, limiterStatus(t, env).Holders)
	}, 14*time.Minute)
	env.RegisterDelayedCallback(func() {
		assert.Equal(t, []string{"next"}, limiterStatus(t, env).Holders, "reclaimed at the sweep after the lease")
		env.SignalWorkflow(SignalPermitRelease, permit("next", 0))
	}, 21*time.Minute)
	env.ExecuteWorkflow(Limiter, LimiterState{})
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"gone", "next"}, g.list())
}

// TestLimiterContinuesAsNew: after SignalsPerRun (limiterSignalsPerRun in production) signals the Limiter continues as
// new, carrying its holders and queue.
func TestLimiterContinuesAsNew(t *testing.T) {
	env, _ := newLimiterEnv(t)
	env.RegisterDelayedCallback(func() {
		for i := range 50 + 5 {
			env.SignalWorkflow(SignalPermitAcquire, permit(fmt.Sprintf("j%04d", i), 3))
		}
	}, time.Second)
	env.ExecuteWorkflow(Limiter, LimiterState{SignalsPerRun: 50})
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "want continue-as-new, got %v", err)
	var st LimiterState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &st))
	assert.Equal(t, 3, st.Limit)
	require.Len(t, st.Holders, 3)
	assert.Equal(t, "j0000", st.Holders[0].WorkflowID)
	assert.Len(t, st.Queue, 50+5-3, "every signal, the ones read while draining too")
	assert.Equal(t, "j0003", st.Queue[0].WorkflowID)
}

// limitedJob sets up a Job with a concurrency limit: AcquirePermit is mocked, and the
// grant arrives grantAfter later (never when 0). It returns the release log.
func limitedJob(t *testing.T, env *testsuite.TestWorkflowEnvironment, grantAfter time.Duration) *[]activities.PermitRequest {
	t.Helper()
	var mu sync.Mutex
	var released []activities.PermitRequest
	env.OnActivity(a.AcquirePermit, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.AcquirePermitInput) (activities.AcquirePermitResult, error) {
			assert.Equal(t, LimiterWorkflowID, in.LimiterID)
			assert.Equal(t, limiterWorkflowType, in.WorkflowType)
			assert.Equal(t, SignalPermitAcquire, in.Signal)
			assert.Equal(t, 2, in.Request.Limit)
			if grantAfter > 0 {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPermitGrant, PermitGrant{Limit: 2}) }, grantAfter)
			}
			return activities.AcquirePermitResult{LimiterRunID: "lr"}, nil
		})
	env.OnSignalExternalWorkflow(mock.Anything, LimiterWorkflowID, "", SignalPermitRelease, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			mu.Lock()
			defer mu.Unlock()
			released = append(released, arg.(activities.PermitRequest))
			return nil
		})
	return &released
}

func TestJobWaitsForPermit(t *testing.T) {
	env := newEnv(t)
	released := limitedJob(t, env, 5*time.Minute)
	var createdAt time.Time
	start := env.Now()
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CreateJobInput) (activities.CreateJobResult, error) {
			createdAt = env.Now()
			return activities.CreateJobResult{HeyGenJobID: testJobID}, nil
		})
	env.RegisterDelayedCallback(func() {
		assert.Equal(t, StateQueued, queryJob(t, env).State)
	}, time.Minute)
	signalAt(env, 7*time.Minute, success(testJobID, testVideoURL))
	in := jobInput(Timeouts{})
	in.ConcurrencyLimit = 2
	env.ExecuteWorkflow(Job, in)

	res := jobResult(t, env)
	assert.Equal(t, StateDone, res.State)
	assert.Equal(t, 5*time.Minute, createdAt.Sub(start).Round(time.Second), "created only once granted")
	require.Len(t, *released, 1, "the permit is given back at the end")
	assert.Equal(t, JobWorkflowID(testPipelineID, StepRender), (*released)[0].WorkflowID)
}

func TestJobPermitReleasedOnEveryEnd(t *testing.T) {
	tests := []struct {
		name       string
		grantAfter time.Duration
		setup      func(env *testsuite.TestWorkflowEnvironment)
		check      func(t *testing.T, env *testsuite.TestWorkflowEnvironment)
	}{
		{
			name: "deadline while queued", grantAfter: 0,
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				appErr := appError(t, env.GetWorkflowError())
				assert.Equal(t, ErrTypeJobDeadlineExceeded, appErr.Type())
				assert.Contains(t, appErr.Message(), "waited 1h0m0s for one of 2 concurrency permits")
			},
		},
		{
			name: "cancelled while queued", grantAfter: 0,
			setup: func(env *testsuite.TestWorkflowEnvironment) {
				env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
			},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				assert.True(t, temporal.IsCanceledError(env.GetWorkflowError()))
			},
		},
		{
			name: "create refused", grantAfter: time.Second,
			setup: func(env *testsuite.TestWorkflowEnvironment) {
				env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(activities.CreateJobResult{},
					temporal.NewNonRetryableApplicationError("bad body", heygen.KindPermanent.String(), nil))
			},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				assert.Equal(t, heygen.KindPermanent.String(), appError(t, env.GetWorkflowError()).Type())
			},
		},
		{
			name: "render failed", grantAfter: time.Second,
			setup: func(env *testsuite.TestWorkflowEnvironment) {
				env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(activities.CreateJobResult{HeyGenJobID: testJobID}, nil)
				signalAt(env, time.Minute, failure(testJobID, "no"))
			},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				assert.Equal(t, ErrTypeHeyGenJobFailed, appError(t, env.GetWorkflowError()).Type())
			},
		},
		{
			name: "stuck render: the deadline", grantAfter: time.Second,
			setup: func(env *testsuite.TestWorkflowEnvironment) {
				mockActivities(env, time.Second)
			},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment) {
				appErr := appError(t, env.GetWorkflowError())
				assert.Equal(t, ErrTypeJobDeadlineExceeded, appErr.Type())
				assert.Contains(t, appErr.Message(), "heygen job "+testJobID+" still processing after 1h0m0s")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			released := limitedJob(t, env, tt.grantAfter)
			if tt.setup != nil {
				tt.setup(env)
			}
			in := jobInput(Timeouts{Deadline: time.Hour, PushWindow: time.Minute, PollInitial: time.Minute, PollMax: 5 * time.Minute})
			in.ConcurrencyLimit = 2
			env.ExecuteWorkflow(Job, in)
			require.True(t, env.IsWorkflowCompleted())
			tt.check(t, env)
			assert.Len(t, *released, 1, "the permit, or the place in the queue, is given back once")
		})
	}
}

// TestJobWithoutLimitAsksNothing: no limit, no Limiter: the Job's history is the one it
// wrote before the limiter existed (no marker, no activity, no signal).
func TestJobWithoutLimitAsksNothing(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, time.Second)
	env.OnActivity(a.AcquirePermit, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.AcquirePermitInput) (activities.AcquirePermitResult, error) {
			t.Error("AcquirePermit called without a limit")
			return activities.AcquirePermitResult{}, nil
		})
	signalAt(env, time.Minute, success(testJobID, testVideoURL))
	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))
	assert.Equal(t, StateDone, jobResult(t, env).State)
}
