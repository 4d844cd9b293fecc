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
	runs   []string
	fail   map[string]bool
}

func (g *grantLog) signal(_, workflowID, runID, _ string, _ any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.grants = append(g.grants, workflowID)
	g.runs = append(g.runs, workflowID+"/"+runID)
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

// grantTargets lists the runs the grants went to, as "workflow ID/run ID".
func (g *grantLog) targets() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.runs...)
}

// holderLog answers the Limiter's holder checks: the workflow IDs in gone no longer run.
type holderLog struct {
	mu     sync.Mutex
	gone   map[string]bool
	checks int
}

func (h *holderLog) check(_ context.Context, in activities.CheckHoldersInput) (activities.CheckHoldersResult, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks++
	var res activities.CheckHoldersResult
	for _, r := range in.Holders {
		if h.gone[r.WorkflowID] {
			res.Gone = append(res.Gone, r)
		}
	}
	return res, nil
}

func (h *holderLog) setGone(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gone[id] = true
}

func newLimiterEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *grantLog) {
	env, g, _ := newLimiterEnvWithHolders(t)
	return env, g
}

func newLimiterEnvWithHolders(t *testing.T) (*testsuite.TestWorkflowEnvironment, *grantLog, *holderLog) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Limiter)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: LimiterWorkflowIDFor(2)})
	g := &grantLog{fail: map[string]bool{}}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalPermitGrant, mock.Anything).Return(g.signal)
	h := &holderLog{gone: map[string]bool{}}
	env.OnActivity(a.CheckHolders, mock.Anything, mock.Anything).Return(h.check).Maybe()
	return env, g, h
}

// callbacks registers delayed checks and, at the end, requires that each one ran: a
// check in a callback that never fires would pass silently.
type callbacks struct {
	env       *testsuite.TestWorkflowEnvironment
	mu        sync.Mutex
	want, ran int
}

func (c *callbacks) at(d time.Duration, f func()) {
	c.want++
	c.env.RegisterDelayedCallback(func() {
		c.mu.Lock()
		c.ran++
		c.mu.Unlock()
		f()
	}, d)
}

func (c *callbacks) requireAllRan(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Equal(t, c.want, c.ran, "every delayed check ran")
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
	cb := &callbacks{env: env}
	at := cb.at
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
		// j1's and j2's grants go out in one workflow task; the test environment
		// delivers those two signals on goroutines of its own, so the order they are
		// recorded in is not the Limiter's. Arrival order shows in Holders above.
		assert.ElementsMatch(t, []string{"j1", "j2"}, g.list())
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
	grants := g.list()
	require.Len(t, grants, 4)
	assert.ElementsMatch(t, []string{"j1", "j2"}, grants[:2], "the first two, granted together")
	assert.Equal(t, []string{"j3", "j5"}, grants[2:], "then one at a time, in arrival order")
	cb.requireAllRan(t)
}

// TestLimiterLapsedPermit: a Job terminated while holding a permit never gives it back;
// the permit lapses at its lease and the next Job gets it.
func TestLimiterLapsedPermit(t *testing.T) {
	env, g := newLimiterEnv(t)
	cb := &callbacks{env: env}
	cb.at(time.Second, func() {
		r := permit("gone", 1)
		r.Lease = 15 * time.Minute
		env.SignalWorkflow(SignalPermitAcquire, r)
		env.SignalWorkflow(SignalPermitAcquire, permit("next", 1))
	})
	cb.at(14*time.Minute, func() {
		// The holder check cannot tell (it says "gone" runs): only the lease frees it.
		assert.Equal(t, []string{"gone"}, limiterStatus(t, env).Holders)
	})
	cb.at(21*time.Minute, func() {
		assert.Equal(t, []string{"next"}, limiterStatus(t, env).Holders, "reclaimed at the sweep after the lease")
		env.SignalWorkflow(SignalPermitRelease, permit("next", 0))
	})
	env.ExecuteWorkflow(Limiter, LimiterState{})
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"gone", "next"}, g.list())
	cb.requireAllRan(t)
}

