package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reelflow/reelflow/heygen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kindOfStatus classifies a raw answer as heygen.Client would.
func kindOfStatus(status int) heygen.ErrorKind {
	switch {
	case status == http.StatusTooManyRequests:
		return heygen.KindRateLimited
	case status >= 500, status == http.StatusConflict:
		return heygen.KindRetryable
	}
	return heygen.KindPermanent
}

func TestFaultDuplicate(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{DuplicateRate: 1}})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	cv, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "d"})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 2 }, "two copies")
	got := rc.received()
	assert.Equal(t, got[0].body, got[1].body)
	st := e.sb.Stats()
	assert.Equal(t, 1, st.DeliveriesDuplicated)
	eventually(t, func() bool { return e.sb.Stats().JobsByCallbackID["d"].WebhooksAcked == 2 }, "both acked")
	assert.Equal(t, cv.VideoID, e.sb.Stats().JobsByCallbackID["d"].VideoID)
}

func TestFaultDelay(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{DelayRate: 1, DelayMax: 100 * time.Millisecond}})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	for i := range 5 {
		_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "d-" + strconv.Itoa(i)})
		require.NoError(t, err)
	}
	eventually(t, func() bool { return rc.count() == 5 }, "delayed deliveries arrive")
	assert.Equal(t, 5, e.sb.Stats().DeliveriesDelayed)
}

func TestFaultReorderDoesNotChangeTruth(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{ReorderRate: 1}})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	ok, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "ok"})
	require.NoError(t, err)
	bad, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody(MagicAvatarFail), CallbackID: "bad"})
	require.NoError(t, err)
	tr, err := e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("German"), CallbackID: "tr"})
	require.NoError(t, err)
	eventually(t, func() bool { return rc.count() == 6 }, "real and contradicting events")

	// Per job, the real event comes first and the contradiction second.
	order := map[string][]heygen.Outcome{}
	for _, ev := range parsed(t, rc) {
		order[ev.CallbackID] = append(order[ev.CallbackID], ev.Outcome())
	}
	assert.Equal(t, []heygen.Outcome{heygen.OutcomeSuccess, heygen.OutcomeFailure}, order["ok"])
	assert.Equal(t, []heygen.Outcome{heygen.OutcomeFailure, heygen.OutcomeSuccess}, order["bad"])
	assert.Equal(t, []heygen.Outcome{heygen.OutcomeSuccess, heygen.OutcomeFailure}, order["tr"])

	st := e.sb.Stats()
	assert.Equal(t, 3, st.DeliveriesReordered)
	assert.Equal(t, 3, st.ContradictionsSent)
	assert.Equal(t, "completed", st.JobsByCallbackID["ok"].Status)
	assert.Equal(t, "failed", st.JobsByCallbackID["bad"].Status)
	assert.Equal(t, "completed", st.JobsByCallbackID["tr"].Status)
	assert.Equal(t, 1, st.JobsByCallbackID["ok"].WebhooksAcked, "contradictions are not the job's webhooks")
	v, err := e.client.GetVideo(ctx, ok.VideoID)
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusCompleted, v.Status)
	v, err = e.client.GetVideo(ctx, bad.VideoID)
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusFailed, v.Status)
	got, err := e.client.GetTranslation(ctx, tr[0])
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusCompleted, got.Status)
}

func TestFaultReorderNeedsTheRealEventAcked(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{ReorderRate: 1}})
	rc := newReceiver(t)
	rc.status.Store(http.StatusInternalServerError)
	registerHTTP(t, e, rc, nil)
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "x"})
	require.NoError(t, err)
	eventually(t, func() bool { return e.sb.Stats().DeliveriesExhausted == 1 }, "real event abandoned")
	st := e.sb.Stats()
	assert.Zero(t, st.ContradictionsSent, "a lie is never sent alone")
	for _, ev := range parsed(t, rc) {
		assert.Equal(t, heygen.OutcomeSuccess, ev.Outcome())
	}
}

