package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
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
	gate, bulkErr := s.gate, s.bulkErr
	s.mu.Unlock()
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

func (s *bulkSource) GetLegacyVideo(_ context.Context, id string) (heygen.Video, error) {
	st, err := s.single("GetLegacyVideo", id)
	return heygen.Video{ID: id, Status: st}, err
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

func (s *bulkSource) CreateLegacyVideo(context.Context, heygen.CreateVideoRequest) (heygen.CreatedVideo, error) {
	return heygen.CreatedVideo{}, errors.New("not used")
}

func (s *bulkSource) CreateTranslation(context.Context, heygen.CreateTranslationRequest) ([]string, error) {
	return nil, errors.New("not used")
}

// counts returns the bulk and single calls so far.
func (s *bulkSource) counts() (videoBulk, translationBulk [][]string, singles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.videoBulk, s.translationBulk, s.singles
}

// testWindow is long enough for every goroutine of a test to join one batch, and short
// enough to keep the tests quick.
const testWindow = 300 * time.Millisecond

// noLeak fails t when, within a deadline, the goroutine count does not fall back to
// what it was when noLeak was called.
func noLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind")
	})
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

// pollAll runs one PollJob per ID, all at once, and returns their results in order.
func pollAll(a *Activities, kind string, ids []string) ([]PollJobResult, []error) {
	res := make([]PollJobResult, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			res[i], errs[i] = a.PollJob(context.Background(), PollJobInput{Kind: kind, HeyGenJobID: id})
		})
	}
	wg.Wait()
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
	noLeak(t)
	// 150 running jobs, polled in one window: a full batch of 100 goes out at once, the
	// other 50 when the window ends. Two calls, no single GET.
	all := ids("v_", 150)
	statuses := map[string]heygen.Status{}
	for i, id := range all {
		statuses[id] = []heygen.Status{heygen.StatusPending, heygen.StatusProcessing}[i%2]
	}
	src := newBulkSource(statuses)
	a := New(src, WithStatusBatchWindow(testWindow))

	res, errs := pollAll(a, KindVideo, all)

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
}

func TestBatcherTerminalAndUnknownFallBackToOneGet(t *testing.T) {
	noLeak(t)
	src := newBulkSource(map[string]heygen.Status{
		"v_run": heygen.StatusProcessing, "v_done": heygen.StatusCompleted, "v_fail": heygen.StatusFailed,
		"v_lag": heygen.StatusProcessing, // the bulk index has not seen it yet
		"t_run": heygen.StatusProcessing, "t_done": heygen.StatusCompleted,
	})
	src.omit["v_lag"] = true
	a := New(src, WithStatusBatchWindow(testWindow))

	videos := []string{"v_run", "v_done", "v_fail", "v_lag", "v_gone", "v_run"}
	res, errs := pollAll(a, KindVideo, videos)
	tres, terrs := pollAll(a, KindTranslation, []string{"t_run", "t_done"})

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
	noLeak(t)
	src := newBulkSource(map[string]heygen.Status{"v_l": heygen.StatusProcessing, "v_1": heygen.StatusCompleted})
	a := New(src, WithStatusBatchWindow(testWindow))

	// Legacy v2 videos have no bulk endpoint; Details means the caller knows the job is
	// over, so a bulk call would only come on top of the GET.
	r, err := a.PollJob(context.Background(), PollJobInput{Kind: KindLegacyVideo, HeyGenJobID: "v_l"})
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusProcessing, r.Status)
	r, err = a.PollJob(context.Background(), PollJobInput{Kind: KindVideo, HeyGenJobID: "v_1", Details: true})
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
	assert.Equal(t, []string{"GetLegacyVideo v_l", "GetVideo v_1", "GetVideo v_1"}, singles)

	_, err = a.PollJob(context.Background(), PollJobInput{Kind: "hologram", HeyGenJobID: "x"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, ErrUnknownJobKind, appErr.Type())
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
			noLeak(t)
			src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusProcessing, "v_2": heygen.StatusProcessing,
				"v_3": heygen.StatusProcessing})
			src.bulkErr = tt.err
			a := New(src, WithStatusBatchWindow(testWindow))

			res, errs := pollAll(a, KindVideo, []string{"v_1", "v_2", "v_3"})

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
	noLeak(t)
	src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusProcessing, "v_2": heygen.StatusProcessing})
	src.gate = make(chan struct{})
	b := newBatcher(src.VideoStatuses, 20*time.Millisecond)

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
	require.Eventually(t, func() bool { v, _, _ := src.counts(); return len(v) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel1()
	select {
	case err := <-done1:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled caller kept waiting for the bulk call")
	}
	close(src.gate)
	assert.Equal(t, heygen.StatusProcessing, recv(t, done2, "the other caller's answer").Status)
}

func TestBatcherAbandonsCallNoOneWaitsFor(t *testing.T) {
	noLeak(t)
	src := newBulkSource(map[string]heygen.Status{"v_1": heygen.StatusProcessing})
	src.gate = make(chan struct{}) // never opened: only the ctx ends the call
	b := newBatcher(src.VideoStatuses, 20*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.status(ctx, "v_1")
		done <- err
	}()
	require.Eventually(t, func() bool { v, _, _ := src.counts(); return len(v) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	assert.ErrorIs(t, recv(t, done, "the cancelled caller to return"), context.Canceled)
	src.mu.Lock()
	callCtx := src.bulkCtx[0]
	src.mu.Unlock()
	select {
	case <-callCtx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the bulk call outlived its last caller")
	}

	// A caller that leaves before the window ends takes its ID out: no call at all.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err := b.status(ctx, "v_2")
	assert.ErrorIs(t, err, context.Canceled)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	_, err = b.status(ctx, "v_3")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.open == nil
	}, 5*time.Second, 5*time.Millisecond)
	videoBulk, _, _ := src.counts()
	assert.Len(t, videoBulk, 1, "an empty batch makes no call")
}

func TestBatcherDefaultWindow(t *testing.T) {
	a := New(newBulkSource(nil))
	require.NotNil(t, a.videoStatuses)
	assert.Equal(t, DefaultStatusBatchWindow, a.videoStatuses.window)
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
	a := New(client, WithStatusBatchWindow(testWindow))

	res, errs := pollAll(a, KindVideo, jobs)
	for i := range jobs {
		require.NoError(t, errs[i])
		assert.False(t, res[i].Status.Terminal(), "a render of an hour is still running: %s", res[i].Status)
	}
	st := sb.Stats()
	assert.Equal(t, 2, st.BulkStatusCalls)
	assert.Equal(t, 0, st.StatusCalls)

	_, errs = pollAll(a, KindVideo, []string{"v_nonexistent"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, errs[0], &appErr)
	assert.Equal(t, heygen.KindPermanent.String(), appErr.Type())
	st = sb.Stats()
	assert.Equal(t, 3, st.BulkStatusCalls)
	assert.Equal(t, 1, st.StatusCalls, "not_found in bulk: one single GET")
}