// TestLimiterFreesAGoneHolder: the holder of the only permit is terminated; the holder
// check notices within limiterCheckEvery, and the next Job gets the permit.
func TestLimiterFreesAGoneHolder(t *testing.T) {
	env, g, h := newLimiterEnvWithHolders(t)
	cb := &callbacks{env: env}
	cb.at(time.Second, func() {
		env.SignalWorkflow(SignalPermitAcquire, permit("held", 1))
		env.SignalWorkflow(SignalPermitAcquire, permit("next", 1))
	})
	cb.at(time.Minute, func() {
		assert.Equal(t, []string{"held"}, limiterStatus(t, env).Holders, "a live holder keeps its permit")
		h.setGone("held") // terminated from the UI
	})
	cb.at(time.Minute+limiterCheckEvery+time.Second, func() {
		st := limiterStatus(t, env)
		assert.Equal(t, []string{"next"}, st.Holders, "freed within limiterCheckEvery")
		assert.Empty(t, st.Queue)
		env.SignalWorkflow(SignalPermitRelease, permit("next", 0))
	})
	env.ExecuteWorkflow(Limiter, LimiterState{})
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"held", "next"}, g.list())
	cb.requireAllRan(t)
}

// TestLimiterOneLimit: a Limiter keeps the limit it started with; a holder that asks
// again gets its grant again, at the run that asks, and keeps its place; a new run of
// the same workflow ID (a rerun) replaces the old one's entry.
func TestLimiterOneLimit(t *testing.T) {
	env, g := newLimiterEnv(t)
	cb := &callbacks{env: env}
	cb.at(time.Second, func() {
		env.SignalWorkflow(SignalPermitAcquire, permit("j1", 1))
		env.SignalWorkflow(SignalPermitAcquire, permit("j2", 5))
	})
	cb.at(time.Minute, func() {
		st := limiterStatus(t, env)
		assert.Equal(t, 1, st.Limit, "the first limit stays")
		assert.Equal(t, []string{"j1"}, st.Holders)
		reset := permit("j1", 1)
		reset.ExecRunID = "run-j1-reset" // a Reset keeps the identity, not the run
		env.SignalWorkflow(SignalPermitAcquire, reset)
	})
	cb.at(2*time.Minute, func() {
		st := limiterStatus(t, env)
		assert.Equal(t, []string{"j1"}, st.Holders, "asking again keeps the permit")
		assert.Equal(t, []string{"j2"}, st.Queue)
		rerun := permit("j1", 1)
		rerun.RunID = "run-j1-rerun"
		env.SignalWorkflow(SignalPermitAcquire, rerun)
	})
	cb.at(3*time.Minute, func() {
		st := limiterStatus(t, env)
		assert.Equal(t, []string{"j2"}, st.Holders, "the old run's permit went with it")
		assert.Equal(t, []string{"j1"}, st.Queue)
		env.SignalWorkflow(SignalPermitRelease, permit("j2", 0))
	})
	cb.at(4*time.Minute, func() {
		rerun := permit("j1", 0)
		rerun.RunID = "run-j1-rerun"
		env.SignalWorkflow(SignalPermitRelease, rerun)
	})
	env.ExecuteWorkflow(Limiter, LimiterState{})
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, []string{"j1/run-j1", "j1/run-j1-reset", "j2/run-j2", "j1/run-j1-rerun"}, g.targets())
	cb.requireAllRan(t)
}