func TestFaultLateAfterPoll(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{LateRate: 1}})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "late"})
	require.NoError(t, err)
	eventually(t, func() bool { return e.sb.Stats().DeliveriesLate == 1 }, "the job ends and its delivery is held")
	st := e.sb.Stats()
	assert.Zero(t, st.Deliveries, "held, not attempted")
	assert.False(t, st.JobsByCallbackID["late"].Polled)

	entries, err := e.client.VideoStatuses(ctx, []string{cv.VideoID})
	require.NoError(t, err)
	require.Equal(t, heygen.StatusCompleted, entries[0].Status)
	eventually(t, func() bool { return rc.count() == 1 }, "sent after the poll")
	assert.True(t, e.sb.Stats().JobsByCallbackID["late"].Polled)
}

func TestFaultLateSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	rc := newReceiver(t)
	sb1, err := New(Config{StatePath: path, RenderTime: testRender, RetryBase: testRetry, Faults: Faults{LateRate: 1}})
	require.NoError(t, err)
	_, err = sb1.RegisterEndpoint(rc.srv.URL, nil)
	require.NoError(t, err)
	srv1 := httptest.NewServer(sb1.Handler())
	tr, err := heygen.NewClient(srv1.URL, "", nil).CreateTranslation(context.Background(), heygen.CreateTranslationRequest{Body: translationBody("French"), CallbackID: "p-translate-fr"})
	require.NoError(t, err)
	eventually(t, func() bool { return sb1.Stats().DeliveriesLate == 1 }, "held")
	srv1.Close()
	require.NoError(t, sb1.Close())

	e := newEnv(t, Config{StatePath: path})
	assert.Zero(t, rc.count())
	got, err := e.client.GetTranslation(context.Background(), tr[0])
	require.NoError(t, err)
	require.Equal(t, heygen.StatusCompleted, got.Status)
	eventually(t, func() bool { return rc.count() == 1 }, "released by the restarted sandbox's poll")
}

func TestFaultRateLimit(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{RateLimitRate: 1, RetryAfter: 1500 * time.Millisecond}})
	ctx := context.Background()
	_, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "r"})
	d, ok := heygen.RetryAfter(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 1500*time.Millisecond, d)
	_, err = e.client.CreateTemplateVideo(ctx, "tpl", heygen.CreateVideoRequest{Body: templateBody()})
	assert.Equal(t, heygen.KindRateLimited, heygen.KindOf(err))
	_, err = e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French")})
	assert.Equal(t, heygen.KindRateLimited, heygen.KindOf(err))
	st := e.sb.Stats()
	assert.Equal(t, 3, st.RateLimited)
	assert.Zero(t, st.Creates)

	// Faults switch at run time: the retry goes through, once.
	e.sb.SetFaults(Faults{})
	_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "r"})
	require.NoError(t, err)
	assert.Equal(t, 1, e.sb.Stats().JobsByCallbackID["r"].Creates)
}

func TestFaultConcurrencyLimit(t *testing.T) {
	e := newEnv(t, Config{RenderTime: 300 * time.Millisecond, Faults: Faults{ConcurrencyLimit: 2, RetryAfter: 50 * time.Millisecond}})
	ctx := context.Background()
	create := func(body map[string]any, cb string) error {
		_, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: body, CallbackID: cb})
		return err
	}
	require.NoError(t, create(avatarBody(MagicAvatarStuck), "c-0"))
	require.NoError(t, create(avatarBody("a1"), "c-1"))
	err := create(avatarBody("a1"), "c-2")
	d, ok := heygen.RetryAfter(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 50*time.Millisecond, d)
	_, err = e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French")})
	assert.Equal(t, heygen.KindRateLimited, heygen.KindOf(err), "every kind counts against the limit")
	st := e.sb.Stats()
	assert.Equal(t, 2, st.ConcurrencyLimited)
	assert.Equal(t, 2, st.RateLimited)

	// Both slots come back at the render's end, the stuck job's included.
	// c/0 and c/1 end a render time after their own creates, so the slots may come back
	// one at a time: each create waits for its own.
	eventually(t, func() bool { return create(avatarBody("a1"), "c-2") == nil }, "a slot frees up")
	eventually(t, func() bool { return create(avatarBody("a1"), "c-3") == nil }, "the second slot frees up")
	assert.Equal(t, 1, e.sb.Stats().JobsByCallbackID["c-2"].Creates)
}

