package workflows

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

const (
	testPipelineID = "welcome-42"
	testJobID      = "v_1"
	testVideoURL   = "https://cdn.example/v_1.mp4"
)

// a is the nil receiver the tests name activities through, as the workflows do.
var a *activities.Activities

// newEnv returns a test environment with both workflows registered and the Job's
// workflow ID set to a render step's callback_id.
func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	// A fixed start, half a minute from a sweep instant (the sweep polls on the minute),
	// so that what a test sees never depends on the second of the wall clock it ran in.
	env.SetStartTime(testStart)
	env.RegisterWorkflow(Job)
	env.RegisterWorkflow(Pipeline)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: JobWorkflowID(testPipelineID, StepRender)})
	return env
}

// testStart is when the workflow tests' clock starts.
var testStart = time.Date(2026, 12, 5, 12, 0, 30, 0, time.UTC)

// pollLog is a PollJob mock that answers from a script and records when it was called.
type pollLog struct {
	env     *testsuite.TestWorkflowEnvironment
	mu      sync.Mutex
	times   []time.Time
	answers []pollAnswer // the last answer repeats
}

type pollAnswer struct {
	res activities.PollJobResult
	err error
}

func (p *pollLog) poll(_ context.Context, in activities.PollJobInput) (activities.PollJobResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.times = append(p.times, p.env.Now())
	if in.HeyGenJobID != testJobID || in.Kind != string(KindVideo) {
		return activities.PollJobResult{}, temporal.NewNonRetryableApplicationError("unexpected input", "Test", nil)
	}
	i := min(len(p.times)-1, len(p.answers)-1)
	return p.answers[i].res, p.answers[i].err
}

// offsets returns the poll times relative to start.
func (p *pollLog) offsets(start time.Time) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]time.Duration, len(p.times))
	for i, t := range p.times {
		out[i] = t.Sub(start)
	}
	return out
}

func processing() pollAnswer {
	return pollAnswer{res: activities.PollJobResult{Status: heygen.StatusProcessing}}
}

func completed() pollAnswer {
	return pollAnswer{res: activities.PollJobResult{
		Status: heygen.StatusCompleted, VideoURL: testVideoURL, ThumbnailURL: "https://cdn.example/t.jpg", Duration: 42,
	}}
}

// mockActivities mocks CreateJob (answering after createDelay) and PollJob (from answers).
func mockActivities(env *testsuite.TestWorkflowEnvironment, createDelay time.Duration, answers ...pollAnswer) *pollLog {
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).After(createDelay).Return(
		func(_ context.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
			if in.CallbackID != JobWorkflowID(testPipelineID, StepRender) || in.Kind != string(KindVideo) {
				return activities.CreateJobResult{}, temporal.NewNonRetryableApplicationError("unexpected input", "Test", nil)
			}
			return activities.CreateJobResult{HeyGenJobID: testJobID, Status: heygen.StatusPending}, nil
		})
	if len(answers) == 0 {
		answers = []pollAnswer{processing()}
	}
	p := &pollLog{env: env, answers: answers}
	env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(p.poll)
	return p
}

func success(jobID, url string) heygen.Event {
	return heygen.Event{Type: heygen.EventAvatarVideoSuccess, CallbackID: JobWorkflowID(testPipelineID, StepRender),
		JobID: jobID, URL: url, ThumbnailURL: "https://cdn.example/t.jpg", Duration: 42}
}

func failure(jobID, msg string) heygen.Event {
	return heygen.Event{Type: heygen.EventAvatarVideoFail, CallbackID: JobWorkflowID(testPipelineID, StepRender),
		JobID: jobID, Message: msg}
}

// signalAt sends events to the workflow under test, at once, after d of virtual time.
func signalAt(env *testsuite.TestWorkflowEnvironment, d time.Duration, evs ...heygen.Event) {
	env.RegisterDelayedCallback(func() {
		for _, ev := range evs {
			env.SignalWorkflow(SignalEvent, ev)
		}
	}, d)
}

// jobInput is a render's Job input. Without a sweep interval of its own, the sweep is
// off, so that these tests see the per-job backoff alone; sweep_test.go has the sweep.
func jobInput(t Timeouts) JobInput {
	if t.Sweep == 0 {
		t.Sweep = -1
	}
	return JobInput{PipelineID: testPipelineID, Step: StepRender, Kind: KindVideo,
		Body: map[string]any{"type": "avatar", "avatar_id": "a1"}, Timeouts: t}
}

func jobResult(t *testing.T, env *testsuite.TestWorkflowEnvironment) JobResult {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res JobResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res
}

func queryJob(t *testing.T, env *testsuite.TestWorkflowEnvironment) JobStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st JobStatus
	require.NoError(t, v.Get(&st))
	return st
}

func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an ApplicationError in %v", err)
	return appErr
}

