package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/sandbox"
)

// bulkSource is a HeyGen fake for the batcher: it answers bulk and single status calls
// from a table of statuses and counts every call.
type bulkSource struct {
	mu       sync.Mutex
	statuses map[string]heygen.Status // absent: not_found in bulk, 404 on a single GET
	omit     map[string]bool          // IDs the bulk answer leaves out altogether
	bulkErr  error                    // every bulk call fails with it
	gate     chan struct{}            // when set, bulk calls wait for it or their ctx
	bulkCtx  []context.Context        // the contexts bulk calls ran with
	inFlight int                      // bulk calls that have not returned

	videoBulk, translationBulk [][]string // the IDs of each bulk call
	singles                    []string   // "GetVideo v_1", ...
}

func newBulkSource(statuses map[string]heygen.Status) *bulkSource {
	return &bulkSource{statuses: statuses, omit: map[string]bool{}}
}

func (s *bulkSource) bulk(ctx context.Context, calls *[][]string, ids []string) ([]heygen.StatusEntry, error) {
	s.mu.Lock()
	*calls = append(*calls, append([]string(nil), ids...))
	s.bulkCtx = append(s.bulkCtx, ctx)
	s.inFlight++
	gate, bulkErr := s.gate, s.bulkErr
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if bulkErr != nil {
		return nil, bulkErr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []heygen.StatusEntry
	for _, id := range ids {
		if s.omit[id] {
			continue
		}
		st, ok := s.statuses[id]
		if !ok {
			st = heygen.StatusNotFound
		}
		out = append(out, heygen.StatusEntry{VideoID: id, Status: st})
	}
	return out, nil
}

func (s *bulkSource) VideoStatuses(ctx context.Context, ids []string) ([]heygen.StatusEntry, error) {
	return s.bulk(ctx, &s.videoBulk, ids)
}

func (s *bulkSource) TranslationStatuses(ctx context.Context, ids []string) ([]heygen.StatusEntry, error) {
	return s.bulk(ctx, &s.translationBulk, ids)
}

func (s *bulkSource) single(call, id string) (heygen.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.singles = append(s.singles, call+" "+id)
	st, ok := s.statuses[id]
	if !ok {
		return "", &heygen.APIError{Kind: heygen.KindPermanent, Op: "GET " + id, Status: http.StatusNotFound, Code: "not_found"}
	}
	return st, nil
}

func (s *bulkSource) GetVideo(_ context.Context, id string) (heygen.Video, error) {
	st, err := s.single("GetVideo", id)
	if err != nil {
		return heygen.Video{}, err
	}
	v := heygen.Video{ID: id, Status: st}
	switch st {
	case heygen.StatusCompleted:
		v.VideoURL, v.Duration = "https://cdn/"+id+".mp4", 12
	case heygen.StatusFailed:
		v.FailureCode, v.FailureMessage = "avatar_error", "avatar not found"
	}
	return v, nil
}

func (s *bulkSource) GetTranslation(_ context.Context, id string) (heygen.Translation, error) {
	st, err := s.single("GetTranslation", id)
	t := heygen.Translation{ID: id, Status: st}
	if st == heygen.StatusCompleted {
		t.VideoURL = "https://cdn/" + id + ".mp4"
	}
	return t, err
}

func (s *bulkSource) CreateVideo(context.Context, heygen.CreateVideoRequest) (heygen.CreatedVideo, error) {
	return heygen.CreatedVideo{}, errors.New("not used")
}

func (s *bulkSource) CreateTemplateVideo(context.Context, string, heygen.CreateVideoRequest) (heygen.CreatedVideo, error) {
	return heygen.CreatedVideo{}, errors.New("not used")
}

func (s *bulkSource) CreateTranslation(context.Context, heygen.CreateTranslationRequest) ([]string, error) {
	return nil, errors.New("not used")
}

func (s *bulkSource) CurrentUser(context.Context) (heygen.User, error) {
	return heygen.User{}, errors.New("not used")
}

// counts returns the bulk and single calls so far.
func (s *bulkSource) counts() (videoBulk, translationBulk [][]string, singles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.videoBulk, s.translationBulk, s.singles
}

// calling reports whether a bulk call has not returned yet.
func (s *bulkSource) calling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight > 0
}