func TestFaultServerError(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{ServerErrorRate: 1}})
	ctx := context.Background()
	_, err := e.client.CreateTemplateVideo(ctx, "tpl", heygen.CreateVideoRequest{Body: templateBody(), CallbackID: "s"})
	var ae *heygen.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusInternalServerError, ae.Status)
	assert.Equal(t, heygen.KindRetryable, ae.Kind)
	_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "s2"})
	assert.Equal(t, heygen.KindRetryable, heygen.KindOf(err))
	st := e.sb.Stats()
	assert.Equal(t, 2, st.ServerErrors)
	assert.Zero(t, st.Creates)
}

func TestFaultAmbiguousCreate(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{AmbiguousCreateRate: 1}})
	ctx := context.Background()
	body := avatarBody("a1")
	body["title"] = "welcome amb/render"
	_, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: body, CallbackID: "amb-render"})
	require.Error(t, err, "the answer is lost")
	assert.Equal(t, heygen.KindRetryable, heygen.KindOf(err))
	st := e.sb.Stats()
	require.Equal(t, 1, st.Creates, "but the job exists")
	assert.GreaterOrEqual(t, st.AmbiguousCreates, 1)
	truth := st.JobsByCallbackID["amb-render"]

	// The list finds it by title; a v3 video has no callback_id, as HeyGen publishes.
	vs, err := e.client.ListVideos(ctx, "amb/render")
	require.NoError(t, err)
	require.Len(t, vs, 1)
	assert.Equal(t, truth.VideoID, vs[0].ID)
	assert.Empty(t, vs[0].CallbackID)

	// A retry with the same Idempotency-Key returns the original.
	e.sb.SetFaults(Faults{})
	cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: body, CallbackID: "amb-render"})
	require.NoError(t, err)
	assert.Equal(t, truth.VideoID, cv.VideoID)
	st = e.sb.Stats()
	assert.Equal(t, 1, st.Creates)
	assert.Equal(t, 1, st.JobsByCallbackID["amb-render"].Creates)
	assert.GreaterOrEqual(t, st.IdempotentReplays, 1)

	// The translation route too.
	e.sb.SetFaults(Faults{AmbiguousCreateRate: 1})
	_, err = e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French"), CallbackID: "amb-tr"})
	require.Error(t, err)
	e.sb.SetFaults(Faults{})
	ids, err := e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French"), CallbackID: "amb-tr"})
	require.NoError(t, err)
	assert.Equal(t, e.sb.Stats().JobsByCallbackID["amb-tr"].VideoID, ids[0])
	assert.Equal(t, 1, e.sb.Stats().JobsByCallbackID["amb-tr"].Creates)
}

