package heygen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// accountDecodeCases are the account operations, read by TestClientReadsPublishedAnswers.
func accountDecodeCases() []decodeCase {
	ctx := context.Background()
	return []decodeCase{
		{"users-me", func(t *testing.T, c *Client, sh shape) {
			u, err := c.CurrentUser(ctx)
			require.NoError(t, err)
			assert.Equal(t, "username-value", u.Username)
			if sh == minimal {
				// Every nullable field is null: nothing is reported, and nothing reads as 0.
				assert.Equal(t, User{Username: "username-value"}, u)
				return
			}
			assert.Equal(t, "email-value", u.Email)
			assert.Equal(t, BillingWallet, u.BillingType, "the first published billing type")
			require.NotNil(t, u.Wallet)
			assert.Equal(t, CurrencyUSD, u.Wallet.Currency)
			require.NotNil(t, u.Wallet.RemainingBalance)
			assert.Equal(t, 12.5, *u.Wallet.RemainingBalance)
			require.NotNil(t, u.Wallet.AutoReload)
			assert.True(t, u.Wallet.AutoReload.Enabled)
			require.NotNil(t, u.Subscription)
			assert.Equal(t, "free", u.Subscription.Plan)
			require.NotNil(t, u.Subscription.Credits.PremiumCredits)
			require.NotNil(t, u.Subscription.Credits.PremiumCredits.Remaining)
			assert.Equal(t, int64(1764547200), *u.Subscription.Credits.PremiumCredits.Remaining)
			assert.Equal(t, "2026-12-01T00:00:00Z", u.Subscription.Credits.AddOnCredits.ResetsAt)
			require.NotNil(t, u.UsageBased)
			require.NotNil(t, u.UsageBased.SpendingCapUSD)
			assert.Equal(t, 12.5, *u.UsageBased.SpendingCapUSD)
		}},
	}
}

func TestCurrentUserReadsEveryBillingType(t *testing.T) {
	tests := []struct {
		name string
		body string
		want User
	}{
		{"wallet in credits",
			`{"data":{"username":"ana","email":null,"first_name":null,"last_name":null,"billing_type":"wallet",
			"wallet":{"currency":"credits","remaining_balance":40,"auto_reload":null},"subscription":null,"usage_based":null}}`,
			User{Username: "ana", BillingType: BillingWallet, Wallet: &Wallet{Currency: CurrencyCredits, RemainingBalance: ptr(40.0)}}},
		{"subscription, one pool null",
			`{"data":{"username":"ana","email":"a@x.test","first_name":"Ana","last_name":null,"billing_type":"subscription",
			"subscription":{"plan":"pro","credits":{"premium_credits":{"remaining":7,"resets_at":"2027-01-01T00:00:00Z"},"add_on_credits":null}}}}`,
			User{Username: "ana", Email: "a@x.test", FirstName: "Ana", BillingType: BillingSubscription,
				Subscription: &Subscription{Plan: "pro", Credits: SubscriptionCredits{
					PremiumCredits: &CreditPool{Remaining: ptr(int64(7)), ResetsAt: "2027-01-01T00:00:00Z"}}}}},
		{"usage based, no cap",
			`{"data":{"username":"ana","email":null,"first_name":null,"last_name":null,"billing_type":"usage_based",
			"usage_based":{"included_credits":100,"remaining_credits":0,"spending_cap_usd":null,"spending_current_usd":3.5}}}`,
			User{Username: "ana", BillingType: BillingUsageBased, UsageBased: &UsageBased{IncludedCredits: ptr(100.0),
				RemainingCredits: ptr(0.0), SpendingCurrentUSD: ptr(3.5)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := mustPublished(t, "users-me", tt.body)
			f, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, 200, body) })
			u, err := c.CurrentUser(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.want, u)
			reqs := f.requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, "GET", reqs[0].Method)
			assert.Equal(t, "/v3/users/me", reqs[0].Path)
			assert.Empty(t, reqs[0].Body)
		})
	}
}

func TestCurrentUserErrors(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		kind   ErrorKind
	}{
		{401, `{"error":{"code":"unauthorized","message":"bad key"}}`, KindPermanent},
		{200, `{"data":null}`, KindRetryable},
		{200, `{"data":{"username":"a","wallet":{"currency":"usd","remaining_balance":"lots"}}}`, KindRetryable},
		{503, ``, KindRetryable},
	} {
		t.Run(fmt.Sprint(tt.status, tt.body), func(t *testing.T) {
			_, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, tt.status, tt.body) })
			_, err := c.CurrentUser(context.Background())
			require.Error(t, err)
			assert.Equal(t, tt.kind, KindOf(err), "%v", err)
			assert.False(t, IsInsufficientCredit(err))
		})
	}
}

func TestInsufficientCredit(t *testing.T) {
	const msg = "Your account has 5 credits but this video requires 10 credits."
	ctx := context.Background()
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"402 insufficient_credit", 402, `{"error":{"code":"insufficient_credit","message":"` + msg + `","param":null,"doc_url":null}}`, true},
		{"402 without a code", 402, `{"error":{"message":"` + msg + `"}}`, true},
		{"400 other", 400, `{"error":{"code":"invalid_parameter","message":"bad"}}`, false},
		{"429 quota", 429, `{"error":{"code":"rate_limit_exceeded","message":"slow"}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) { reply(w, tt.status, tt.body) })
			_, err := c.CreateVideo(ctx, CreateVideoRequest{Body: map[string]any{"type": "avatar", "avatar_id": "a"}, IdempotencyKey: "k"})
			require.Error(t, err)
			assert.Equal(t, tt.want, IsInsufficientCredit(err))
			assert.Equal(t, tt.want, IsInsufficientCredit(fmt.Errorf("create: %w", err)), "seen through wrapping")
			if tt.want {
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, msg, ae.Message, "HeyGen's message is kept")
				assert.Equal(t, KindPermanent, ae.Kind)
			}
		})
	}
	assert.False(t, IsInsufficientCredit(nil))
	assert.False(t, IsInsufficientCredit(errors.New("402 insufficient_credit")), "only HeyGen's verdict counts")
}

func ptr[T any](v T) *T { return &v }
