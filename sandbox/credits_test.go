package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/heygen"
)

func TestCreditCost(t *testing.T) {
	for _, tc := range []struct {
		seconds float64
		want    int64
	}{{0, 1}, {-3, 1}, {1.5, 1}, {60, 1}, {60.01, 2}, {120, 2}, {121, 3}, {3600, 60}} {
		assert.Equal(t, tc.want, CreditCost(tc.seconds), "%v s", tc.seconds)
	}
}

// scriptOf is a script whose spoken length (15 characters a second) costs credits credits.
func scriptOf(credits int) string {
	return strings.Repeat("x", (credits-1)*60*15+15)
}

// videoCosting is an avatar body that costs credits credits.
func videoCosting(credits int) map[string]any {
	b := avatarBody("a1")
	b["script"] = scriptOf(credits)
	return b
}

func credits(n int64) *int64 { return &n }

func TestCreditsChargedAndRefused(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute, Credits: credits(5)})
	ctx := context.Background()
	create := func(credits int, cb string) error {
		_, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: videoCosting(credits), CallbackID: cb})
		return err
	}
	require.NoError(t, create(1, "c-1"))
	require.NoError(t, create(2, "c-2"))
	left, limited := e.sb.Credits()
	assert.True(t, limited)
	assert.Equal(t, int64(2), left)

	err := create(3, "c-3")
	require.True(t, heygen.IsInsufficientCredit(err), "%v", err)
	var ae *heygen.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusPaymentRequired, ae.Status)
	assert.Equal(t, heygen.CodeInsufficientCredit, ae.Code)
	assert.Equal(t, "Your account has 2 credits but this video requires 3 credits.", ae.Message)

	// Translations are charged per language; a sandbox source gives its own length.
	src, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: videoCosting(1), CallbackID: "src"})
	require.NoError(t, err)
	body := translationBody("French", "German")
	body["video"] = map[string]any{"type": "url", "url": e.srv.URL + "/files/" + src.VideoID + ".mp4"}
	_, err = e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: body})
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "Your account has 1 credits but this translation requires 2 credits.", ae.Message)
	body["output_languages"] = []any{"French"}
	_, err = e.client.CreateTranslation(ctx, heygen.CreateTranslationRequest{Body: body})
	require.NoError(t, err)

	st := e.sb.Stats()
	assert.Equal(t, 2, st.InsufficientCredit)
	assert.Zero(t, st.InsufficientCreditReplays)
	assert.Equal(t, int64(5), st.CreditsSpent)
	assert.Equal(t, 4, st.Creates, "a refused create makes nothing")
	assert.NotContains(t, st.CreatesByCallbackID, "c-3")
	left, _ = e.sb.Credits()
	assert.Zero(t, left)
}

// TestRefusedKeyReplaysAfterTopUp is the cautious reading of HeyGen's 24 h replay: a
// refused Idempotency-Key keeps its 402 even once there is credit, and only a fresh key
// creates.
func TestRefusedKeyReplaysAfterTopUp(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute, Credits: credits(0)})
	body := videoCosting(1)
	body["callback_id"] = "p/render"
	refusedKey := map[string]string{"Idempotency-Key": "p.render:run-1"}

	status, _, out := postJSON(t, e, "/v3/videos", body, refusedKey)
	require.Equal(t, http.StatusPaymentRequired, status)
	wantErr := map[string]any{"code": "insufficient_credit", "param": nil, "doc_url": nil,
		"message": "Your account has 0 credits but this video requires 1 credits."}
	assert.Equal(t, wantErr, out["error"])

	status, _, _ = postJSON(t, e, "/_sandbox/credits", map[string]any{"remaining": 10}, nil)
	require.Equal(t, http.StatusOK, status)

	status, hdr, again := postJSON(t, e, "/v3/videos", body, refusedKey)
	assert.Equal(t, http.StatusPaymentRequired, status, "the refused key's answer is replayed")
	assert.Equal(t, "true", hdr.Get("Idempotent-Replayed"))
	assert.Equal(t, out, again, "byte for byte the first answer, with the balance of then")
	assert.Zero(t, e.sb.Stats().Creates)

	status, _, made := postJSON(t, e, "/v3/videos", body, map[string]string{"Idempotency-Key": "p.render:run-1.credit-1"})
	require.Equal(t, http.StatusOK, status, "a fresh key after the top-up creates")
	assert.NotEmpty(t, made["data"].(map[string]any)["video_id"])

	st := e.sb.Stats()
	assert.Equal(t, 2, st.InsufficientCredit)
	assert.Equal(t, 1, st.InsufficientCreditReplays)
	assert.Equal(t, 1, st.IdempotentReplays)
	assert.Equal(t, 1, st.Creates)
	assert.Equal(t, 1, st.JobsByCallbackID["p/render"].Creates, "one create per callback_id")
	left, _ := e.sb.Credits()
	assert.Equal(t, int64(9), left)
}