func TestIdempotencyKeyInFlight(t *testing.T) {
	e := newEnv(t, Config{})
	// Hold the key as a request still being served would.
	e.sb.mu.Lock()
	e.sb.inflight["k1"] = true
	e.sb.mu.Unlock()
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), IdempotencyKey: "k1"})
	var ae *heygen.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusConflict, ae.Status)
	assert.Equal(t, "request_in_progress", ae.Code)
	assert.Equal(t, heygen.KindRetryable, ae.Kind)
	// The key is scoped per route: the template route is free.
	mustTemplate(t, e, "tpl", templateBody(), "", "k1")
	assert.Equal(t, 1, e.sb.Stats().IdempotencyConflicts)

	// Concurrent creates with one key make exactly one job; each answer is the job or a 409.
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range ids {
		wg.Go(func() {
			cv, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "race"})
			if err == nil {
				ids[i] = cv.VideoID
			} else {
				assert.Equal(t, heygen.KindRetryable, heygen.KindOf(err), "%v", err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, e.sb.Stats().CreatesByCallbackID["race"])
	for _, id := range ids {
		if id != "" {
			assert.Equal(t, e.sb.Stats().JobsByCallbackID["race"].VideoID, id)
		}
	}
}

func TestFaultFailAndStuck(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{FailRate: 1}})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "f"})
	require.NoError(t, err)
	v := waitVideo(t, e, cv.VideoID)
	assert.Equal(t, heygen.StatusFailed, v.Status)
	assert.Equal(t, FailureCodeRenderFailed, v.FailureCode)
	eventually(t, func() bool { return rc.count() == 1 }, "fail webhook")
	assert.Equal(t, heygen.EventAvatarVideoFail, parsed(t, rc)[0].Type)

	e.sb.SetFaults(Faults{StuckRate: 1})
	stuck, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "s"})
	require.NoError(t, err)
	eventually(t, func() bool {
		e.sb.mu.Lock()
		defer e.sb.mu.Unlock()
		return e.sb.jobs[stuck.VideoID].freed // past its nominal end
	}, "due time passes")
	lv, err := e.client.GetVideo(ctx, stuck.VideoID)
	require.NoError(t, err)
	assert.Equal(t, heygen.StatusProcessing, lv.Status)
	st := e.sb.Stats()
	assert.Equal(t, 1, st.RendersFailed)
	assert.Equal(t, 1, st.RendersStuck)
	assert.True(t, st.JobsByCallbackID["s"].Stuck)
	assert.Equal(t, FailureCodeRenderFailed, st.JobsByCallbackID["f"].FailureCode)
}

func TestFaultRenderTail(t *testing.T) {
	e := newEnv(t, Config{RenderTime: 10 * time.Millisecond, Seed: 7, Faults: Faults{RenderTail: 30 * time.Millisecond}})
	for i := range 40 {
		_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "t-" + strconv.Itoa(i)})
		require.NoError(t, err)
	}
	e.sb.mu.Lock()
	var longest, shortest time.Duration = 0, time.Hour
	for _, j := range e.sb.jobs {
		d := j.DueAt.Sub(j.CreatedAt)
		longest, shortest = max(longest, d), min(shortest, d)
	}
	e.sb.mu.Unlock()
	assert.GreaterOrEqual(t, shortest, 10*time.Millisecond)
	assert.LessOrEqual(t, longest, 10*time.Millisecond+maxTailFactor*30*time.Millisecond)
	assert.Greater(t, longest-shortest, 30*time.Millisecond, "a long tail")
	eventually(t, func() bool {
		for _, s := range e.sb.Stats().Jobs {
			if s != "completed" {
				return false
			}
		}
		return true
	}, "every render ends")
}