// failedStatus is the Job's final status, the details of its ApplicationError.
func failedStatus(t *testing.T, appErr *temporal.ApplicationError) JobStatus {
	t.Helper()
	var st JobStatus
	require.True(t, appErr.HasDetails(), "a Job's error carries its final status")
	require.NoError(t, appErr.Details(&st))
	return st
}

func TestJobWebhookBeforePushWindow(t *testing.T) {
	env := newEnv(t)
	polls := mockActivities(env, time.Second)
	start := env.Now()
	signalAt(env, 3*time.Minute, success(testJobID, testVideoURL))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	res := jobResult(t, env)
	assert.Equal(t, StateDone, res.State)
	assert.Equal(t, FinishedByWebhook, res.FinishedBy)
	assert.Equal(t, 0, res.Polls)
	assert.Empty(t, polls.offsets(start))
	assert.Equal(t, 1, res.Events)
	assert.Equal(t, testJobID, res.HeyGenJobID)
	assert.Equal(t, JobWorkflowID(testPipelineID, StepRender), res.CallbackID)
	assert.Equal(t, testVideoURL, res.VideoURL)
	assert.Equal(t, 42.0, res.Duration)
	assert.Equal(t, heygen.StatusCompleted, res.HeyGenStatus)
	assert.Equal(t, 3*time.Minute, res.FinishedAt.Sub(res.StartedAt))
}

func TestJobPollingWhenNoWebhook(t *testing.T) {
	tests := []struct {
		name     string
		timeouts Timeouts
		answers  []pollAnswer
		want     []time.Duration // poll times from the start
	}{
		{
			name:    "defaults: first poll at the push window, then 30s, 1m, 2m apart",
			answers: []pollAnswer{processing(), processing(), processing(), completed()},
			want:    []time.Duration{10 * time.Minute, 10*time.Minute + 30*time.Second, 11*time.Minute + 30*time.Second, 13*time.Minute + 30*time.Second},
		},
		{
			name:     "the interval stops growing at PollMax",
			timeouts: Timeouts{PushWindow: time.Minute, PollInitial: 10 * time.Second, PollMax: 30 * time.Second},
			answers:  []pollAnswer{processing(), processing(), processing(), processing(), processing(), completed()},
			want: []time.Duration{time.Minute, 70 * time.Second, 90 * time.Second, 120 * time.Second,
				150 * time.Second, 180 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			start := env.Now()
			polls := mockActivities(env, 0, tt.answers...)

			env.ExecuteWorkflow(Job, jobInput(tt.timeouts))

			res := jobResult(t, env)
			assert.Equal(t, StateDone, res.State)
			assert.Equal(t, FinishedByPoll, res.FinishedBy)
			assertPollTimes(t, tt.want, polls.offsets(start))
			assert.Equal(t, len(tt.want), res.Polls)
			assert.Equal(t, 0, res.Events)
			assert.Equal(t, testVideoURL, res.VideoURL)
			assert.Equal(t, "https://cdn.example/t.jpg", res.ThumbnailURL)
		})
	}
}

func TestJobWebhookWhilePollingEndsAtOnce(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	polls := mockActivities(env, 0, processing())
	signalAt(env, 12*time.Minute, success(testJobID, testVideoURL))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	res := jobResult(t, env)
	assert.Equal(t, FinishedByWebhook, res.FinishedBy)
	// Polls at 10m, 10m30s and 11m30s (each gap ±15%); the next, at about 13m30s, never happens.
	assertPollTimes(t, []time.Duration{10 * time.Minute, 10*time.Minute + 30*time.Second, 11*time.Minute + 30*time.Second},
		polls.offsets(start))
	assert.Equal(t, 3, res.Polls)
	assert.Equal(t, 12*time.Minute, res.FinishedAt.Sub(start))
	assert.Equal(t, 12*time.Minute, env.Now().Sub(start), "no timer outlives the answer")
}