// fakeClock is a batchClock whose timers fire only when a test calls fire, so that which
// polls share a window is up to the test, not to the scheduler.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

// fakeTimer is one window of a fakeClock.
type fakeTimer struct {
	clock *fakeClock
	d     time.Duration
	f     func()
	done  bool // fired or stopped
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) batchTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// fire ends every open window: it runs the func of each timer neither fired nor
// stopped, on its own goroutine as time.AfterFunc does, and returns how many it ran.
func (c *fakeClock) fire() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			t.done = true
			n++
			go t.f()
		}
	}
	return n
}

// pending counts the windows still open.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.done {
			n++
		}
	}
	return n
}

// windows returns the duration of every window opened so far.
func (c *fakeClock) windows() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, len(c.timers))
	for i, t := range c.timers {
		out[i] = t.d
	}
	return out
}

// testWindow is the batch window the tests configure. It never elapses: only
// fakeClock.fire ends a window.
const testWindow = time.Minute

// newTestActivities returns Activities over h whose batchers run on clk.
func newTestActivities(h HeyGen, clk *fakeClock) *Activities {
	a := New(h, WithStatusBatchWindow(testWindow))
	a.videoStatuses.clock = clk
	a.translationStatuses.clock = clk
	// Only fire ends a window: no quiet gap (TestBatcherQuietGap has its own).
	a.videoStatuses.quiet, a.translationStatuses.quiet = 0, 0
	return a
}

// settled fails t when, at its end, a batch window is still open or a bulk call of src
// (when given) has not returned within a deadline: the batcher keeps no timer and no
// call, and so no goroutine, once its callers are answered.
func settled(t *testing.T, clk *fakeClock, src *bulkSource) {
	t.Helper()
	t.Cleanup(func() {
		assert.Zero(t, clk.pending(), "a batch window left open")
		if src != nil {
			assert.Eventually(t, func() bool { return !src.calling() }, 5*time.Second, 5*time.Millisecond, "a bulk call left running")
		}
	})
}

// joined waits until the batch that b is collecting holds n callers.
func joined(t *testing.T, b *batcher, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.open != nil && b.open.callers == n
	}, 5*time.Second, time.Millisecond, "%d callers joining the open batch", n)
}

// recv waits for a value on ch, failing t when none comes within a deadline, so that a
// batcher that never answers fails the test instead of hanging it.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		require.FailNow(t, "timed out waiting for "+what)
		var zero T
		return zero
	}
}

