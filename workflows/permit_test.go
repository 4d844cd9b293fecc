package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// The Job's side of the account's slots (permit.go), in the SDK's test environment:
// the worker's CreateJob, AcquireSlot and the scheduler are mocked at the Job's edges
// (its activities and the signals it sends), so that what the Job asks, creates and
// gives back is seen exactly.

// testScheduler is the account scheduler the mocked worker names.
var testScheduler = SchedulerWorkflowIDFor("acct")

// permitLog is a worker whose account is scheduled, as the Job sees it: CreateJob
// answers SlotRequired until the create holds testScheduler's slot, then refuses it for
// credit refuse times before it succeeds; AcquireSlot and the release signals are
// recorded.
type permitLog struct {
	env    *testsuite.TestWorkflowEnvironment
	mu     sync.Mutex
	refuse int
	// creates are every CreateJob call; asks every AcquireSlot request; releases every
	// release signal (to whom, with what).
	creates  []activities.CreateJobInput
	asks     []timedReq
	releases []releaseSignal
}

type timedReq struct {
	at  time.Time
	req activities.SlotRequest
}

type releaseSignal struct {
	at        time.Time
	scheduler string
	req       activities.SlotRequest
}

func newPermitEnv(t *testing.T, refuse int) (*testsuite.TestWorkflowEnvironment, *permitLog) {
	t.Helper()
	env := newEnv(t)
	p := &permitLog{env: env, refuse: refuse}
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(p.create)
	env.OnActivity(a.AcquireSlot, mock.Anything, mock.Anything).Return(p.acquire)
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalSlotRelease, mock.Anything).Return(p.release)
	return env, p
}

func (p *permitLog) create(_ context.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.creates = append(p.creates, in)
	switch {
	case in.Slot != testScheduler:
		return activities.CreateJobResult{SlotRequired: &activities.SlotRequired{SchedulerID: testScheduler, Limit: 1}}, nil
	case p.refuse > 0:
		p.refuse--
		// As activities.createError makes it: HeyGen's words in the innermost error.
		return activities.CreateJobResult{}, temporal.NewNonRetryableApplicationError("create video",
			activities.ErrTypeInsufficientCredit, errors.New("POST /v3/videos: 402 insufficient_credit: 3 credits left, 10 needed"))
	}
	return activities.CreateJobResult{HeyGenJobID: testJobID, Status: heygen.StatusPending}, nil
}

func (p *permitLog) acquire(_ context.Context, in activities.AcquireSlotInput) (activities.AcquireSlotResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in.WorkflowType != WorkflowTypeScheduler || in.Signal != SignalSlotAcquire || in.TaskQueue != TaskQueue {
		return activities.AcquireSlotResult{}, temporal.NewNonRetryableApplicationError("unexpected input", "Test", nil)
	}
	p.asks = append(p.asks, timedReq{at: p.env.Now(), req: in.Request})
	return activities.AcquireSlotResult{SchedulerID: testScheduler, Limit: 1}, nil
}

func (p *permitLog) release(_, workflowID, _, _ string, arg any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	req, ok := arg.(activities.SlotRequest)
	if !ok {
		return errors.New("release: unexpected argument")
	}
	p.releases = append(p.releases, releaseSignal{at: p.env.Now(), scheduler: workflowID, req: req})
	return nil
}

func (p *permitLog) snapshot() (creates []activities.CreateJobInput, asks []timedReq, releases []releaseSignal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(creates, p.creates...), append(asks, p.asks...), append(releases, p.releases...)
}

// slotted are the creates that held the slot: the ones that reached HeyGen.
func slotted(creates []activities.CreateJobInput) []activities.CreateJobInput {
	var out []activities.CreateJobInput
	for _, c := range creates {
		if c.Slot != "" {
			out = append(out, c)
		}
	}
	return out
}

// grantAt signals the scheduler's grant to the Job after d of virtual time.
func grantAt(env *testsuite.TestWorkflowEnvironment, d time.Duration) {
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalSlotGrant, SlotGrant{Scheduler: testScheduler, Limit: 1})
	}, d)
}

