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
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// eventsPerPoll is what one poll turn writes on a real server: the activity (scheduled,
// started, completed), the backoff timer (started, fired) and two workflow tasks (three
// events each).
const eventsPerPoll = 11

// TestJobLongPollingContinuesAsNew runs a 24 h Job polling every 5 s (issue 11.4) on the
// test environment's virtual clock, one run after another as the server would: every
// run ends in continue-as-new until the render completes at 23 h 50 m. It checks that the
// Job completes, creates once, keeps its deadline start and identity, polls on the same
// schedule across runs, and that no run's history passes JobHistoryBound.
func TestJobLongPollingContinuesAsNew(t *testing.T) {
	if testing.Short() {
		t.Skip("17,000 polls")
	}
	const doneAfter = 23*time.Hour + 50*time.Minute
	var (
		mu      sync.Mutex
		creates int
		first   time.Time
	)
	in := jobInput(Timeouts{PushWindow: time.Minute, PollInitial: time.Second, PollMax: 5 * time.Second, Deadline: 24 * time.Hour})
	var res JobResult
	var runs, totalPolls int
	var now time.Time
	for ; ; runs++ {
		require.Less(t, runs, 100, "the Job never ends")
		env := newEnv(t)
		if !now.IsZero() {
			env.SetStartTime(now)
		} else {
			first = env.Now()
		}
		polls := 0
		env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
			func(context.Context, activities.CreateJobInput) (activities.CreateJobResult, error) {
				mu.Lock()
				defer mu.Unlock()
				creates++
				return activities.CreateJobResult{HeyGenJobID: testJobID, Status: heygen.StatusPending}, nil
			})
		env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(
			func(context.Context, activities.PollJobInput) (activities.PollJobResult, error) {
				polls++
				if env.Now().Sub(first) >= doneAfter {
					return completed().res, nil
				}
				return processing().res, nil
			})
		env.ExecuteWorkflow(Job, in)
		require.True(t, env.IsWorkflowCompleted())
		assert.LessOrEqual(t, jobRunBaseEvents+polls*eventsPerPoll, JobHistoryBound, "run %d: %d polls", runs, polls)
		totalPolls += polls
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) {
			require.NoError(t, err)
			require.NoError(t, env.GetWorkflowResult(&res))
			break
		}
		var next JobInput
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
		require.NotNil(t, next.Resume)
		assert.Equal(t, runs, next.Resume.Run)
		assert.Equal(t, "default-test-run-id", next.RunIdentity, "the first run's identity is carried")
		assert.True(t, first.Equal(next.Resume.Status.StartedAt), "the deadline counts from the first run")
		in, now = next, env.Now()
	}
	assert.Equal(t, 1, creates, "a continued run never creates")
	assert.GreaterOrEqual(t, runs, 15, "about 17,000 polls need many runs")
	assert.Equal(t, FinishedByPoll, res.FinishedBy)
	assert.Equal(t, totalPolls, res.Polls, "polls are counted across runs")
	assert.True(t, first.Equal(res.StartedAt))
	assert.InDelta(t, doneAfter.Seconds(), res.FinishedAt.Sub(first).Seconds(), 10)
	t.Logf("%d runs, %d polls", runs+1, totalPolls)
}

// TestJobResumeHandlesPendingSignals: a continued run handles the signals its
// predecessor had buffered before anything else, and never creates.
func TestJobResumeHandlesPendingSignals(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(activities.CreateJobResult{}, errors.New("must not create"))
	polls := mockActivities(env, 0)
	in := jobInput(Timeouts{})
	in.RunIdentity = "first-run"
	in.Resume = &JobResume{
		Status:   JobStatus{Step: StepRender, CallbackID: JobWorkflowID(testPipelineID, StepRender), HeyGenJobID: testJobID, State: StatePolling, StartedAt: start.Add(-time.Hour), Polls: 40},
		Polling:  true,
		WakeAt:   start.Add(time.Minute),
		Interval: time.Minute,
		Pending:  []heygen.Event{{Type: "avatar_video_gif.success", JobID: testJobID}, success(testJobID, testVideoURL)},
		Run:      3,
	}
	env.ExecuteWorkflow(Job, in)
	res := jobResult(t, env)
	assert.Equal(t, FinishedByWebhook, res.FinishedBy)
	assert.Equal(t, 2, res.Events)
	assert.Equal(t, 40, res.Polls, "the webhook had every detail: no poll")
	assert.True(t, start.Add(-time.Hour).Equal(res.StartedAt))
	assert.Empty(t, polls.offsets(start))
	assert.True(t, start.Equal(res.FinishedAt), "answered at once")
}

