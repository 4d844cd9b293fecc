package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// TestJobSweepCadence: with the default timeouts and no webhook, a Job polls at every
// minute boundary of the clock (the same instants for every Job, so that the batcher
// merges them), then at the push window's end and once on the per-job backoff while
// its interval (30 s) is shorter than the sweep's, then at the minute boundaries again.
func TestJobSweepCadence(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	answers := make([]pollAnswer, 14)
	for i := range answers {
		answers[i] = processing()
	}
	answers[13] = completed()
	polls := mockActivities(env, 0, answers...)

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Sweep: DefaultSweep}))

	res := jobResult(t, env)
	assert.Equal(t, FinishedByPoll, res.FinishedBy)
	require.Len(t, polls.times, 14)
	pushEnd := start.Add(DefaultPushWindow)
	var perJob []int
	for i, at := range polls.times {
		if at.Equal(at.Truncate(time.Minute)) {
			if i > 0 {
				assert.LessOrEqual(t, at.Sub(polls.times[i-1]), time.Minute, "no minute without a poll")
			}
			continue
		}
		perJob = append(perJob, i)
	}
	// Off the minute: the push window's end, and one backoff poll 30 s (±15%) after the
	// poll before it (the push window's, or a sweep that came in between).
	require.Len(t, perJob, 2, "polls at %v", polls.offsets(start))
	assert.True(t, pushEnd.Equal(polls.times[perJob[0]]), "the per-job backoff begins when the push window ends")
	lo, hi := jitterBounds(DefaultPollInitial)
	gap := polls.times[perJob[1]].Sub(polls.times[perJob[1]-1])
	assert.True(t, gap >= lo && gap <= hi, "backoff gap %s", gap)
	assert.Equal(t, nextSweep(start, time.Minute), polls.times[0], "the first sweep is the first minute boundary")
}

// TestJobLostWebhookCostsAMinute: a render that ends 3 s after its create, whose
// webhook never comes, is done at the first minute boundary after its end, whatever
// the second its create fell on: never a push window (10 minutes) late. A create in the
// last 5 s of a minute is young at the boundary and read 5 s after it (the grace,
// changeSweepGrace), which finds its 3 s render over: one poll, seconds late.
func TestJobLostWebhookCostsAMinute(t *testing.T) {
	for _, offset := range []time.Duration{0, 20 * time.Second, 54 * time.Second, 55*time.Second + 500*time.Millisecond, 56 * time.Second, 58 * time.Second} {
		t.Run(offset.String(), func(t *testing.T) {
			env := newEnv(t)
			created := env.Now().Truncate(time.Minute).Add(time.Minute + offset)
			ends := created.Add(3 * time.Second)
			env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).After(created.Sub(env.Now())).
				Return(activities.CreateJobResult{HeyGenJobID: testJobID}, nil)
			var mu sync.Mutex
			var bulk, details int
			env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.PollJobInput) (activities.PollJobResult, error) {
					mu.Lock()
					defer mu.Unlock()
					if in.Details {
						details++
					} else {
						bulk++
					}
					if env.Now().Before(ends) {
						return processing().res, nil
					}
					return completed().res, nil
				})

			env.ExecuteWorkflow(Job, jobInput(Timeouts{Sweep: DefaultSweep}))

			res := jobResult(t, env)
			assert.Equal(t, FinishedByPoll, res.FinishedBy)
			late := res.FinishedAt.Sub(ends)
			assert.True(t, late >= 0 && late <= time.Minute, "done %s after the render ended", late)
			want, polls := nextSweep(ends, time.Minute), 1
			if first := nextSweep(created, time.Minute); first.Sub(created) < 5*time.Second {
				want = first.Add(5 * time.Second) // young at the boundary: the grace read
			}
			assert.WithinDuration(t, want, res.FinishedAt, 0, "the first sweep (or grace read) after the end")
			assert.Equal(t, polls, bulk, "one status read, the one that found the job over")
			assert.Zero(t, details)
		})
	}
}