// queryAt records the Job's status after d of virtual time; the returned func reads it
// and fails the test when the query never ran.
func queryAt(t *testing.T, env *testsuite.TestWorkflowEnvironment, d time.Duration) func() JobStatus {
	var mu sync.Mutex
	var st *JobStatus
	env.RegisterDelayedCallback(func() {
		q := queryJob(t, env)
		mu.Lock()
		st = &q
		mu.Unlock()
	}, d)
	return func() JobStatus {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		require.NotNil(t, st, "the status query at %s ran", d)
		return *st
	}
}

// requireReleasedOnce: exactly one release signal, to the scheduler, under the Job's
// run identity (the one it asked with).
func requireReleasedOnce(t *testing.T, p *permitLog) releaseSignal {
	t.Helper()
	_, asks, releases := p.snapshot()
	require.Len(t, releases, 1, "the slot, or the place in the queue, is given back exactly once: %+v", releases)
	require.NotEmpty(t, asks)
	r := releases[0]
	assert.Equal(t, testScheduler, r.scheduler)
	assert.Equal(t, JobWorkflowID(testPipelineID, StepRender), r.req.WorkflowID)
	assert.Equal(t, asks[0].req.RunID, r.req.RunID, "released under the run identity it asked with")
	assert.NotEmpty(t, r.req.RunID)
	return r
}

// TestPermitWaitsForTheGrant: on a scheduled account the Job's first create sends
// nothing (SlotRequired); the Job asks the scheduler for a slot with its schedule and
// waits, "waiting for a slot", creating nothing until the grant. Granted at 10 minutes,
// it creates with the slot and the same Idempotency-Key, its deadline counts from the
// grant, and it gives the slot back once.
func TestPermitWaitsForTheGrant(t *testing.T) {
	env, p := newPermitEnv(t, 0)
	env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(processing().res, nil).Maybe()
	queued := queryAt(t, env, 9*time.Minute)
	var createsBefore int
	env.RegisterDelayedCallback(func() {
		c, _, _ := p.snapshot()
		createsBefore = len(c)
	}, 9*time.Minute)
	grantAt(env, 10*time.Minute)
	signalAt(env, 13*time.Minute, success(testJobID, testVideoURL))
	in := jobInput(Timeouts{Deadline: time.Hour})
	in.Schedule = Schedule{Priority: 2, Campaign: "spring", FairnessWeight: 2, Budget: 40}
	start := env.Now()

	env.ExecuteWorkflow(Job, in)

	res := jobResult(t, env)
	assert.Equal(t, StateDone, res.State)
	assert.Equal(t, StateQueued, queued().State, "waiting for a slot")
	assert.Equal(t, 1, createsBefore, "only the create that sent nothing before the grant")
	creates, asks, _ := p.snapshot()
	require.Len(t, creates, 2)
	assert.Empty(t, creates[0].Slot)
	assert.Equal(t, testScheduler, creates[1].Slot, "the create holds the granted slot")
	assert.Equal(t, creates[0].IdempotencyKey, creates[1].IdempotencyKey)
	require.Len(t, asks, 2, "the ask, and one re-ask at permitRefresh before the grant")
	assert.Equal(t, []time.Duration{0, permitRefresh}, []time.Duration{asks[0].at.Sub(start), asks[1].at.Sub(start)})
	assert.Equal(t, asks[0].req, asks[1].req, "a re-ask asks the same")
	req := asks[0].req
	assert.Equal(t, JobWorkflowID(testPipelineID, StepRender), req.WorkflowID)
	assert.NotEmpty(t, req.RunID)
	assert.NotEmpty(t, req.ExecRunID)
	assert.Equal(t, 2, req.Priority)
	assert.Equal(t, "spring", req.FairnessKey, "a campaign's rows share its key")
	assert.Equal(t, 2.0, req.FairnessWeight)
	assert.Equal(t, "spring", req.Campaign)
	assert.Equal(t, 40, req.Budget)
	assert.Equal(t, time.Hour+permitLeaseMargin, req.Lease)
	assert.False(t, req.Refused)
	rel := requireReleasedOnce(t, p)
	assert.Equal(t, 13*time.Minute, rel.at.Sub(start), "given back when the outcome is known")
	assert.Equal(t, 13*time.Minute, res.FinishedAt.Sub(start))
}

