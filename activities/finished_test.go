package activities_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
)

// settableClock is a clock the test moves by hand.
type settableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settableClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *settableClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pollTwice runs PollJob twice on one Activities, with the clock moved by gap between,
// and returns the second answer and how many requests reached the fake HeyGen.
func pollTwice(t *testing.T, answer string, in activities.PollJobInput, gap time.Duration) (activities.PollJobResult, int) {
	t.Helper()
	f := &fakeHeyGen{status: http.StatusOK, body: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	clock := &settableClock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}
	a := activities.New(heygen.NewClient(srv.URL, apiKey, srv.Client()), activities.WithStatusBatchWindow(0), activities.WithClock(clock.now))
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	var res activities.PollJobResult
	for i := range 2 {
		if i == 1 {
			clock.add(gap)
		}
		val, err := env.ExecuteActivity(a.PollJob, in)
		require.NoError(t, err)
		require.NoError(t, val.Get(&res))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return res, len(f.requests)
}

// A sweep's poll that runs again (its workflow task was refused because a webhook
// landed, workflows/job.go) is answered from the first read: the race costs one read.
func TestPollJobFinishedReadIsReused(t *testing.T) {
	done := `{"data":{"id":"v_1","status":"completed","video_url":"https://cdn/v.mp4","duration":7}}`
	in := activities.PollJobInput{Kind: activities.KindVideo, HeyGenJobID: "v_1"}
	res, calls := pollTwice(t, done, in, time.Minute)
	assert.Equal(t, 1, calls, "the second poll of a completed job asks HeyGen nothing")
	assert.Equal(t, "https://cdn/v.mp4", res.VideoURL)
	assert.InDelta(t, 7.0, res.Duration, 0)

	// A details fetch (a webhook's) of a job a poll read as over reads nothing either.
	in.Details = true
	_, calls = pollTwice(t, done, in, time.Second)
	assert.Equal(t, 1, calls)

	// A template's job is a video: the same record.
	failed := `{"data":{"id":"v_2","status":"failed","failure_message":"avatar not found"}}`
	res, calls = pollTwice(t, failed, activities.PollJobInput{Kind: activities.KindTemplate, HeyGenJobID: "v_2"}, 0)
	assert.Equal(t, 1, calls, "a failed job's read is final too")
	assert.Equal(t, heygen.StatusFailed, res.Status)
}

// What can still change is asked again, and a record is reused only while fresh.
func TestPollJobReadsAgainWhatMayChange(t *testing.T) {
	in := activities.PollJobInput{Kind: activities.KindVideo, HeyGenJobID: "v_1"}
	_, calls := pollTwice(t, `{"data":{"id":"v_1","status":"processing"}}`, in, 0)
	assert.Equal(t, 2, calls, "a running job is read each time")

	_, calls = pollTwice(t, `{"data":{"id":"v_1","status":"completed"}}`, in, 0)
	assert.Equal(t, 2, calls, "completed without its link: asked again, never kept")

	done := `{"data":{"id":"v_1","status":"completed","video_url":"https://cdn/v.mp4"}}`
	_, calls = pollTwice(t, done, in, 10*time.Minute)
	assert.Equal(t, 2, calls, "after ten minutes the links are read afresh")

	_, calls = pollTwice(t, done, activities.PollJobInput{Kind: activities.KindTranslation, HeyGenJobID: "v_1"}, 0)
	assert.Equal(t, 1, calls, "a finished translation's read is kept too")
}