// pollAll runs one PollJob per ID, all at once. Once every caller has joined a batch
// (the open one then holds len(ids)%maxBulkIDs of them: the IDs are unique, or fewer
// than a full batch), it ends that one window and returns the results in order.
func pollAll(t *testing.T, a *Activities, clk *fakeClock, kind string, ids []string) ([]PollJobResult, []error) {
	t.Helper()
	res := make([]PollJobResult, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			res[i], errs[i] = a.PollJob(context.Background(), PollJobInput{Kind: kind, HeyGenJobID: id})
		})
	}
	if open := len(ids) % maxBulkIDs; open > 0 {
		b := a.videoStatuses
		if kind == KindTranslation {
			b = a.translationStatuses
		}
		joined(t, b, open)
		require.Equal(t, 1, clk.fire(), "one window open")
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	recv(t, done, "every poll to return")
	return res, errs
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func TestBatcherSharesBulkCalls(t *testing.T) {
	// 150 running jobs, polled in one window: a full batch of 100 goes out at once, the
	// other 50 when the window ends. Two calls, no single GET.
	all := ids("v_", 150)
	statuses := map[string]heygen.Status{}
	for i, id := range all {
		statuses[id] = []heygen.Status{heygen.StatusPending, heygen.StatusProcessing}[i%2]
	}
	src := newBulkSource(statuses)
	clk := &fakeClock{}
	settled(t, clk, src)
	a := newTestActivities(src, clk)

	res, errs := pollAll(t, a, clk, KindVideo, all)

	for i, id := range all {
		require.NoError(t, errs[i])
		assert.Equal(t, PollJobResult{Status: statuses[id]}, res[i], "each caller gets its own row")
	}
	videoBulk, translationBulk, singles := src.counts()
	require.Len(t, videoBulk, 2)
	assert.ElementsMatch(t, []int{100, 50}, []int{len(videoBulk[0]), len(videoBulk[1])})
	assert.ElementsMatch(t, all, append(videoBulk[0], videoBulk[1]...), "every ID asked once")
	assert.Empty(t, translationBulk)
	assert.Empty(t, singles)
	assert.Equal(t, []time.Duration{testWindow, testWindow}, clk.windows(), "each batch opened a window of the configured length")
}

func TestBatcherTerminalAndUnknownFallBackToOneGet(t *testing.T) {
	src := newBulkSource(map[string]heygen.Status{
		"v_run": heygen.StatusProcessing, "v_done": heygen.StatusCompleted, "v_fail": heygen.StatusFailed,
		"v_lag": heygen.StatusProcessing, // the bulk index has not seen it yet
		"t_run": heygen.StatusProcessing, "t_done": heygen.StatusCompleted,
	})
	src.omit["v_lag"] = true
	clk := &fakeClock{}
	settled(t, clk, src)
	a := newTestActivities(src, clk)

	videos := []string{"v_run", "v_done", "v_fail", "v_lag", "v_gone", "v_run"}
	res, errs := pollAll(t, a, clk, KindVideo, videos)
	tres, terrs := pollAll(t, a, clk, KindTranslation, []string{"t_run", "t_done"})

	require.NoError(t, errs[0])
	assert.Equal(t, PollJobResult{Status: heygen.StatusProcessing}, res[0])
	assert.Equal(t, res[0], res[5], "two polls of one ID share its row")
	require.NoError(t, errs[1])
	assert.Equal(t, PollJobResult{Status: heygen.StatusCompleted, VideoURL: "https://cdn/v_done.mp4", Duration: 12}, res[1],
		"a completed row is followed by the GET that has the URLs")
	require.NoError(t, errs[2])
	assert.Equal(t, PollJobResult{Status: heygen.StatusFailed, FailureCode: "avatar_error", FailureMessage: "avatar not found"}, res[2])
	require.NoError(t, errs[3])
	assert.Equal(t, PollJobResult{Status: heygen.StatusProcessing}, res[3], "an ID missing from the answer asks alone")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, errs[4], &appErr, "not_found in bulk, 404 alone: the single GET's verdict stands")
	assert.Equal(t, heygen.KindPermanent.String(), appErr.Type())
	assert.Contains(t, errs[4].Error(), "get video v_gone")

	require.NoError(t, terrs[0])
	assert.Equal(t, PollJobResult{Status: heygen.StatusProcessing}, tres[0])
	require.NoError(t, terrs[1])
	assert.Equal(t, PollJobResult{Status: heygen.StatusCompleted, VideoURL: "https://cdn/t_done.mp4"}, tres[1])

	videoBulk, translationBulk, singles := src.counts()
	require.Len(t, videoBulk, 1)
	assert.ElementsMatch(t, []string{"v_run", "v_done", "v_fail", "v_lag", "v_gone"}, videoBulk[0], "IDs are deduplicated")
	require.Len(t, translationBulk, 1)
	assert.ElementsMatch(t, []string{"t_run", "t_done"}, translationBulk[0])
	assert.ElementsMatch(t, []string{"GetVideo v_done", "GetVideo v_fail", "GetVideo v_lag", "GetVideo v_gone",
		"GetTranslation t_done"}, singles, "one GET per finished or unknown job, none per running one")
}

func TestBatcherBypass(t *testing.T) {
	src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusCompleted})
	clk := &fakeClock{}
	a := newTestActivities(src, clk)

	// Details means the caller knows the job is over, so a bulk call would only come on
	// top of the GET.
	r, err := a.PollJob(context.Background(), PollJobInput{Kind: KindVideo, HeyGenJobID: "v_1", Details: true})
	require.NoError(t, err)
	assert.Equal(t, "https://cdn/v_1.mp4", r.VideoURL)

	// A window of zero turns batching off.
	off := New(src, WithStatusBatchWindow(0))
	r, err = off.PollJob(context.Background(), PollJobInput{Kind: KindVideo, HeyGenJobID: "v_1"})
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusCompleted, r.Status)

	videoBulk, translationBulk, singles := src.counts()
	assert.Empty(t, videoBulk)
	assert.Empty(t, translationBulk)
	assert.Equal(t, []string{"GetVideo v_1", "GetVideo v_1"}, singles)
	assert.Empty(t, clk.windows(), "no poll opened a batch")

	_, err = a.PollJob(context.Background(), PollJobInput{Kind: "hologram", HeyGenJobID: "x"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, ErrTypeUnknownJobKind, appErr.Type())
}