// TestRefusedKeyForgottenAfter24h: HeyGen replays a key's answer for 24 hours, so after
// that the refused key is free again.
func TestRefusedKeyForgottenAfter24h(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute, Credits: credits(0)})
	key := map[string]string{"Idempotency-Key": "k-old"}
	status, _, _ := postJSON(t, e, "/v3/videos", videoCosting(1), key)
	require.Equal(t, http.StatusPaymentRequired, status)
	require.NoError(t, e.sb.SetCredits(1))
	e.sb.mu.Lock()
	e.sb.idem["k-old"].At = time.Now().Add(-idempotencyTTL - time.Second)
	e.sb.mu.Unlock()
	status, hdr, _ := postJSON(t, e, "/v3/videos", videoCosting(1), key)
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, hdr.Get("Idempotent-Replayed"))
	assert.Equal(t, 1, e.sb.Stats().Creates)
}

func TestRefusedKeySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e1 := newEnv(t, Config{StatePath: path, RenderTime: time.Minute, Credits: credits(0)})
	key := map[string]string{"Idempotency-Key": "k-1"}
	status, _, _ := postJSON(t, e1, "/v3/videos", videoCosting(1), key)
	require.Equal(t, http.StatusPaymentRequired, status)
	require.NoError(t, e1.sb.SetCredits(4))
	require.NoError(t, e1.sb.Close())

	// No Config.Credits: the saved balance is kept, and so is the refused key.
	e2 := newEnv(t, Config{StatePath: path, RenderTime: time.Minute})
	left, limited := e2.sb.Credits()
	assert.True(t, limited)
	assert.Equal(t, int64(4), left)
	status, _, _ = postJSON(t, e2, "/v3/videos", videoCosting(1), key)
	assert.Equal(t, http.StatusPaymentRequired, status)
	require.NoError(t, e2.sb.Close())

	// Config.Credits replaces the saved balance.
	e3 := newEnv(t, Config{StatePath: path, RenderTime: time.Minute, Credits: credits(1)})
	left, _ = e3.sb.Credits()
	assert.Equal(t, int64(1), left)
}

func TestCreditsEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		want   any // remaining after the call, nil for unlimited
	}{
		{"top up", `{"remaining": 7}`, 200, float64(7)},
		{"to zero", `{"remaining": 0}`, 200, float64(0)},
		{"unlimited", `{"remaining": null}`, 200, nil},
		{"not JSON", `{"remaining": `, 400, float64(3)},
		{"not an object", `[5]`, 400, float64(3)},
		{"missing", `{"credits": 5}`, 400, float64(3)},
		{"negative", `{"remaining": -1}`, 400, float64(3)},
		{"fraction", `{"remaining": 1.5}`, 400, float64(3)},
		{"a string", `{"remaining": "5"}`, 400, float64(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{Credits: credits(3)})
			status, _, out := postJSON(t, e, "/_sandbox/credits", tt.body, nil)
			assert.Equal(t, tt.status, status, "%v", out)
			if tt.status == 400 {
				errBody := out["error"].(map[string]any)
				assert.Contains(t, []any{"invalid_parameter", "invalid_request"}, errBody["code"])
				assert.NotEmpty(t, errBody["message"])
			}
			_, _, got := getJSON(t, e, "/_sandbox/credits")
			assert.Equal(t, tt.want, got["remaining"])
			assert.Equal(t, BillingWallet, got["billing_type"])
		})
	}
}

