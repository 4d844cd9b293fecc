package activities

import (
	"context"
	"errors"
)

// ErrTypeInsufficientCredit is the ApplicationError type of a create that HeyGen refused
// with 402 insufficient_credit. It is non-retryable for the activity: the Job hands it to
// the account scheduler, which pauses the account until the balance is back, and then
// creates again under a fresh Idempotency-Key (a refused create made nothing).
const ErrTypeInsufficientCredit = "InsufficientCredit"

// CheckBalanceInput asks for the account's balance.
type CheckBalanceInput struct {
	// MinBalance is the reserve to keep (--heygen-min-balance): a balance at or under it
	// is not enough. 0 keeps none.
	MinBalance float64 `json:"min_balance,omitempty"`
}

// CheckBalanceResult is the account's balance, read through GET /v3/users/me, whatever
// its billing type (wallet, subscription, usage-based).
type CheckBalanceResult struct {
	BillingType string  `json:"billing_type,omitempty"`
	Remaining   float64 `json:"remaining"`
	Unit        string  `json:"unit,omitempty"` // "usd" or "credits"
	// Enough reports whether the balance is above MinBalance (and above 0).
	Enough bool `json:"enough"`
	// Message says what was read, for the scheduler's pause reason.
	Message string `json:"message,omitempty"`
}

// CheckBalance reads the account's balance. (Being implemented in this round's
// HeyGen-edge work: GET /v3/users/me through the heygen client.)
func (a *Activities) CheckBalance(ctx context.Context, in CheckBalanceInput) (CheckBalanceResult, error) {
	return CheckBalanceResult{}, errors.New("check balance: not implemented yet")
}