// TestJobSweepGraceThenMinutes: a Job young at a sweep instant (created 3 s before it)
// whose render lasts longer than the grace is read once 5 s after the instant, then at
// every minute boundary like every other Job: the grace moves one read, it adds none.
func TestJobSweepGraceThenMinutes(t *testing.T) {
	env := newEnv(t)
	boundary := env.Now().Truncate(time.Minute).Add(time.Minute)
	created := boundary.Add(-3 * time.Second)
	polls := mockActivities(env, created.Sub(env.Now()), processing(), processing(), completed())

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Sweep: DefaultSweep}))

	res := jobResult(t, env)
	assert.Equal(t, FinishedByPoll, res.FinishedBy)
	assert.Equal(t, []time.Time{boundary.Add(5 * time.Second), boundary.Add(time.Minute), boundary.Add(2 * time.Minute)},
		polls.times, "the grace read, then the minute boundaries")
}

// TestJobEventWithoutJobIDIsChecked (issue 21): a success that names no HeyGen job is
// not believed as it is. A status read of the Job's own job says it still renders, so
// the Job waits on; the sweep later finds it done, with its link.
func TestJobEventWithoutJobIDIsChecked(t *testing.T) {
	env := newEnv(t)
	start := env.Now()
	polls := mockActivities(env, 0, processing(), processing(), completed())
	// 5 s after the first sweep, so the read it asks for is the second poll.
	at := nextSweep(start, time.Minute).Sub(start) + 5*time.Second
	signalAt(env, at, success("", testVideoURL))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Sweep: DefaultSweep}))

	res := jobResult(t, env)
	assert.Equal(t, StateDone, res.State)
	assert.Equal(t, FinishedByPoll, res.FinishedBy, "the status read, not the event, finished it")
	assert.Equal(t, testVideoURL, res.VideoURL)
	got := polls.offsets(start)
	require.Len(t, got, 3)
	assert.Equal(t, at, got[1], "the event asked for a read at once")
	assert.Equal(t, 1, res.Events)
}

// TestJobFailureWithoutJobIDIsChecked: a failure naming no job, for a job that renders
// on, does not fail the Job.
func TestJobFailureWithoutJobIDIsChecked(t *testing.T) {
	env := newEnv(t)
	mockActivities(env, 0, processing(), completed())
	signalAt(env, 5*time.Second, failure("", "a late failure of an earlier render"))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Sweep: DefaultSweep}))

	res := jobResult(t, env)
	assert.Equal(t, StateDone, res.State)
	assert.Empty(t, res.FailureMessage)
}

// TestJobCaptionEventNeverCompletes: a caption event names the very video, but it is
// not the video's own result.
func TestJobCaptionEventNeverCompletes(t *testing.T) {
	env := newEnv(t)
	polls := mockActivities(env, 0, processing())
	caption := heygen.Event{Type: "avatar_video_caption.success", CallbackID: JobWorkflowID(testPipelineID, StepRender),
		JobID: testJobID, URL: "https://cdn.example/captions.srt"}
	signalAt(env, 5*time.Second, caption)
	signalAt(env, 10*time.Minute+5*time.Second, success(testJobID, testVideoURL))

	env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

	res := jobResult(t, env)
	assert.Equal(t, FinishedByWebhook, res.FinishedBy)
	assert.Equal(t, testVideoURL, res.VideoURL, "not the caption's link")
	assert.Len(t, polls.times, 1, "the push window's poll; the caption asked for nothing")
}