func TestFaultsConfigAndHTTP(t *testing.T) {
	_, err := New(Config{Faults: Faults{DuplicateRate: 1.5}})
	assert.Error(t, err)
	_, err = New(Config{Faults: Faults{RenderTail: -1}})
	assert.Error(t, err)
	_, err = New(Config{LinkTTL: -1})
	assert.Error(t, err)

	e := newEnv(t, Config{DropRate: 0.25})
	assert.Equal(t, 0.25, e.sb.Faults().DropRate, "Config.DropRate is Faults.DropRate")
	e.sb.SetDropRate(2)
	assert.Equal(t, 1.0, e.sb.Faults().DropRate, "clamped")
	e.sb.SetFaults(Faults{DuplicateRate: -3, FailRate: 0.5, ConcurrencyLimit: -1})
	assert.Equal(t, Faults{FailRate: 0.5}, e.sb.Faults())

	status, _, out := postJSON(t, e, "/_sandbox/faults", `{"drop_rate":0.5,"late_rate":0.1,"delay_max":"2s","retry_after":1000000000,"concurrency_limit":3}`, nil)
	require.Equal(t, http.StatusOK, status, "%v", out)
	assert.Equal(t, "2s", out["delay_max"])
	assert.Equal(t, "1s", out["retry_after"])
	assert.Equal(t, Faults{DropRate: 0.5, LateRate: 0.1, DelayMax: 2 * time.Second, RetryAfter: time.Second, ConcurrencyLimit: 3}, e.sb.Faults())
	status, _, out = getJSON(t, e, "/_sandbox/faults")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.5, out["drop_rate"])
	for _, bad := range []string{`{"drop_rate":2}`, `{"delay_max":"soon"}`, `{"concurrency_limit":-1}`, `[]`} {
		status, _, _ = postJSON(t, e, "/_sandbox/faults", bad, nil)
		assert.Equal(t, http.StatusBadRequest, status, bad)
	}
	assert.Equal(t, 0.5, e.sb.Faults().DropRate, "refused bodies change nothing")

	// The old drop-rate route is the same knob.
	status, _, _ = postJSON(t, e, "/_sandbox/drop-rate?value=0.2", nil, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.2, e.sb.Faults().DropRate)
	assert.Equal(t, 0.1, e.sb.Faults().LateRate)
}

// TestHostileMix runs many jobs of every kind under every fault at once and checks that
// the ground truth is consistent: each callback_id made once, every job terminal unless
// stuck, and what the API reports equals the truth.
func TestHostileMix(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, Config{RenderTime: 30 * time.Millisecond, Seed: 42, LinkTTL: time.Minute, Faults: Faults{
		DropRate: 0.3, DuplicateRate: 0.3, DelayRate: 0.2, DelayMax: 50 * time.Millisecond, ReorderRate: 0.1,
		LateRate: 0.1, RateLimitRate: 0.1, RetryAfter: 10 * time.Millisecond, ServerErrorRate: 0.05,
		AmbiguousCreateRate: 0.05, FailRate: 0.05, StuckRate: 0.02, RenderTail: 20 * time.Millisecond,
	}})
	rc := newReceiver(t)
	registerHTTP(t, e, rc, nil)
	ctx := context.Background()
	const n = 300
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cb := "mix-" + strconv.Itoa(i)
			// Retry like reelflow: the Idempotency-Key makes retries safe.
			for attempt := 0; ; attempt++ {
				if !assert.Less(t, attempt, 200, cb) {
					return
				}
				var err error
				switch i % 4 {
				case 0:
					_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: cb})
				case 1:
					var status int
					_, status, err = createTemplate(e, "tpl", templateBody(), cb, cb)
					if err == nil && status != http.StatusOK {
						err = &heygen.APIError{Status: status, Kind: kindOfStatus(status)}
					}
				case 2:
					_, err = e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: studioBody(), CallbackID: cb})
				default:
					_, err = e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: translationBody("French"), CallbackID: cb})
				}
				if err == nil || !assert.False(t, heygen.IsPermanent(err), "%v", err) {
					return
				}
			}
		}()
	}
	wg.Wait()
	st := e.sb.Stats()
	require.Len(t, st.JobsByCallbackID, n)
	for cb, truth := range st.JobsByCallbackID {
		assert.Equal(t, 1, truth.Creates, cb)
	}
	eventually(t, func() bool {
		for _, truth := range e.sb.Stats().JobsByCallbackID {
			if !truth.Stuck && truth.Status != "completed" && truth.Status != "failed" {
				return false
			}
		}
		return true
	}, "every job that can end ends")
	// Poll every job once, the way reelflow's fallback does; this releases late deliveries.
	for cb, truth := range e.sb.Stats().JobsByCallbackID {
		if truth.Kind == JobKindTranslation {
			tr, err := e.client.GetTranslation(ctx, truth.VideoID)
			require.NoError(t, err)
			assert.Equal(t, truth.Status, string(tr.Status), cb)
			continue
		}
		v, err := e.client.GetVideo(ctx, truth.VideoID)
		require.NoError(t, err)
		assert.Equal(t, truth.Status, string(v.Status), cb)
	}
	eventually(t, func() bool {
		e.sb.mu.Lock()
		defer e.sb.mu.Unlock()
		return len(e.sb.deliveries) == 0
	}, "every delivery settles")
	st = e.sb.Stats()
	t.Logf("creates=%d requests=%d 429=%d 5xx=%d ambiguous=%d failed=%d stuck=%d delivered=%d dropped=%d dup=%d delayed=%d late=%d contradictions=%d",
		st.Creates, st.CreateRequests, st.RateLimited, st.ServerErrors, st.AmbiguousCreates, st.RendersFailed, st.RendersStuck,
		st.DeliveriesAcked, st.DeliveriesDropped, st.DeliveriesDuplicated, st.DeliveriesDelayed, st.DeliveriesLate, st.ContradictionsSent)
	assert.Equal(t, n, st.Creates)
	for _, c := range []int{st.RateLimited, st.ServerErrors, st.AmbiguousCreates, st.DeliveriesDropped, st.DeliveriesDuplicated, st.DeliveriesDelayed, st.DeliveriesLate} {
		assert.Positive(t, c)
	}
	// Every event a receiver acked belongs to the job's truth, except the contradictions.
	lies := 0
	for _, ev := range parsed(t, rc) {
		truth := st.JobsByCallbackID[ev.CallbackID]
		want := heygen.OutcomeSuccess
		if truth.Status == "failed" {
			want = heygen.OutcomeFailure
		}
		if ev.Outcome() != want {
			lies++
		}
	}
	assert.Equal(t, st.ContradictionsSent, lies)
}