// TestUsersMe holds GET /v3/users/me to the contract (newEnv's CheckContract) for every
// billing type, balance and answer shape, and checks the balance the client reads.
func TestUsersMe(t *testing.T) {
	for _, billing := range []string{"", BillingWallet, BillingSubscription, BillingUsageBased} {
		for _, answers := range []Answers{AnswersFull, AnswersNull, AnswersOmit} {
			for _, limited := range []bool{true, false} {
				name := billing + "/" + string(answers) + "/limited=" + map[bool]string{true: "yes", false: "no"}[limited]
				t.Run(name, func(t *testing.T) {
					cfg := Config{Billing: billing, Answers: answers}
					if limited {
						cfg.Credits = credits(12)
					}
					e := newEnv(t, cfg)
					u, err := e.client.CurrentUser(context.Background())
					require.NoError(t, err)
					assert.Equal(t, "sandbox", u.Username)
					assert.Equal(t, 1, e.sb.Stats().UsersMeCalls)
					assert.Equal(t, int64(1), e.sb.ContractChecked())
					checkReported(t, u, cmpOr(billing, BillingWallet), limited)
				})
			}
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkReported checks the balance of 12 credits (or none, when unlimited) in the one
// billing object of the billing type.
func checkReported(t *testing.T, u heygen.User, billing string, limited bool) {
	t.Helper()
	assert.Equal(t, billing, u.BillingType)
	switch billing {
	case BillingWallet:
		require.NotNil(t, u.Wallet)
		assert.Nil(t, u.Subscription)
		assert.Equal(t, heygen.CurrencyCredits, u.Wallet.Currency)
		if limited {
			require.NotNil(t, u.Wallet.RemainingBalance)
			assert.Equal(t, 12.0, *u.Wallet.RemainingBalance)
		} else {
			assert.Nil(t, u.Wallet.RemainingBalance)
		}
	case BillingSubscription:
		require.NotNil(t, u.Subscription)
		assert.Nil(t, u.Wallet)
		require.NotNil(t, u.Subscription.Credits.PremiumCredits)
		if limited {
			assert.Equal(t, int64(12), *u.Subscription.Credits.PremiumCredits.Remaining)
		} else {
			assert.Nil(t, u.Subscription.Credits.PremiumCredits.Remaining)
		}
	case BillingUsageBased:
		require.NotNil(t, u.UsageBased)
		if limited {
			assert.Equal(t, 12.0, *u.UsageBased.RemainingCredits)
			assert.Equal(t, 0.0, *u.UsageBased.SpendingCapUSD)
		} else {
			assert.Nil(t, u.UsageBased.RemainingCredits)
			assert.Nil(t, u.UsageBased.SpendingCapUSD, "no cap")
		}
	}
}

func TestAccountConcurrencyLimit(t *testing.T) {
	e := newEnv(t, Config{RenderTime: time.Minute, ConcurrencyLimit: 2, Faults: Faults{RetryAfter: 20 * time.Millisecond}})
	ctx := context.Background()
	create := func(cb string) error {
		_, err := e.client.CreateVideo(ctx, heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: cb})
		return err
	}
	require.NoError(t, create("c-1"))
	e.sb.SetFaults(Faults{RetryAfter: 20 * time.Millisecond}) // faults do not clear the account's limit
	require.NoError(t, create("c-2"))
	err := create("c-3")
	assert.Equal(t, heygen.KindRateLimited, heygen.KindOf(err), "%v", err)
	assert.Contains(t, err.Error(), "2 jobs in flight, the plan allows 2")

	e.sb.SetConcurrencyLimit(3)
	require.NoError(t, create("c-3"))
	e.sb.SetFaults(Faults{ConcurrencyLimit: 1}) // the lower of the two wins
	assert.Equal(t, heygen.KindRateLimited, heygen.KindOf(create("c-4")))
	e.sb.SetFaults(Faults{})
	e.sb.SetConcurrencyLimit(0)
	require.NoError(t, create("c-4"))
	assert.Equal(t, 2, e.sb.Stats().ConcurrencyLimited)
}

func TestAccountConfigRefused(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative credits":     {Credits: credits(-1)},
		"unknown billing":      {Billing: "barter"},
		"negative concurrency": {ConcurrencyLimit: -2},
	} {
		_, err := New(cfg)
		assert.Error(t, err, name)
	}
	sb, err := New(Config{})
	require.NoError(t, err)
	defer sb.Close()
	assert.Error(t, sb.SetCredits(-5))
	_, limited := sb.Credits()
	assert.False(t, limited, "unlimited by default")
}

// BenchmarkCreateCredits measures a create through the handler with no balance (the
// baseline), with a balance that is charged, and refused with 402 (each a fresh key, so
// each 402 is remembered), to show what the account's bookkeeping costs.
func BenchmarkCreateCredits(b *testing.B) {
	for _, bc := range []struct {
		name    string
		credits *int64
		status  int
	}{
		{"unlimited", nil, http.StatusOK},
		{"charged", credits(1 << 40), http.StatusOK},
		{"refused", credits(0), http.StatusPaymentRequired},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sb, err := New(Config{RenderTime: time.Hour, Credits: bc.credits})
			require.NoError(b, err)
			defer sb.Close()
			h := sb.Handler()
			body, err := json.Marshal(avatarBody("a1"))
			require.NoError(b, err)
			for i := 0; b.Loop(); i++ {
				req := httptest.NewRequest(http.MethodPost, "/v3/videos", bytes.NewReader(body))
				req.Header.Set("Idempotency-Key", "k"+strconv.Itoa(i))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != bc.status {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