// TestAttemptIdentity: attempt 1 keeps the step's key, each later attempt has its own,
// and every attempt's key is the same on every computation (a Reset keeps the run
// identity, so it recomputes the same key).
func TestAttemptIdentity(t *testing.T) {
	id := JobIdentity{CallbackID: "welcome-42/render", Run: "run-1"}
	first := id.IdempotencyKey()
	assert.Equal(t, "welcome-42:render.run-1", first)
	id.Attempt = 1
	assert.Equal(t, first, id.IdempotencyKey(), "attempt 1 is the step's own key")
	id.Attempt = 2
	second := id.IdempotencyKey()
	assert.Equal(t, "welcome-42:render.run-1.a2", second)
	id.Attempt = 3
	assert.NotEqual(t, second, id.IdempotencyKey())
	id.Attempt = 2
	assert.Equal(t, second, id.IdempotencyKey(), "the same attempt, the same key")
}

// retryPipeline runs a render-only pipeline with retry {renders: 2} whose renders fail
// with failureCode the first `fails` times, and returns the creates' keys.
func retryPipeline(t *testing.T, failureCode string, fails int) (keys []string, res PipelineResult, err error) {
	env := newPipelineEnv(t)
	var mu sync.Mutex
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CreateJobInput) (activities.CreateJobResult, error) {
			mu.Lock()
			defer mu.Unlock()
			keys = append(keys, in.IdempotencyKey)
			return activities.CreateJobResult{HeyGenJobID: "v_" + in.IdempotencyKey}, nil
		})
	env.OnActivity(a.PollJob, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PollJobInput) (activities.PollJobResult, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(keys) <= fails {
				return activities.PollJobResult{Status: heygen.StatusFailed, FailureCode: failureCode, FailureMessage: "render broke"}, nil
			}
			return completed().res, nil
		})
	in := pipelineInput()
	in.Timeouts = Timeouts{Sweep: DefaultSweep}
	in.Retry = &Retry{Renders: 2}
	env.ExecuteWorkflow(Pipeline, in)
	require.True(t, env.IsWorkflowCompleted())
	if err = env.GetWorkflowError(); err == nil {
		require.NoError(t, env.GetWorkflowResult(&res))
	}
	return keys, res, err
}

// TestPipelineRerendersATransientFailure: the first render fails (RENDER_FAILED), the
// second attempt, a new HeyGen job with its own key, completes; status shows it.
func TestPipelineRerendersATransientFailure(t *testing.T) {
	keys, res, err := retryPipeline(t, "RENDER_FAILED", 1)
	require.NoError(t, err)
	require.Len(t, keys, 2, "two creates")
	assert.NotEqual(t, keys[0], keys[1])
	assert.Equal(t, keys[0]+".a2", keys[1])
	render := stepRow(t, res.Steps, StepRender)
	assert.Equal(t, StateDone, render.State)
	assert.Equal(t, 2, render.Attempt)
	assert.Equal(t, 3, render.Attempts)
	require.Len(t, render.FailedAttempts, 1)
	assert.Contains(t, render.FailedAttempts[0], "attempt 1: RENDER_FAILED")

	// The same pipeline again (a Reset recomputes with the same run identity): the
	// same keys, attempt by attempt, so HeyGen replays instead of rendering again.
	again, _, err := retryPipeline(t, "RENDER_FAILED", 1)
	require.NoError(t, err)
	assert.Equal(t, keys, again)
}

// TestPipelinePermanentFailureNeverRerenders: a failure known to be permanent fails at
// once, after one create, whatever the budget; a budget spent fails with every reason.
func TestPipelinePermanentFailureNeverRerenders(t *testing.T) {
	for _, code := range []string{"AVATAR_UNAVAILABLE", "insufficient_credit", "moderation_rejected", "invalid_parameter", "download_failed"} {
		keys, _, err := retryPipeline(t, code, 5)
		require.Error(t, err, code)
		assert.Len(t, keys, 1, "%s: one create", code)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr)
		assert.Equal(t, ErrTypeHeyGenJobFailed, appErr.Type())
	}
	keys, _, err := retryPipeline(t, "RENDER_FAILED", 5)
	require.Error(t, err)
	assert.Len(t, keys, 3, "1 + retry.renders creates, then it fails")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	var st PipelineStatus
	require.NoError(t, appErr.Details(&st))
	render := stepRow(t, st.Steps, StepRender)
	assert.Equal(t, 3, render.Attempt)
	assert.Len(t, render.FailedAttempts, 3, "every failed attempt's reason")
}

