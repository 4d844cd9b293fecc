package workflows

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/activities"
)

// jitterBounds is the range a jittered interval of nominal length d may take.
func jitterBounds(d time.Duration) (lo, hi time.Duration) {
	return d * (1000 - pollJitterPermille) / 1000, d * (1000 + pollJitterPermille) / 1000
}

// assertPollTimes checks poll times (offsets from the start) against the nominal
// schedule want: the same number of polls, the first exactly on time (it follows the
// push window at once), and every gap between polls within the jitter of its nominal
// gap.
func assertPollTimes(t *testing.T, want, got []time.Duration) {
	t.Helper()
	require.Len(t, got, len(want), "polls at %v", got)
	if len(want) == 0 {
		return
	}
	assert.Equal(t, want[0], got[0], "the first poll comes at once after the push window")
	for i := 1; i < len(want); i++ {
		lo, hi := jitterBounds(want[i] - want[i-1])
		gap := got[i] - got[i-1]
		assert.True(t, gap >= lo && gap <= hi, "gap %d is %s, want %s..%s", i, gap, lo, hi)
	}
}

func TestJitterInterval(t *testing.T) {
	lo, hi := jitterBounds(5 * time.Minute)
	var minSeen, maxSeen, sum time.Duration
	minSeen = time.Hour
	const jobs, polls = 500, 8
	for j := range jobs {
		id := JobWorkflowID(fmt.Sprintf("welcome-%d", j), StepRender)
		for p := 1; p <= polls; p++ {
			d := jitterInterval(5*time.Minute, id, p)
			require.True(t, d >= lo && d <= hi, "%s poll %d: %s", id, p, d)
			assert.Equal(t, d, d.Truncate(time.Millisecond), "whole milliseconds")
			assert.Equal(t, d, jitterInterval(5*time.Minute, id, p), "the same on every call, as on every replay")
			minSeen, maxSeen, sum = min(minSeen, d), max(maxSeen, d), sum+d
		}
	}
	// The point is the spread: the offsets cover the range, around the nominal mean.
	assert.Less(t, minSeen, 4*time.Minute+20*time.Second)
	assert.Greater(t, maxSeen, 5*time.Minute+40*time.Second)
	mean := sum / (jobs * polls)
	assert.InDelta(t, float64(5*time.Minute), float64(mean), float64(5*time.Second), "mean %s", mean)
	assert.NotEqual(t, jitterInterval(time.Minute, "a/render", 1), jitterInterval(time.Minute, "b/render", 1))
}

func TestJobBackoffJitteredUpToTheCap(t *testing.T) {
	tests := []struct {
		name     string
		timeouts Timeouts
		nominal  []time.Duration // the gaps between polls before jitter
	}{
		{
			name: "defaults: 30s, 1m, 2m, 4m, then 5m",
			nominal: []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
				5 * time.Minute, 5 * time.Minute, 5 * time.Minute},
		},
		{
			name:     "per spec: 10s doubling to 40s",
			timeouts: Timeouts{PushWindow: 2 * time.Minute, PollInitial: 10 * time.Second, PollMax: 40 * time.Second},
			nominal:  []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second, 40 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			start := env.Now()
			answers := make([]pollAnswer, len(tt.nominal)+1)
			for i := range tt.nominal {
				answers[i] = processing()
			}
			answers[len(tt.nominal)] = completed()
			polls := mockActivities(env, 0, answers...)

			env.ExecuteWorkflow(Job, jobInput(tt.timeouts))

			res := jobResult(t, env)
			assert.Equal(t, FinishedByPoll, res.FinishedBy)
			got := polls.offsets(start)
			require.Len(t, got, len(tt.nominal)+1)
			assert.Equal(t, tt.timeouts.WithDefaults().PushWindow, got[0], "the first poll comes at once after the push window")
			id := JobWorkflowID(testPipelineID, StepRender)
			jittered := 0
			for i, nominal := range tt.nominal {
				gap := got[i+1] - got[i]
				lo, hi := jitterBounds(nominal)
				assert.True(t, gap >= lo && gap <= hi, "gap %d is %s, want %s..%s", i, gap, lo, hi)
				assert.Equal(t, jitterInterval(nominal, id, i+1), gap, "gap %d: hashed from the workflow ID and poll number", i)
				if gap != nominal {
					jittered++
				}
			}
			assert.Greater(t, jittered, len(tt.nominal)/2, "the jitter moves most timers")
		})
	}
}

// TestJobLateWebhookWinsAtOnce sends the webhook while the Job is polling: during a
// backoff timer, and while a poll is in flight. Either way the Job ends at that moment.
func TestJobLateWebhookWinsAtOnce(t *testing.T) {
	tests := []struct {
		name      string
		pollTakes time.Duration
		at        time.Duration
		wantPolls int
	}{
		// Polls at 10m and about 10m30s, 11m30s and 13m30s: 13m falls in a backoff timer.
		{name: "during a backoff timer", at: 13 * time.Minute, wantPolls: 3},
		// A poll that hangs for 20s from 10m: the webhook at 10m05s cuts it short.
		{name: "while a poll is in flight", pollTakes: 20 * time.Second, at: 10*time.Minute + 5*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			start := env.Now()
			env.OnActivity(a.CreateJob, mock.Anything, mock.Anything).Return(activities.CreateJobResult{HeyGenJobID: testJobID}, nil)
			env.OnActivity(a.PollJob, mock.Anything, mock.Anything).After(tt.pollTakes).Return(processing().res, nil)
			signalAt(env, tt.at, success(testJobID, testVideoURL))

			env.ExecuteWorkflow(Job, jobInput(Timeouts{}))

			res := jobResult(t, env)
			assert.Equal(t, FinishedByWebhook, res.FinishedBy)
			assert.Equal(t, tt.wantPolls, res.Polls)
			assert.Equal(t, tt.at, res.FinishedAt.Sub(start), "the webhook ends the job the moment it comes")
			assert.Equal(t, tt.at, env.Now().Sub(start), "no timer or poll outlives the answer")
		})
	}
}
