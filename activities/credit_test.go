package activities_test

import (
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.uber.org/zap"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/sandbox"
)

// usersMe wraps a data object in the answer of GET /v3/users/me.
func usersMe(data string) string {
	return `{"data":{"username":"ana","email":null,"first_name":null,"last_name":null,` + data + `}}`
}

func TestCheckBalancePerBillingType(t *testing.T) {
	tests := []struct {
		name string
		body string
		min  float64
		want activities.CheckBalanceResult
	}{
		{"wallet in usd", usersMe(`"billing_type":"wallet","wallet":{"currency":"usd","remaining_balance":12.5}`), 0,
			activities.CheckBalanceResult{BillingType: "wallet", Remaining: 12.5, Unit: "usd", Enough: true, Message: "wallet: $12.50 left"}},
		{"wallet in credits, at the reserve", usersMe(`"billing_type":"wallet","wallet":{"currency":"credits","remaining_balance":10}`), 10,
			activities.CheckBalanceResult{BillingType: "wallet", Remaining: 10, Unit: "credits", Enough: false,
				Message: "wallet: 10 credits left (reserve 10 credits)"}},
		{"wallet empty", usersMe(`"billing_type":"wallet","wallet":{"currency":"credits","remaining_balance":0}`), 0,
			activities.CheckBalanceResult{BillingType: "wallet", Remaining: 0, Unit: "credits", Enough: false, Message: "wallet: 0 credits left"}},
		{"wallet overdrawn", usersMe(`"billing_type":"wallet","wallet":{"currency":"usd","remaining_balance":-2}`), 0,
			activities.CheckBalanceResult{BillingType: "wallet", Remaining: -2, Unit: "usd", Enough: false, Message: "wallet: $-2.00 left"}},
		{"subscription, both pools", usersMe(`"billing_type":"subscription","subscription":{"plan":"pro","credits":{
			"premium_credits":{"remaining":7,"resets_at":null},"add_on_credits":{"remaining":5,"resets_at":null}}}`), 0,
			activities.CheckBalanceResult{BillingType: "subscription", Remaining: 12, Unit: "credits", Enough: true,
				Message: "subscription (pro): 7 premium and 5 add-on credits left"}},
		{"subscription, add-on null, under the reserve", usersMe(`"billing_type":"subscription","subscription":{"plan":"team","credits":{
			"premium_credits":{"remaining":3},"add_on_credits":null}}`), 5,
			activities.CheckBalanceResult{BillingType: "subscription", Remaining: 3, Unit: "credits", Enough: false,
				Message: "subscription (team): 3 premium and 0 add-on credits left (reserve 5 credits)"}},
		{"usage based, included credits left", usersMe(`"billing_type":"usage_based","usage_based":{
			"included_credits":100,"remaining_credits":40,"spending_cap_usd":50,"spending_current_usd":0}`), 0,
			activities.CheckBalanceResult{BillingType: "usage_based", Remaining: 40, Unit: "credits", Enough: true,
				Message: "usage-based: 40 credits left"}},
		{"usage based, credits spent, room under the cap", usersMe(`"billing_type":"usage_based","usage_based":{
			"included_credits":100,"remaining_credits":0,"spending_cap_usd":50,"spending_current_usd":20}`), 0,
			activities.CheckBalanceResult{BillingType: "usage_based", Remaining: 30, Unit: "usd", Enough: true,
				Message: "usage-based: 0 credits left, $30.00 of the $50.00 spending cap left"}},
		{"usage based, cap reached", usersMe(`"billing_type":"usage_based","usage_based":{
			"remaining_credits":0,"spending_cap_usd":50,"spending_current_usd":50.5}`), 0,
			activities.CheckBalanceResult{BillingType: "usage_based", Remaining: 0, Unit: "usd", Enough: false,
				Message: "usage-based: 0 credits left, $0.00 of the $50.00 spending cap left"}},
		{"usage based, no cap: HeyGen decides", usersMe(`"billing_type":"usage_based","usage_based":{
			"remaining_credits":0,"spending_cap_usd":null,"spending_current_usd":900}`), 0,
			activities.CheckBalanceResult{BillingType: "usage_based", Remaining: 0, Unit: "credits", Enough: true,
				Message: "usage-based: 0 credits left and no spending cap; the next create will tell"}},
		{"billing type null, inferred from the one object", usersMe(`"billing_type":null,"wallet":{"currency":"credits","remaining_balance":3}`), 0,
			activities.CheckBalanceResult{BillingType: "wallet", Remaining: 3, Unit: "credits", Enough: true, Message: "wallet: 3 credits left"}},
		{"nothing reported: HeyGen decides", usersMe(`"billing_type":null`), 0,
			activities.CheckBalanceResult{Enough: true, Message: `billing type "": HeyGen reports no balance; the next create will tell`}},
		{"wallet balance null: HeyGen decides", usersMe(`"billing_type":"wallet","wallet":{"currency":"usd","remaining_balance":null}`), 0,
			activities.CheckBalanceResult{BillingType: "wallet", Enough: true,
				Message: `billing type "wallet": HeyGen reports no balance; the next create will tell`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: 200, body: tt.body}
			env, a := newEnv(t, f)
			val, err := env.ExecuteActivity(a.CheckBalance, activities.CheckBalanceInput{MinBalance: tt.min})
			require.NoError(t, err)
			var got activities.CheckBalanceResult
			require.NoError(t, val.Get(&got))
			assert.Equal(t, tt.want, got)
			require.Len(t, f.requests, 1)
			assert.Equal(t, "GET /v3/users/me", f.requests[0].method+" "+f.requests[0].path)
			assert.Equal(t, apiKey, f.requests[0].apiKey)
		})
	}
}

func TestCheckBalanceErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		min      float64
		wantType string
		retry    bool
	}{
		{"bad key", 401, 0, heygen.KindPermanent.String(), false},
		{"HeyGen down", 503, 0, heygen.KindRetryable.String(), true},
		{"rate limited", 429, 0, heygen.KindRateLimited.String(), true},
		{"negative reserve", 200, -1, activities.ErrTypeInvalidMinBalance, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeHeyGen{status: tt.status, body: `{"error":{"code":"x","message":"no"}}`}
			env, a := newEnv(t, f)
			_, err := env.ExecuteActivity(a.CheckBalance, activities.CheckBalanceInput{MinBalance: tt.min})
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "got %v", err)
			assert.Equal(t, tt.wantType, appErr.Type())
			assert.Equal(t, !tt.retry, appErr.NonRetryable())
		})
	}
}

func TestCreateJobInsufficientCredit(t *testing.T) {
	const msg = "Your account has 5 credits but this video requires 10 credits."
	refused := `{"error":{"code":"insufficient_credit","message":"` + msg + `","param":null,"doc_url":null}}`
	for _, in := range []activities.CreateJobInput{
		{CallbackID: "p/render", Kind: activities.KindVideo, Body: map[string]any{"type": "avatar", "avatar_id": "a"}, IdempotencyKey: "p.render:r1"},
		{CallbackID: "p/render", Kind: activities.KindTemplate, TemplateID: "tpl", Body: map[string]any{"variables": map[string]any{}}},
		{CallbackID: "p/translate/es", Kind: activities.KindTranslation, Body: map[string]any{"output_languages": []any{"Spanish"}}},
	} {
		t.Run(in.Kind, func(t *testing.T) {
			f := &fakeHeyGen{status: 402, body: refused}
			env, a := newEnv(t, f)
			_, err := env.ExecuteActivity(a.CreateJob, in)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "got %v", err)
			assert.Equal(t, activities.ErrTypeInsufficientCredit, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			assert.Equal(t, msg, appErr.Message(), "HeyGen's message, for the pause reason")
			assert.Contains(t, err.Error(), "402 insufficient_credit", "the cause keeps the status and code")
		})
	}
	// Other permanent refusals keep their HeyGen kind.
	f := &fakeHeyGen{status: 400, body: `{"error":{"code":"invalid_parameter","message":"bad"}}`}
	env, a := newEnv(t, f)
	_, err := env.ExecuteActivity(a.CreateJob, activities.CreateJobInput{CallbackID: "p/render", Kind: activities.KindVideo,
		Body: map[string]any{"type": "avatar", "avatar_id": "a"}})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	assert.Equal(t, heygen.KindPermanent.String(), appErr.Type())
}

// TestCheckBalanceOnTheSandbox reads the sandbox's account in each billing type, before
// and after its credit runs out, and has a create refused for lack of credit.
func TestCheckBalanceOnTheSandbox(t *testing.T) {
	for _, billing := range []string{sandbox.BillingWallet, sandbox.BillingSubscription, sandbox.BillingUsageBased} {
		t.Run(billing, func(t *testing.T) {
			opening := int64(2)
			sb, err := sandbox.New(sandbox.Config{RenderTime: time.Minute, Logger: zap.NewNop(), Billing: billing, Credits: &opening})
			require.NoError(t, err)
			t.Cleanup(func() { _ = sb.Close() })
			srv := httptest.NewServer(sb.Handler())
			t.Cleanup(srv.Close)
			var s testsuite.WorkflowTestSuite
			s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
			env := s.NewTestActivityEnvironment()
			a := activities.New(heygen.NewClient(srv.URL, "sandbox", nil), activities.WithStatusBatchWindow(0))
			env.RegisterActivity(a)

			check := func(min float64) activities.CheckBalanceResult {
				val, err := env.ExecuteActivity(a.CheckBalance, activities.CheckBalanceInput{MinBalance: min})
				require.NoError(t, err)
				var res activities.CheckBalanceResult
				require.NoError(t, val.Get(&res))
				return res
			}
			res := check(0)
			assert.Equal(t, billing, res.BillingType)
			assert.Equal(t, 2.0, res.Remaining)
			assert.Equal(t, "credits", res.Unit)
			assert.True(t, res.Enough, res.Message)
			assert.False(t, check(2).Enough, "at the reserve")

			in := activities.CreateJobInput{CallbackID: "p/render", Kind: activities.KindVideo, IdempotencyKey: "p.render:r1",
				Body: map[string]any{"type": "avatar", "avatar_id": "a1", "voice_id": "v1", "script": strings.Repeat("x", 2000)}}
			_, err = env.ExecuteActivity(a.CreateJob, in)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "got %v", err)
			assert.Equal(t, activities.ErrTypeInsufficientCredit, appErr.Type())
			assert.Equal(t, "Your account has 2 credits but this video requires 3 credits.", appErr.Message())

			require.NoError(t, sb.SetCredits(0))
			res = check(0)
			assert.Zero(t, res.Remaining)
			assert.False(t, res.Enough, res.Message)
			st := sb.Stats()
			assert.Equal(t, 3, st.UsersMeCalls)
			assert.Equal(t, 1, st.InsufficientCredit)
			assert.Zero(t, st.Creates)
		})
	}
}