// sweepRace runs a Job whose sweep poll takes pollTime and answers answer, with a
// success webhook (no duration, as HeyGen sends it) landing webhookAfter the first
// sweep instant. It returns the Job's result and how many polls and detail fetches
// PollJob served.
func sweepRace(t *testing.T, pollTime, webhookAfter time.Duration, answer pollAnswer) (res JobResult, polls, details int) {
	t.Helper()
	env := newEnv(t)
	start := env.Now()
	env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).
		Return(activities.CreateJobResult{HeyGenJobID: testJobID, Status: heygen.StatusPending}, nil)
	var mu sync.Mutex
	env.OnActivity(a.PollJob, mock.Anything, mock.Anything).After(pollTime).Return(
		func(_ context.Context, in activities.PollJobInput) (activities.PollJobResult, error) {
			mu.Lock()
			defer mu.Unlock()
			if in.Details {
				details++
				return completed().res, nil
			}
			polls++
			return answer.res, answer.err
		})
	ev := success(testJobID, testVideoURL)
	ev.Duration, ev.ThumbnailURL = 0, ""
	signalAt(env, nextSweep(start, time.Minute).Sub(start)+webhookAfter, ev)

	env.ExecuteWorkflow(Job, jobInput(Timeouts{Sweep: DefaultSweep}))

	res = jobResult(t, env)
	mu.Lock()
	defer mu.Unlock()
	return res, polls, details
}

// TestJobWebhookDuringSweepPoll (issue 18): a success webhook that lands while the
// sweep's poll is in flight (the poll's batch window and GET take 2 s) does not read the
// job a second time: the poll's answer, the job's full record, gives the details the
// webhook lacks. The webhook still finished the Job.
func TestJobWebhookDuringSweepPoll(t *testing.T) {
	res, polls, details := sweepRace(t, 2*time.Second, time.Second, completed())
	assert.Equal(t, FinishedByWebhook, res.FinishedBy)
	assert.Equal(t, 1, polls, "the sweep's poll")
	assert.Zero(t, details, "no detail fetch on top of the sweep's poll")
	assert.Equal(t, 42.0, res.Duration, "the duration comes from the poll's answer")
	assert.Equal(t, "https://cdn.example/t.jpg", res.ThumbnailURL)
	assert.Equal(t, testVideoURL, res.VideoURL)
	assert.Equal(t, 1, res.Polls)
}

// TestJobWebhookDuringSweepPollStillProcessing: when the sweep's bulk row was read
// before the job ended (processing), the Job fetches the details once, as a webhook
// without a poll in flight does; a poll that fails leaves the same one fetch.
func TestJobWebhookDuringSweepPollStillProcessing(t *testing.T) {
	for name, answer := range map[string]pollAnswer{
		"processing": processing(),
		"failed":     {err: temporal.NewNonRetryableApplicationError("bulk call refused", heygen.KindPermanent.String(), nil)},
	} {
		t.Run(name, func(t *testing.T) {
			res, polls, details := sweepRace(t, 2*time.Second, time.Second, answer)
			assert.Equal(t, FinishedByWebhook, res.FinishedBy)
			assert.Equal(t, 1, polls)
			assert.Equal(t, 1, details, "one fetch for the details")
			assert.Equal(t, 42.0, res.Duration)
		})
	}
}

// TestJobWebhookBetweenSweeps: a success webhook with no poll in flight costs the one
// detail fetch and nothing else.
func TestJobWebhookBetweenSweeps(t *testing.T) {
	res, polls, details := sweepRace(t, 2*time.Second, 10*time.Second, processing())
	assert.Equal(t, FinishedByWebhook, res.FinishedBy)
	assert.Equal(t, 1, polls, "the first sweep's poll, over before the webhook")
	assert.Equal(t, 1, details)
}