// TestPermitGivesTheSlotBackOnce: however a granted Job ends (done, failed, past its
// deadline, cancelled), it gives its slot back exactly once. The deadline counts from
// the grant: the time queued is not the render's.
func TestPermitGivesTheSlotBackOnce(t *testing.T) {
	const grant = 10 * time.Minute
	tests := []struct {
		name  string
		end   time.Duration // when the outcome is known, from the start
		setup func(env *testsuite.TestWorkflowEnvironment)
		check func(t *testing.T, env *testsuite.TestWorkflowEnvironment, start time.Time)
	}{
		{
			name: "done",
			end:  grant + time.Minute,
			setup: func(env *testsuite.TestWorkflowEnvironment) {
				signalAt(env, grant+time.Minute, success(testJobID, testVideoURL))
			},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment, _ time.Time) {
				assert.Equal(t, StateDone, jobResult(t, env).State)
			},
		},
		{
			name: "failed",
			end:  grant + time.Minute,
			setup: func(env *testsuite.TestWorkflowEnvironment) {
				signalAt(env, grant+time.Minute, failure(testJobID, "avatar exploded"))
			},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment, _ time.Time) {
				assert.Equal(t, ErrTypeHeyGenJobFailed, appError(t, env.GetWorkflowError()).Type())
			},
		},
		{
			name:  "deadline",
			end:   grant + time.Hour,
			setup: func(*testsuite.TestWorkflowEnvironment) {},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment, start time.Time) {
				appErr := appError(t, env.GetWorkflowError())
				assert.Equal(t, ErrTypeStillRendering, appErr.Type())
				assert.Equal(t, grant+time.Hour, failedStatus(t, appErr).FinishedAt.Sub(start), "the deadline counts from the grant")
			},
		},
		{
			name: "cancelled",
			end:  grant + time.Minute,
			setup: func(env *testsuite.TestWorkflowEnvironment) {
				env.RegisterDelayedCallback(env.CancelWorkflow, grant+time.Minute)
			},
			check: func(t *testing.T, env *testsuite.TestWorkflowEnvironment, _ time.Time) {
				assert.True(t, temporal.IsCanceledError(env.GetWorkflowError()), "got %v", env.GetWorkflowError())
				assert.Equal(t, StateCancelled, queryJob(t, env).State)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, p := newPermitEnv(t, 0)
			env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(processing().res, nil).Maybe()
			grantAt(env, grant)
			tt.setup(env)
			start := env.Now()

			env.ExecuteWorkflow(Job, jobInput(Timeouts{Deadline: time.Hour}))

			require.True(t, env.IsWorkflowCompleted())
			tt.check(t, env, start)
			creates, _, _ := p.snapshot()
			assert.Len(t, slotted(creates), 1, "one create with the slot")
			rel := requireReleasedOnce(t, p)
			assert.Equal(t, tt.end, rel.at.Sub(start), "given back when the outcome is known")
		})
	}
}

// TestPermitPausedForCredit: HeyGen refuses the granted create for credit, twice. That
// is no failure: the Job reports each refusal to the scheduler (Refused, with HeyGen's
// words), waits "waiting: account paused", and when granted again creates under a fresh
// Idempotency-Key (":c1", then ":c2"): a refused key would only get HeyGen's stored 402.
// The Job completes, and gives its slot back once.
func TestPermitPausedForCredit(t *testing.T) {
	env, p := newPermitEnv(t, 2)
	grantAt(env, time.Minute)
	paused := queryAt(t, env, 5*time.Minute)
	grantAt(env, 10*time.Minute)
	pausedAgain := queryAt(t, env, 15*time.Minute)
	grantAt(env, 20*time.Minute)
	signalAt(env, 22*time.Minute, success(testJobID, testVideoURL))
	start := env.Now()

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Deadline: time.Hour}))

	res := jobResult(t, env)
	assert.Equal(t, StateDone, res.State, "a create refused for credit fails nothing")
	assert.Equal(t, StatePaused, paused().State)
	assert.Equal(t, StatePaused, pausedAgain().State)
	creates, asks, _ := p.snapshot()
	held := slotted(creates)
	require.Len(t, held, 3, "two refused creates and the one that made the job")
	key := creates[0].IdempotencyKey
	require.NotEmpty(t, key)
	assert.Equal(t, []string{key, key + ":c1", key + ":c2"},
		[]string{held[0].IdempotencyKey, held[1].IdempotencyKey, held[2].IdempotencyKey}, "a fresh key after each refusal")
	// Asks: at the start, each refusal's report (at the grants, 1 and 10 minutes), and
	// re-asks while paused (permitRefresh after each report), which only ask.
	var reports []time.Duration
	for _, ask := range asks {
		assert.Equal(t, asks[0].req.RunID, ask.req.RunID)
		if ask.req.Refused {
			reports = append(reports, ask.at.Sub(start))
			assert.Equal(t, "POST /v3/videos: 402 insufficient_credit: 3 credits left, 10 needed", ask.req.Message, "HeyGen's words")
		}
	}
	assert.False(t, asks[0].req.Refused)
	assert.Equal(t, []time.Duration{time.Minute, 10 * time.Minute}, reports, "each refusal reported once")
	requireReleasedOnce(t, p)
}