// TestJobResumeKeepsSchedule: a continued run polls when its predecessor's backoff timer
// would have fired, and its deadline counts from the first run's start.
func TestJobResumeKeepsSchedule(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	polls := mockActivities(env, 0)
	in := jobInput(Timeouts{Deadline: 2 * time.Hour})
	in.Resume = &JobResume{
		Status:  JobStatus{Step: StepRender, CallbackID: JobWorkflowID(testPipelineID, StepRender), HeyGenJobID: testJobID, State: StatePolling, StartedAt: start.Add(-time.Hour)},
		Polling: true, WakeAt: start.Add(20 * time.Second), Interval: 5 * time.Minute,
	}
	env.ExecuteWorkflow(Job, in)
	require.Error(t, env.GetWorkflowError())
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &appErr)
	assert.Equal(t, ErrTypeStillRendering, appErr.Type())
	offs := polls.offsets(start)
	require.NotEmpty(t, offs)
	assert.Equal(t, 20*time.Second, offs[0])
	assert.Equal(t, time.Hour, env.Now().Sub(start), "the deadline counts from the first run")
}

// TestJobFailsAfterPermanentPollErrors: K (maxPermanentPollErrors) consecutive permanent
// poll errors, such as HeyGen's 404 for a deleted video, fail the Job with HeyGen's
// message; a poll that answers in between starts the count again.
func TestJobFailsAfterPermanentPollErrors(t *testing.T) {
	gone := pollAnswer{err: temporal.NewNonRetryableApplicationError("get video v_1: 404 not_found: video not found",
		heygen.KindPermanent.String(), nil)}
	tests := []struct {
		name      string
		answers   []pollAnswer
		wantPolls int
	}{
		{name: "three in a row", answers: []pollAnswer{gone}, wantPolls: maxPermanentPollErrors},
		{name: "an answer in between", answers: []pollAnswer{gone, gone, processing(), gone, gone, gone}, wantPolls: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			mockActivities(env, 0, tt.answers...)
			env.ExecuteWorkflow(Job, jobInput(Timeouts{}))
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, env.GetWorkflowError(), &appErr)
			assert.Equal(t, ErrTypeHeyGenJobFailed, appErr.Type())
			assert.Contains(t, appErr.Message(), "video not found")
			q := queryJob(t, env)
			assert.Equal(t, tt.wantPolls, q.Polls)
			assert.Equal(t, StateFailed, q.State)
		})
	}
}

// TestJobResumeReleasesCarriedSlot: a continued run gives back the slot its first run
// was granted, to that scheduler and under the run identity, once, at its end.
func TestJobResumeReleasesCarriedSlot(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	mockActivities(env, 0)
	var released []activities.SlotRequest
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, schedulerID, _, signal string, arg any) error {
			if schedulerID == SchedulerWorkflowIDFor("acct") && signal == SignalSlotRelease {
				released = append(released, arg.(activities.SlotRequest))
			}
			return nil
		})
	in := jobInput(Timeouts{})
	in.RunIdentity = "first-run"
	in.Resume = &JobResume{
		Status:   JobStatus{Step: StepRender, CallbackID: JobWorkflowID(testPipelineID, StepRender), HeyGenJobID: testJobID, State: StatePolling, StartedAt: start},
		Polling:  true,
		WakeAt:   start.Add(time.Minute),
		Interval: time.Minute,
		Slot:     SchedulerWorkflowIDFor("acct"),
		Pending:  []heygen.Event{success(testJobID, testVideoURL)},
	}
	env.ExecuteWorkflow(Job, in)
	jobResult(t, env)
	require.Len(t, released, 1)
	assert.Equal(t, "first-run", released[0].RunID)
	assert.Equal(t, JobWorkflowID(testPipelineID, StepRender), released[0].WorkflowID)
}