func TestBatcherErrorFansOut(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantType  string
		wantDelay time.Duration
		wantGets  int
	}{
		{
			name:     "5xx: every caller retries",
			err:      &heygen.APIError{Kind: heygen.KindRetryable, Op: "GET /v3/videos/statuses", Status: 502},
			wantType: heygen.KindRetryable.String(),
		},
		{
			name:     "network",
			err:      errors.New("connection reset"),
			wantType: heygen.KindRetryable.String(),
		},
		{
			name: "429 carries Retry-After to every caller",
			err: &heygen.APIError{Kind: heygen.KindRateLimited, Op: "GET /v3/videos/statuses", Status: 429,
				RetryAfter: 7 * time.Second},
			wantType: heygen.KindRateLimited.String(), wantDelay: 7 * time.Second,
		},
		{
			// One malformed ID must not spoil its 99 neighbours' polls.
			name:     "4xx: each caller asks alone",
			err:      &heygen.APIError{Kind: heygen.KindPermanent, Op: "GET /v3/videos/statuses", Status: 400},
			wantGets: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusProcessing, "v_2": heygen.StatusProcessing,
				"v_3": heygen.StatusProcessing})
			src.bulkErr = tt.err
			clk := &fakeClock{}
			settled(t, clk, src)
			a := newTestActivities(src, clk)

			res, errs := pollAll(t, a, clk, KindVideo, []string{"v_1", "v_2", "v_3"})

			videoBulk, _, singles := src.counts()
			assert.Len(t, videoBulk, 1, "one shared call")
			assert.Len(t, singles, tt.wantGets)
			for i := range errs {
				if tt.wantType == "" {
					require.NoError(t, errs[i])
					assert.Equal(t, heygen.StatusProcessing, res[i].Status)
					continue
				}
				var appErr *temporal.ApplicationError
				require.ErrorAs(t, errs[i], &appErr)
				assert.Equal(t, tt.wantType, appErr.Type())
				assert.False(t, appErr.NonRetryable())
				assert.Equal(t, tt.wantDelay, appErr.NextRetryDelay())
				assert.Contains(t, errs[i].Error(), "video statuses v_")
			}
		})
	}
}

func TestBatcherCallerCancellation(t *testing.T) {
	src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusProcessing, "v_2": heygen.StatusProcessing})
	src.gate = make(chan struct{})
	clk := &fakeClock{}
	settled(t, clk, src)
	b := newBatcher(src.VideoStatuses, testWindow)
	b.quiet = 0
	b.clock = clk

	// Two callers share a call that hangs. The one whose ctx ends leaves at once; the
	// other still gets its answer when the call returns.
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() {
		_, err := b.status(ctx1, "v_1")
		done1 <- err
	}()
	done2 := make(chan heygen.StatusEntry, 1)
	go func() {
		e, _ := b.status(context.Background(), "v_2")
		done2 <- e
	}()
	joined(t, b, 2)
	require.Equal(t, 1, clk.fire())
	require.Eventually(t, src.calling, 5*time.Second, time.Millisecond)
	cancel1()
	assert.ErrorIs(t, recv(t, done1, "the cancelled caller to leave the bulk call"), context.Canceled)
	assert.True(t, src.calling(), "the other caller still waits for the call")
	close(src.gate)
	assert.Equal(t, heygen.StatusProcessing, recv(t, done2, "the other caller's answer").Status)
}

