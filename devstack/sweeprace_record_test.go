package devstack

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/worker"
	"github.com/reelflow/reelflow/workflows"
)

// TestRecordSweepRace records job-sweep-race.json (docs/replay.md): a Job whose success
// webhook lands while its sweep poll is in flight, the path the job-sweep-close change
// guards. The race is made, not waited for: the sandbox drops the webhook, and an
// activity interceptor on the worker, when a poll has found the job completed, sends
// the webhook's event itself and holds the poll's answer for 2 s, so the event reaches
// the Job with the poll in flight. The Job takes the details from the poll's answer:
// one status read, no detail fetch. Run with the other recorders (REELFLOW_RECORD_HISTORIES=1).
func TestRecordSweepRace(t *testing.T) {
	if os.Getenv(recordEnv) != "1" {
		t.Skip("set " + recordEnv + "=1 to record the replay histories into " + recordDir)
	}
	racer := &raceInterceptor{}
	st := startStack(t, Config{RenderTime: 500 * time.Millisecond,
		Worker: worker.Options{Interceptors: []interceptor.WorkerInterceptor{racer}}})
	racer.client = st.Client
	st.Sandbox.SetDropRate(1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	in := welcome("rec-sweep-race")
	in.Timeouts = workflows.Timeouts{Sweep: 2 * time.Second, Deadline: time.Minute}
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.ID, TaskQueue: workflows.TaskQueue}, workflows.Pipeline, in)
	require.NoError(t, err)
	var res workflows.PipelineResult
	require.NoError(t, run.Get(ctx, &res))
	require.True(t, racer.fired.Load(), "the interceptor sent the webhook during a poll")
	jobID := workflows.JobWorkflowID(in.ID, workflows.StepRender)
	step := res.Steps[0]
	assert.Equal(t, workflows.FinishedByWebhook, step.FinishedBy, "the webhook came first")
	assert.Positive(t, step.Duration, "the duration, which the webhook lacked, came from the poll's answer")

	events := historyOf(ctx, t, st, jobID, "")
	polls := 0
	for _, ev := range events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "PollJob" {
			polls++
		}
	}
	assert.True(t, versionMarkers(events)["job-sweep-close"], "the job-sweep-close marker is recorded")
	assert.Equal(t, racer.polls.Load(), int64(polls), "no detail fetch after the webhook: every PollJob was a sweep's")
	record(ctx, t, st, "job-sweep-race", jobID)
}

// raceInterceptor sends a Job's success webhook itself, once, while the Job's first
// poll that found the job completed is still in flight.
type raceInterceptor struct {
	interceptor.WorkerInterceptorBase
	client client.Client
	fired  atomic.Bool
	polls  atomic.Int64
}

func (r *raceInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &raceActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, root: r}
}

type raceActivity struct {
	interceptor.ActivityInboundInterceptorBase
	root *raceInterceptor
}

func (a *raceActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := a.Next.ExecuteActivity(ctx, in)
	info := activity.GetInfo(ctx)
	if info.ActivityType.Name != "PollJob" {
		return res, err
	}
	a.root.polls.Add(1)
	r, ok := res.(activities.PollJobResult)
	if err != nil || !ok || r.Status != heygen.StatusCompleted || len(in.Args) == 0 || !a.root.fired.CompareAndSwap(false, true) {
		return res, err
	}
	pin, _ := in.Args[0].(activities.PollJobInput)
	// As HeyGen sends it: the link, no duration.
	ev := heygen.Event{Type: heygen.EventAvatarVideoSuccess, CallbackID: info.WorkflowExecution.ID, JobID: pin.HeyGenJobID,
		URL: r.VideoURL, ThumbnailURL: r.ThumbnailURL}
	if serr := a.root.client.SignalWorkflow(ctx, info.WorkflowExecution.ID, "", workflows.SignalEvent, ev); serr != nil {
		return nil, serr
	}
	time.Sleep(2 * time.Second) // the event reaches the Job while the poll is in flight
	return res, err
}