// TestPermitDeadlineWhileQueued: never granted, the Job asks again (5 minutes, then
// doubling) and fails at its deadline with ErrTypeSlotWaitExpired, having created
// nothing; it takes itself off the queue.
func TestPermitDeadlineWhileQueued(t *testing.T) {
	env, p := newPermitEnv(t, 0)
	start := env.Now()

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Deadline: time.Hour}))

	require.True(t, env.IsWorkflowCompleted())
	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeSlotWaitExpired, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	st := failedStatus(t, appErr)
	assert.Equal(t, StateFailed, st.State)
	assert.Empty(t, st.HeyGenJobID)
	assert.Equal(t, time.Hour, st.FinishedAt.Sub(start))
	creates, asks, _ := p.snapshot()
	assert.Len(t, creates, 1, "only the create that sent nothing")
	assert.Empty(t, slotted(creates))
	var at []time.Duration
	for _, ask := range asks {
		at = append(at, ask.at.Sub(start))
		assert.False(t, ask.req.Refused)
	}
	assert.Equal(t, []time.Duration{0, 5 * time.Minute, 15 * time.Minute, 35 * time.Minute}, at,
		"asks again after permitRefresh, doubling")
	rel := requireReleasedOnce(t, p)
	assert.Equal(t, time.Hour, rel.at.Sub(start), "withdrawn at the deadline")
}

// TestPermitCancelledWhileWaiting: a Job cancelled while it waits for a slot, or while
// the account is paused for credit, takes itself off the queue (once) and creates
// nothing more.
func TestPermitCancelledWhileWaiting(t *testing.T) {
	for _, tt := range []struct {
		name   string
		refuse int
		grants []time.Duration
		want   JobState
	}{
		{name: "queued", want: StateQueued},
		{name: "paused", refuse: 1, grants: []time.Duration{time.Minute}, want: StatePaused},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env, p := newPermitEnv(t, tt.refuse)
			for _, g := range tt.grants {
				grantAt(env, g)
			}
			before := queryAt(t, env, 9*time.Minute)
			env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
			start := env.Now()

			env.ExecuteWorkflow(Job, jobInput(Timeouts{Deadline: time.Hour}))

			require.True(t, env.IsWorkflowCompleted())
			assert.True(t, temporal.IsCanceledError(env.GetWorkflowError()), "got %v", env.GetWorkflowError())
			assert.Equal(t, tt.want, before().State)
			assert.Equal(t, StateCancelled, queryJob(t, env).State)
			creates, _, _ := p.snapshot()
			assert.Len(t, slotted(creates), tt.refuse, "no create after the cancel")
			rel := requireReleasedOnce(t, p)
			assert.Equal(t, 10*time.Minute, rel.at.Sub(start))
		})
	}
}

// TestPermitUnscheduledAccount: on a worker whose account is not scheduled the create
// goes ahead at once: no ask, no release.
func TestPermitUnscheduledAccount(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, 0)
	var asked, released int
	env.OnActivity(a.AcquireSlot, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.AcquireSlotInput) (activities.AcquireSlotResult, error) {
			asked++
			return activities.AcquireSlotResult{}, nil
		}).Maybe()
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalSlotRelease, mock.Anything).Return(
		func(_, _, _, _ string, _ any) error { released++; return nil }).Maybe()
	signalAt(env, time.Minute, success(testJobID, testVideoURL))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	assert.Equal(t, StateDone, jobResult(t, env).State)
	assert.Zero(t, asked)
	assert.Zero(t, released)
}