func TestBatcherAbandonsCallNoOneWaitsFor(t *testing.T) {
	src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusProcessing})
	src.gate = make(chan struct{}) // never opened: only the ctx ends the call
	clk := &fakeClock{}
	settled(t, clk, src)
	b := newBatcher(src.VideoStatuses, testWindow)
	b.quiet = 0
	b.clock = clk

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.status(ctx, "v_1")
		done <- err
	}()
	joined(t, b, 1)
	require.Equal(t, 1, clk.fire())
	require.Eventually(t, src.calling, 5*time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, recv(t, done, "the cancelled caller to return"), context.Canceled)
	src.mu.Lock()
	callCtx := src.bulkCtx[0]
	src.mu.Unlock()
	recv(t, callCtx.Done(), "the bulk call to end with its last caller")

	// A caller whose ctx has ended joins nothing.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err := b.status(ctx, "v_2")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, clk.pending(), "no window opened")

	// A caller that leaves before the window ends takes its ID out: no call at all.
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		_, err := b.status(ctx, "v_3")
		done <- err
	}()
	joined(t, b, 1)
	b.mu.Lock()
	bt := b.open
	b.mu.Unlock()
	cancel()
	assert.ErrorIs(t, recv(t, done, "the cancelled caller to return"), context.Canceled)
	require.Equal(t, 1, clk.fire())
	recv(t, bt.done, "the empty batch to close")
	videoBulk, _, _ := src.counts()
	assert.Len(t, videoBulk, 1, "an empty batch makes no call")
}

// TestPollJobAgainstSandbox runs PollJob through the real client and the sandbox's bulk
// endpoint: the wire format and the batcher agree, and the sandbox's ground truth
// counts 2 bulk calls for 150 running jobs and one GET for the finished one.
func TestPollJobAgainstSandbox(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{RenderTime: time.Hour})
	require.NoError(t, err)
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, sb.Close())
	})
	client := heygen.NewClient(srv.URL, "", srv.Client())
	ctx := context.Background()
	var jobs []string
	for i := range 150 {
		v, err := client.CreateVideo(ctx, heygen.CreateVideoRequest{
			Body:       map[string]any{"type": "avatar", "avatar_id": "a1", "script": "Hi.", "voice_id": "v1"},
			CallbackID: fmt.Sprintf("p%d/render", i),
		})
		require.NoError(t, err)
		jobs = append(jobs, v.VideoID)
	}
	clk := &fakeClock{}
	settled(t, clk, nil)
	a := newTestActivities(client, clk)

	res, errs := pollAll(t, a, clk, KindVideo, jobs)
	for i := range jobs {
		require.NoError(t, errs[i])
		assert.False(t, res[i].Status.Terminal(), "a render of an hour is still running: %s", res[i].Status)
	}
	st := sb.Stats()
	assert.Equal(t, 2, st.BulkStatusCalls)
	assert.Equal(t, 0, st.StatusCalls)

	_, errs = pollAll(t, a, clk, KindVideo, []string{"v_nonexistent"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, errs[0], &appErr)
	assert.Equal(t, heygen.KindPermanent.String(), appErr.Type())
	st = sb.Stats()
	assert.Equal(t, 3, st.BulkStatusCalls)
	assert.Equal(t, 1, st.StatusCalls, "not_found in bulk: one single GET")
}

// TestBatcherQuietGap (issue 18): a batch goes out once no poll has joined it for the
// quiet gap, before its window ends: the last batch of a sweep's burst does not wait
// out the window idle. Every poll that joins restarts the gap, so a burst whose polls
// keep coming stays one call.
func TestBatcherQuietGap(t *testing.T) {
	src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusProcessing, "v_2": heygen.StatusProcessing})
	clk := &fakeClock{}
	settled(t, clk, src)
	b := newBatcher(src.VideoStatuses, testWindow)
	require.Equal(t, DefaultStatusBatchQuiet, b.quiet, "the default gap, shorter than the window")
	b.clock = clk

	done := make(chan heygen.StatusEntry, 2)
	for i, id := range []string{"v_1", "v_2"} {
		go func() {
			e, _ := b.status(context.Background(), id)
			done <- e
		}()
		joined(t, b, i+1)
	}
	// The window and the second poll's gap are open; the first poll's gap was stopped.
	require.Equal(t, 2, clk.pending(), "the window and one quiet gap")
	require.True(t, clk.fireLast(), "the quiet gap ends first")
	recv(t, done, "an answer")
	recv(t, done, "an answer")
	videoBulk, _, _ := src.counts()
	assert.Len(t, videoBulk, 1, "one bulk call for both")
	assert.Zero(t, clk.pending(), "the window was stopped when the gap sent the batch")
}

// fireLast fires the newest timer still pending, alone, and reports whether there was one.
func (c *fakeClock) fireLast() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.timers) - 1; i >= 0; i-- {
		if t := c.timers[i]; !t.done {
			t.done = true
			go t.f()
			return true
		}
	}
	return false
}