func TestJobDuplicateAndLateEventsIgnored(t *testing.T) {
	dupes := []heygen.Event{success(testJobID, testVideoURL), success(testJobID, testVideoURL), failure(testJobID, "late")}
	tests := []struct {
		name        string
		createDelay time.Duration
		at          time.Duration  // when events are sent
		events      []heygen.Event // sent together
		late        []heygen.Event // sent 5s later, while a URL fetch runs
		wantEvents  int
		wantPolls   int
		wantBy      string // FinishedByWebhook when empty
	}{
		{
			name:        "success twice, then a failure, all buffered during the create",
			createDelay: 30 * time.Second, at: 0, events: dupes,
			wantEvents: 3,
		},
		{
			// Issue 21: a success without its output link is not believed as it is; a
			// status read of the job decides, and finishes it.
			name:   "success without a URL reads the status; events meanwhile are counted and ignored",
			at:     time.Minute,
			events: []heygen.Event{success(testJobID, "")},
			late:   []heygen.Event{success(testJobID, "")},
			// The status read is the one poll.
			wantEvents: 2, wantPolls: 1, wantBy: FinishedByPoll,
		},
		{
			// The test environment delivers each signal in its own workflow task, so the
			// first one closes the workflow and the rest find it closed: in production
			// the receiver gets NotFound and counts them as late.
			name:       "success twice, then a failure, after the first closed the job",
			at:         time.Minute,
			events:     dupes,
			wantEvents: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).After(tt.createDelay).
				Return(activities.CreateJobResult{HeyGenJobID: testJobID}, nil)
			env.OnActivity(a.PollJob, mock.Anything, mock.Anything).After(10*time.Second).
				Return(completed().res, nil)
			signalAt(env, tt.at, tt.events...)
			signalAt(env, tt.at+5*time.Second, tt.late...)

			env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

			res := jobResult(t, env)
			assert.Equal(t, StateDone, res.State)
			assert.Equal(t, cmp.Or(tt.wantBy, FinishedByWebhook), res.FinishedBy)
			assert.Equal(t, testVideoURL, res.VideoURL)
			assert.Equal(t, heygen.StatusCompleted, res.HeyGenStatus)
			assert.Equal(t, tt.wantEvents, res.Events)
			assert.Equal(t, tt.wantPolls, res.Polls)
			assert.Empty(t, res.FailureMessage)
		})
	}
}

func TestJobFailureEvent(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, 0)
	signalAt(env, 2*time.Minute, failure(testJobID, "avatar exploded"))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	require.True(t, env.IsWorkflowCompleted())
	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeHeyGenJobFailed, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Equal(t, "heygen job v_1 failed: avatar exploded", appErr.Message())
	var st JobStatus
	require.NoError(t, appErr.Details(&st))
	assert.Equal(t, StateFailed, st.State)
	assert.Equal(t, FinishedByWebhook, st.FinishedBy)
	assert.Equal(t, "avatar exploded", st.FailureMessage)

	q := queryJob(t, env)
	assert.Equal(t, StateFailed, q.State, "the query still answers after the end")
	assert.False(t, q.FinishedAt.IsZero())
}

func TestJobFailureByPoll(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, 0, processing(), pollAnswer{res: activities.PollJobResult{
		Status: heygen.StatusFailed, FailureCode: "voice_error", FailureMessage: "voice not found"}})

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeHeyGenJobFailed, appErr.Type())
	st := failedStatus(t, appErr)
	assert.Equal(t, "voice_error", st.FailureCode, "HeyGen's code and message are in the details")
	assert.Contains(t, st.FailureMessage, "voice not found")
	assert.Equal(t, FinishedByPoll, queryJob(t, env).FinishedBy)
}

func TestJobDeadline(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	polls := mockActivities(env, 0, processing())

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Deadline: time.Hour}))

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeStillRendering, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	st := failedStatus(t, appErr)
	assert.Equal(t, testJobID, st.HeyGenJobID)
	assert.Equal(t, heygen.StatusProcessing, st.HeyGenStatus)
	assert.Equal(t, StateFailed, st.State)
	assert.Equal(t, time.Hour, st.FinishedAt.Sub(st.StartedAt))
	assert.Equal(t, time.Hour, env.Now().Sub(start))
	// At 10m, then 30s, 1m, 2m and 4m apart, then every 5m (PollMax) until the hour,
	// each gap ±15%.
	m := time.Minute
	assertPollTimes(t, []time.Duration{10 * m, 10*m + 30*time.Second, 11*m + 30*time.Second, 13*m + 30*time.Second,
		17*m + 30*time.Second, 22*m + 30*time.Second, 27*m + 30*time.Second, 32*m + 30*time.Second,
		37*m + 30*time.Second, 42*m + 30*time.Second, 47*m + 30*time.Second, 52*m + 30*time.Second,
		57*m + 30*time.Second}, polls.offsets(start))
	q := queryJob(t, env)
	assert.Equal(t, StateFailed, q.State)
	assert.Equal(t, 13, q.Polls)
}

func TestJobFailedPollsKeepPolling(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	bad := pollAnswer{err: temporal.NewNonRetryableApplicationError("get video v_1", heygen.KindPermanent.String(), nil)}
	polls := mockActivities(env, 0, bad, bad, completed())

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	res := jobResult(t, env)
	assert.Equal(t, FinishedByPoll, res.FinishedBy)
	assert.Equal(t, 3, res.Polls)
	// Failed polls keep the backoff schedule.
	assertPollTimes(t, []time.Duration{10 * time.Minute, 10*time.Minute + 30*time.Second, 11*time.Minute + 30*time.Second},
		polls.offsets(start))
}