// TestLimiterBeforeHolderChecks replays a Limiter started before changeLimiterHolders:
// the latest limit wins, as it did, and no holder is checked.
func TestLimiterBeforeHolderChecks(t *testing.T) {
	env, _, h := newLimiterEnvWithHolders(t)
	env.OnGetVersion(changeLimiterHolders, workflow.DefaultVersion, versionHolders).Return(workflow.DefaultVersion)
	cb := &callbacks{env: env}
	cb.at(time.Second, func() {
		env.SignalWorkflow(SignalPermitAcquire, permit("j1", 1))
		env.SignalWorkflow(SignalPermitAcquire, permit("j2", 3))
	})
	cb.at(time.Minute, func() {
		assert.Equal(t, 3, limiterStatus(t, env).Limit)
		env.SignalWorkflow(SignalPermitRelease, permit("j1", 0))
		env.SignalWorkflow(SignalPermitRelease, permit("j2", 0))
	})
	env.ExecuteWorkflow(Limiter, LimiterState{})
	require.NoError(t, env.GetWorkflowError())
	assert.Zero(t, h.checks)
	cb.requireAllRan(t)
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
			assert.Equal(t, LimiterWorkflowIDFor(2), in.LimiterID)
			assert.NotEmpty(t, in.Request.ExecRunID)
			assert.Equal(t, in.Request.Lease > 0, in.Request.Until.IsZero(), "a lease, from the grant")
			assert.Equal(t, limiterWorkflowType, in.WorkflowType)
			assert.Equal(t, SignalPermitAcquire, in.Signal)
			assert.Equal(t, 2, in.Request.Limit)
			if grantAfter > 0 {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPermitGrant, PermitGrant{Limit: 2}) }, grantAfter)
			}
			return activities.AcquirePermitResult{LimiterRunID: "lr"}, nil
		})
	env.OnSignalExternalWorkflow(mock.Anything, LimiterWorkflowIDFor(2), "", SignalPermitRelease, mock.Anything).Return(
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
	cb := &callbacks{env: env}
	cb.at(time.Minute, func() {
		assert.Equal(t, StateQueued, queryJob(t, env).State)
	})
	defer cb.requireAllRan(t)
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
				assert.Equal(t, ErrTypeStillRendering, appErr.Type())
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

// TestJobDeadlineCountsFromTheGrant: a Job queued for 50 minutes of its 1 h deadline
// still gets the whole hour for its render.
func TestJobDeadlineCountsFromTheGrant(t *testing.T) {
	env := newEnv(t)
	limitedJob(t, env, 50*time.Minute)
	mockActivities(env, time.Second) // the render never finishes
	start := env.Now()
	in := jobInput(Timeouts{Deadline: time.Hour, PushWindow: time.Minute, PollInitial: time.Minute, PollMax: 5 * time.Minute})
	in.ConcurrencyLimit = 2
	env.ExecuteWorkflow(Job, in)

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeStillRendering, appErr.Type())
	assert.Contains(t, appErr.Message(), "still processing after 1h0m0s")
	assert.Equal(t, 110*time.Minute, env.Now().Sub(start).Round(time.Minute), "50 minutes queued, then the whole hour")
}

// TestJobPermitBeforeLease replays a Job started before changeJobPermitLease: the one
// shared Limiter, and the deadline from the Job's start.
func TestJobPermitBeforeLease(t *testing.T) {
	env := newEnv(t)
	env.OnGetVersion(changeJobPermitLease, workflow.DefaultVersion, versionPermitLease).Return(workflow.DefaultVersion)
	env.OnActivity(a.AcquirePermit, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.AcquirePermitInput) (activities.AcquirePermitResult, error) {
			assert.Equal(t, LimiterWorkflowID, in.LimiterID)
			assert.Empty(t, in.Request.ExecRunID)
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPermitGrant, PermitGrant{Limit: 2}) }, 50*time.Minute)
			return activities.AcquirePermitResult{}, nil
		})
	env.OnSignalExternalWorkflow(mock.Anything, LimiterWorkflowID, "", SignalPermitRelease, mock.Anything).Return(nil)
	mockActivities(env, time.Second)
	start := env.Now()
	in := jobInput(Timeouts{Deadline: time.Hour, PushWindow: time.Minute, PollInitial: time.Minute, PollMax: 5 * time.Minute})
	in.ConcurrencyLimit = 2
	env.ExecuteWorkflow(Job, in)

	assert.Equal(t, ErrTypeStillRendering, appError(t, env.GetWorkflowError()).Type())
	assert.Equal(t, time.Hour, env.Now().Sub(start).Round(time.Minute))
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