// TestFaultFailFirst: the first FailFirst renders of a callback_id fail (RENDER_FAILED),
// the next succeeds; another callback_id has its own count.
func TestFaultFailFirst(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{FailFirst: 2}})
	ctx := context.Background()
	render := func(cb string) heygen.Video {
		cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: cb})
		require.NoError(t, err)
		return waitVideo(t, e, cv.VideoID)
	}
	for i := range 2 {
		v := render("ff/render")
		assert.Equal(t, heygen.StatusFailed, v.Status, "render %d", i+1)
		assert.Equal(t, FailureCodeRenderFailed, v.FailureCode)
	}
	assert.Equal(t, heygen.StatusCompleted, render("ff/render").Status, "the third render succeeds")
	assert.Equal(t, heygen.StatusFailed, render("other/render").Status, "each callback_id counts its own")
	require.Error(t, Faults{FailFirst: -1}.validate())
}

// TestRendersAndEnds: every job of a callback_id in create order, with its status,
// failure and Idempotency-Key, and when the latest one ended.
func TestRendersAndEnds(t *testing.T) {
	e := newEnv(t, Config{Faults: Faults{FailFirst: 1}})
	ctx := context.Background()
	var ids []string
	var dues []time.Time
	for _, key := range []string{"p:render.r1", "p:render.r1.a2"} {
		cv, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p/render", IdempotencyKey: key})
		require.NoError(t, err)
		waitVideo(t, e, cv.VideoID)
		ids = append(ids, cv.VideoID)
		e.sb.mu.Lock()
		dues = append(dues, e.sb.jobs[cv.VideoID].DueAt)
		e.sb.mu.Unlock()
	}
	got := e.sb.Renders()["p/render"]
	require.Len(t, got, 2)
	assert.Equal(t, []string{ids[0], ids[1]}, []string{got[0].VideoID, got[1].VideoID}, "in create order")
	assert.Equal(t, "failed", got[0].Status)
	assert.Equal(t, FailureCodeRenderFailed, got[0].FailureCode)
	assert.Equal(t, "completed", got[1].Status)
	assert.Equal(t, []string{"p:render.r1", "p:render.r1.a2"}, []string{got[0].IdempotencyKey, got[1].IdempotencyKey})
	assert.Equal(t, dues[1], e.sb.Ends()["p/render"], "the latest job's end")
}