func TestJobIgnoresForeignAndIrrelevantEvents(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, 0)
	signalAt(env, time.Minute,
		success("v_other", "https://cdn.example/other.mp4"),                                                  // another HeyGen job
		heygen.Event{Type: "avatar_video_gif.success", JobID: testJobID, URL: "https://cdn.example/v_1.gif"}, // not the render
		heygen.Event{Type: "personalized_video", JobID: testJobID})                                           // outcome other
	signalAt(env, 2*time.Minute, success(testJobID, testVideoURL))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	res := jobResult(t, env)
	assert.Equal(t, testVideoURL, res.VideoURL)
	assert.Equal(t, 4, res.Events)
	assert.Equal(t, 2*time.Minute, res.FinishedAt.Sub(res.StartedAt))
}

func TestJobSignalBeforeCreateFinishes(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	polls := mockActivities(env, 30*time.Second)
	signalAt(env, 0, success(testJobID, testVideoURL))
	var during JobStatus
	env.RegisterDelayedCallback(func() { during = queryJob(t, env) }, 10*time.Second)

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	assert.Equal(t, StateCreating, during.State)
	assert.Empty(t, during.HeyGenJobID)
	res := jobResult(t, env)
	assert.Equal(t, FinishedByWebhook, res.FinishedBy)
	assert.Equal(t, 1, res.Events)
	assert.Empty(t, polls.offsets(start))
	assert.Equal(t, 30*time.Second, res.FinishedAt.Sub(start), "done as soon as the create returns")
}

func TestJobStatusQueryMidFlight(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, 0)
	var waiting, polling JobStatus
	env.RegisterDelayedCallback(func() { waiting = queryJob(t, env) }, 5*time.Minute)
	env.RegisterDelayedCallback(func() { polling = queryJob(t, env) }, 11*time.Minute)
	signalAt(env, 12*time.Minute, success(testJobID, testVideoURL))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	assert.Equal(t, StateWaiting, waiting.State)
	assert.Equal(t, testJobID, waiting.HeyGenJobID)
	assert.Equal(t, StepRender, waiting.Step)
	assert.Equal(t, heygen.StatusPending, waiting.HeyGenStatus)
	assert.Zero(t, waiting.Polls)
	assert.Equal(t, StatePolling, polling.State)
	assert.Equal(t, 2, polling.Polls) // at 10m and 10m30s
	assert.Equal(t, heygen.StatusProcessing, polling.HeyGenStatus)
	assert.Equal(t, StateDone, jobResult(t, env).State)
}

func TestJobCreateRefused(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(activities.CreateJobResult{},
		temporal.NewNonRetryableApplicationError("create video", heygen.KindPermanent.String(),
			errors.New("POST /v3/videos: 400 invalid_parameter: avatar_id not found")))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, heygen.KindPermanent.String(), appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, appErr.Message(), "avatar_id not found")
	assert.Equal(t, StateFailed, queryJob(t, env).State)
}

func TestJobCancelled(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	mockActivities(env, 0)
	env.RegisterDelayedCallback(env.CancelWorkflow, 11*time.Minute)

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err), "got %v", err)
	q := queryJob(t, env)
	assert.Equal(t, StateCancelled, q.State)
	assert.Equal(t, 11*time.Minute, q.FinishedAt.Sub(start))
}

func TestJobSearchAttributes(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, 0, processing(), completed())
	var stages, jobIDs []string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(stageKey); ok {
			stages = append(stages, v)
		}
		if v, ok := sa.GetKeyword(heygenJobIDKey); ok {
			jobIDs = append(jobIDs, v)
		}
	}).Return(nil)

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	jobResult(t, env)
	assert.Equal(t, []string{"creating", "waiting for webhook", "polling", "done"}, stages)
	assert.Equal(t, []string{testJobID}, jobIDs)
}

func TestJobCreateNeverSucceedsBeforeDeadline(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	var attempts int
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CreateJobInput) (activities.CreateJobResult, error) {
			attempts++
			return activities.CreateJobResult{}, temporal.NewApplicationError("create video", heygen.KindRetryable.String())
		})

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Deadline: 10 * time.Minute}))

	appErr := appError(t, env.GetWorkflowError())
	assert.Equal(t, ErrTypeCreateUnconfirmed, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	st := failedStatus(t, appErr)
	assert.Equal(t, "welcome-42/render", st.CallbackID)
	assert.Empty(t, st.HeyGenJobID)
	assert.Equal(t, StateFailed, st.State)
	var cause *temporal.ApplicationError
	require.ErrorAs(t, appErr.Unwrap(), &cause, "the create's last error is the cause")
	assert.Equal(t, heygen.KindRetryable.String(), cause.Type())
	assert.Greater(t, attempts, 3, "retryable create errors are retried")
	assert.LessOrEqual(t, env.Now().Sub(start), 10*time.Minute+time.Second)
}
