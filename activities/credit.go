package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.temporal.io/sdk/temporal"

	"github.com/reelflow/reelflow/heygen"
)

// balanceSource is the account call CheckBalance makes. *heygen.Client has it.
type balanceSource interface {
	CurrentUser(ctx context.Context) (heygen.User, error)
}

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

// Units of CheckBalanceResult.
const (
	UnitUSD     = heygen.CurrencyUSD
	UnitCredits = heygen.CurrencyCredits
)

// CheckBalance reads the account's balance through GET /v3/users/me. The remaining
// balance is, by billing type:
//   - wallet: remaining_balance, in the wallet's currency (usd or credits);
//   - subscription: the remaining premium credits plus the remaining add-on credits;
//   - usage_based: the remaining included credits while there are any, then what is left
//     under the spending cap in usd (cap minus current spending).
//
// Enough is Remaining > MinBalance and Remaining > 0, in that unit. A balance HeyGen does
// not report (a null field, an unknown billing type, usage-based without a spending cap)
// cannot be judged here, so it reads as enough: the next create asks HeyGen, and a refused
// create makes nothing and costs nothing. Errors are the HeyGen kinds of applicationError,
// so a caller retries a 5xx or a 429 and stops on a bad key.
func (a *Activities) CheckBalance(ctx context.Context, in CheckBalanceInput) (CheckBalanceResult, error) {
	if in.MinBalance < 0 {
		return CheckBalanceResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("check balance: min balance %v is negative", in.MinBalance), ErrTypeInvalidMinBalance, nil)
	}
	u, err := a.heygen.CurrentUser(ctx)
	if err != nil {
		return CheckBalanceResult{}, applicationError("check balance", err)
	}
	return balanceOf(u, in.MinBalance), nil
}

// balanceOf reads u's balance against the reserve min; see CheckBalance.
func balanceOf(u heygen.User, min float64) CheckBalanceResult {
	bt := u.BillingType
	if bt == "" {
		bt = inferBilling(u)
	}
	var r CheckBalanceResult
	known := true
	switch {
	case bt == heygen.BillingWallet && u.Wallet != nil && u.Wallet.RemainingBalance != nil:
		r = CheckBalanceResult{Remaining: *u.Wallet.RemainingBalance, Unit: walletUnit(u.Wallet.Currency)}
		r.Message = "wallet: " + amount(r.Remaining, r.Unit) + " left"
	case bt == heygen.BillingSubscription && u.Subscription != nil:
		premium, addOn := poolRemaining(u.Subscription.Credits.PremiumCredits), poolRemaining(u.Subscription.Credits.AddOnCredits)
		r = CheckBalanceResult{Remaining: float64(premium + addOn), Unit: UnitCredits}
		r.Message = fmt.Sprintf("subscription (%s): %d premium and %d add-on credits left", u.Subscription.Plan, premium, addOn)
	case bt == heygen.BillingUsageBased && u.UsageBased != nil:
		r, known = usageBalance(u.UsageBased, min)
	default:
		known = false
		r.Message = fmt.Sprintf("billing type %q: HeyGen reports no balance", bt)
	}
	r.BillingType = bt
	switch {
	case !known:
		r.Enough = true
		r.Message += "; the next create will tell"
	default:
		r.Enough = r.Remaining > min && r.Remaining > 0
		if min > 0 {
			r.Message += fmt.Sprintf(" (reserve %s)", amount(min, r.Unit))
		}
	}
	return r
}

// usageBalance reads a usage-based account: included credits first, then the room under
// the spending cap. known is false when the credits are spent (or not reported) and there
// is no cap, so that spending may go on.
func usageBalance(ub *heygen.UsageBased, min float64) (CheckBalanceResult, bool) {
	credits := deref(ub.RemainingCredits)
	if ub.RemainingCredits != nil && credits > min && credits > 0 {
		return CheckBalanceResult{Remaining: credits, Unit: UnitCredits,
			Message: "usage-based: " + amount(credits, UnitCredits) + " left"}, true
	}
	if ub.SpendingCapUSD == nil {
		return CheckBalanceResult{Remaining: credits, Unit: UnitCredits,
			Message: "usage-based: " + amount(credits, UnitCredits) + " left and no spending cap"}, false
	}
	room := max(*ub.SpendingCapUSD-deref(ub.SpendingCurrentUSD), 0)
	return CheckBalanceResult{Remaining: room, Unit: UnitUSD,
		Message: fmt.Sprintf("usage-based: %s left, %s of the %s spending cap left",
			amount(credits, UnitCredits), amount(room, UnitUSD), amount(*ub.SpendingCapUSD, UnitUSD))}, true
}

// inferBilling names the billing type of an answer whose billing_type is null by the one
// billing object filled in, "" when there is none or more than one.
func inferBilling(u heygen.User) string {
	var found []string
	if u.Wallet != nil {
		found = append(found, heygen.BillingWallet)
	}
	if u.Subscription != nil {
		found = append(found, heygen.BillingSubscription)
	}
	if u.UsageBased != nil {
		found = append(found, heygen.BillingUsageBased)
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// walletUnit is the unit of a wallet's currency; HeyGen publishes usd and credits.
func walletUnit(currency string) string {
	if currency == heygen.CurrencyCredits {
		return UnitCredits
	}
	return UnitUSD
}

func poolRemaining(p *heygen.CreditPool) int64 {
	if p == nil || p.Remaining == nil {
		return 0
	}
	return *p.Remaining
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// amount reads like "$12.50" or "40 credits".
func amount(v float64, unit string) string {
	if unit == UnitUSD {
		return fmt.Sprintf("$%.2f", v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " credits"
}

// createError is the ApplicationError of a failed create: ErrTypeInsufficientCredit,
// non-retryable and with HeyGen's message, for a 402 insufficient_credit, and
// applicationError's HeyGen kind for anything else.
func createError(op string, err error) error {
	if !heygen.IsInsufficientCredit(err) {
		return applicationError(op, err)
	}
	msg := op + ": insufficient credit"
	var ae *heygen.APIError
	if errors.As(err, &ae) && ae.Message != "" {
		msg = ae.Message
	}
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeInsufficientCredit, err)
}
