package heygen

import (
	"context"
	"errors"
	"net/http"
)

// The billing types of GET /v3/users/me. Exactly one of User's billing objects is filled
// in to match.
const (
	BillingWallet       = "wallet"
	BillingSubscription = "subscription"
	BillingUsageBased   = "usage_based"
)

// The currencies of a wallet.
const (
	CurrencyUSD     = "usd"
	CurrencyCredits = "credits"
)

// CodeInsufficientCredit is HeyGen's error code for a create the account cannot pay for,
// answered with 402 (HeyGen's error-code reference).
const CodeInsufficientCredit = "insufficient_credit"

// User is the account behind the API key, as GET /v3/users/me answers it. Every field
// the contract makes nullable is a pointer or reads null as empty, so that "not reported"
// stays apart from zero where a caller decides on it (a balance).
type User struct {
	Username  string `json:"username"`
	Email     string `json:"email,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	// BillingType is BillingWallet, BillingSubscription, BillingUsageBased, or "" when
	// HeyGen sends null.
	BillingType  string        `json:"billing_type,omitempty"`
	Wallet       *Wallet       `json:"wallet,omitempty"`
	Subscription *Subscription `json:"subscription,omitempty"`
	UsageBased   *UsageBased   `json:"usage_based,omitempty"`
}

// Wallet is a prepaid balance.
type Wallet struct {
	Currency string `json:"currency"` // CurrencyUSD or CurrencyCredits
	// RemainingBalance is in Currency; nil when HeyGen sends null.
	RemainingBalance *float64    `json:"remaining_balance"`
	AutoReload       *AutoReload `json:"auto_reload,omitempty"`
}

// AutoReload is a wallet's automatic top-up.
type AutoReload struct {
	Enabled      bool     `json:"enabled"`
	AmountUSD    *float64 `json:"amount_usd,omitempty"`
	ThresholdUSD *float64 `json:"threshold_usd,omitempty"`
}

// Subscription is a plan with credits that reset.
type Subscription struct {
	Plan    string              `json:"plan"`
	Credits SubscriptionCredits `json:"credits"`
}

// SubscriptionCredits are a subscription's two pools, either of which may be null.
type SubscriptionCredits struct {
	PremiumCredits *CreditPool `json:"premium_credits,omitempty"`
	AddOnCredits   *CreditPool `json:"add_on_credits,omitempty"`
}

// CreditPool is one pool of subscription credits.
type CreditPool struct {
	Remaining *int64 `json:"remaining"` // nil when HeyGen sends null
	ResetsAt  string `json:"resets_at,omitempty"`
}

// UsageBased is pay-as-you-go billing: included credits first, then spending up to a cap.
type UsageBased struct {
	IncludedCredits    *float64 `json:"included_credits,omitempty"`
	RemainingCredits   *float64 `json:"remaining_credits,omitempty"`
	SpendingCapUSD     *float64 `json:"spending_cap_usd,omitempty"` // nil: no cap
	SpendingCurrentUSD *float64 `json:"spending_current_usd,omitempty"`
}

// CurrentUser calls GET /v3/users/me: the account, its billing type and its balance.
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	var out User
	_, err := c.do(ctx, http.MethodGet, "/v3/users/me", nil, "", &out)
	return out, err
}

// IsInsufficientCredit reports whether err is HeyGen refusing a call because the account
// cannot pay for it: 402, or the code insufficient_credit. The error's Message is HeyGen's
// own, e.g. "Your account has 5 credits but this video requires 10 credits.". Such a
// create made nothing; its kind stays KindPermanent, since retrying it at once cannot help.
func IsInsufficientCredit(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Status == http.StatusPaymentRequired || ae.Code == CodeInsufficientCredit
}
