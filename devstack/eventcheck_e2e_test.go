package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/workflows"
)

// jobStatusOf is a Job's status through its status query; ok is false when it does not
// answer.
func jobStatusOf(ctx context.Context, st *Stack, id string) (js workflows.JobStatus, ok bool) {
	v, err := st.Client.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return js, false
	}
	return js, v.Get(&js) == nil
}

// sendSuccess delivers a correctly signed avatar_video.success for callbackID through
// the receiver, naming videoID and url (either may be empty, then it is left out), and
// requires that the receiver signalled the Job.
func sendSuccess(t *testing.T, st *Stack, callbackID, videoID, url string) {
	t.Helper()
	data := map[string]any{"callback_id": callbackID}
	if videoID != "" {
		data["video_id"] = videoID
	}
	if url != "" {
		data["url"] = url
	}
	body, err := json.Marshal(map[string]any{"event_type": heygen.EventAvatarVideoSuccess, "event_data": data})
	require.NoError(t, err)
	code, status := sendSigned(t, st.ReceiverURL()+receiver.WebhookPath, st.WebhookSecret(), body)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, receiver.OutcomeSignalled, status)
}

// requireStillWaiting waits until the Job has handled at least events events and, when
// polls is not negative, made a status read beyond its polls reads of before the event;
// then it requires that the Job still waits for its own render, without an output link,
// and that its pipeline is still running.
func requireStillWaiting(ctx context.Context, t *testing.T, st *Stack, job, pipeline string, events, polls int) {
	t.Helper()
	var js workflows.JobStatus
	waitUntil(ctx, t, "the Job to handle the event", func() bool {
		var ok bool
		js, ok = jobStatusOf(ctx, st, job)
		return ok && js.Events >= events
	})
	if polls >= 0 {
		// An event that names no job asks for a status read: wait until it is answered
		// (the read leaves the Job waiting, or would have ended it).
		waitUntil(ctx, t, "the Job's status read", func() bool {
			var ok bool
			js, ok = jobStatusOf(ctx, st, job)
			return ok && (js.Polls > polls || js.State != workflows.StateWaiting)
		})
	}
	assert.Equal(t, workflows.StateWaiting, js.State, "the render still runs: the Job waits on")
	assert.Empty(t, js.VideoURL, "no output link taken")
	desc, err := st.Client.DescribeWorkflowExecution(ctx, pipeline, "")
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus(), "the pipeline has not completed")
}

// TestEventWithoutJobIDLeavesTheJobWaiting (issue 21, item 2): a correctly signed
// avatar_video.success for a still-rendering Job's callback_id, with no video ID and no
// URL, does not complete the Job: its status read says the render still runs.
func TestEventWithoutJobIDLeavesTheJobWaiting(t *testing.T) {
	st := startStack(t, Config{SigningScheme: heygen.SchemeStandard})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := welcome("no-job-id")
	in.Video["avatar_id"] = "sandbox-stuck" // renders for ever
	in.Timeouts.PushWindow = time.Hour      // no poll of its own meanwhile
	in.Timeouts.Sweep = -1                  // nor a sweep, which reads the job first when its render crosses a minute
	run := startPipeline(ctx, t, st, in)
	job := workflows.JobWorkflowID(in.ID, workflows.StepRender)
	var before workflows.JobStatus
	waitUntil(ctx, t, "the Job to wait", func() bool {
		var ok bool
		before, ok = jobStatusOf(ctx, st, job)
		return ok && before.State == workflows.StateWaiting
	})

	sendSuccess(t, st, job, "", "")
	requireStillWaiting(ctx, t, st, job, in.ID, 1, before.Polls)
	require.NoError(t, st.Client.CancelWorkflow(ctx, run.GetID(), run.GetRunID()))
}

// TestLateEventOfAnEarlierRender (issue 21, item 2, Test): a pipeline's render R1
// completes, and the pipeline fails on a later step; rerun with a changed render and
// Fresh (`start --fresh`), its Job renders R2, which keeps rendering. A late success
// naming R1's video and link, for the same callback_id, is ignored: the new Job waits on.
func TestLateEventOfAnEarlierRender(t *testing.T) {
	st := startStack(t, Config{SigningScheme: heygen.SchemeStandard})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := welcome("late-event")
	in.FailFast = true
	in.Translate = &workflows.Translate{Languages: []string{"Klingon"}}
	_, err := runPipeline(t, st, in)
	require.Error(t, err, "the translation fails, and with it the pipeline")
	job := workflows.JobWorkflowID(in.ID, workflows.StepRender)
	r1, ok := jobStatusOf(ctx, st, job)
	require.True(t, ok)
	require.Equal(t, workflows.StateDone, r1.State)
	require.NotEmpty(t, r1.HeyGenJobID)
	require.NotEmpty(t, r1.VideoURL)

	// `start --fresh` with a changed render: the pipeline failed, so it starts again.
	in.Translate = nil
	in.Video["avatar_id"] = "sandbox-stuck"
	in.Timeouts.PushWindow = time.Hour
	in.Timeouts.Sweep = -1 // nor a sweep, which reads the job first when its render crosses a minute
	in.Fresh = true
	run := startPipeline(ctx, t, st, in)
	waitUntil(ctx, t, "the new Job to wait", func() bool {
		js, ok := jobStatusOf(ctx, st, job)
		return ok && js.State == workflows.StateWaiting && js.HeyGenJobID != "" && js.HeyGenJobID != r1.HeyGenJobID
	})

	// It names a job, not this Job's: ignored without a status read.
	sendSuccess(t, st, job, r1.HeyGenJobID, r1.VideoURL)
	requireStillWaiting(ctx, t, st, job, in.ID, 1, -1)
	assert.Equal(t, 2, st.Sandbox.Stats().CreatesByCallbackID[job], "R1 and R2")
	require.NoError(t, st.Client.CancelWorkflow(ctx, run.GetID(), run.GetRunID()))
}
