package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/reelflow/reelflow/sandbox"
)

// sandboxAccount is the sandbox account's flags, shared by `sandbox` and `dev`: its
// concurrency limit, opening balance and billing type.
type sandboxAccount struct {
	concurrency int
	credits     int64 // -1 is unlimited
	billing     string
}

// bindSandboxAccount binds the account flags, each name after prefix ("" for `sandbox`,
// "sandbox-" for `dev`).
func (a *app) bindSandboxAccount(fs *pflag.FlagSet, prefix string, f *sandboxAccount) {
	a.env.Int(fs, &f.concurrency, prefix+"concurrency-limit", "REELFLOW_SANDBOX_CONCURRENCY_LIMIT", 0,
		"the sandbox account's limit of jobs rendering at once; creates past it get 429, as a HeyGen plan answers (0 = none)")
	a.env.Int64(fs, &f.credits, prefix+"credits", "REELFLOW_SANDBOX_CREDITS", -1,
		"the sandbox account's opening balance in credits, 1 per started minute of video; creates past it get 402 insufficient_credit (-1 = unlimited)")
	a.env.String(fs, &f.billing, prefix+"billing", "REELFLOW_SANDBOX_BILLING", sandbox.BillingWallet,
		"the billing type GET /v3/users/me reports the balance under: wallet, subscription or usage_based")
}

// apply checks the flags and sets them on the sandbox's account; the billing type is
// checked when the sandbox is built.
func (f sandboxAccount) apply(prefix string, limit *int, credits **int64, billing *string) error {
	switch {
	case f.concurrency < 0:
		return &exitError{code: 2, err: fmt.Errorf("--%sconcurrency-limit %d: want 0 (none) or more", prefix, f.concurrency)}
	case f.credits < -1:
		return &exitError{code: 2, err: fmt.Errorf("--%scredits %d: want -1 (unlimited), 0 or more", prefix, f.credits)}
	}
	*limit, *billing = f.concurrency, f.billing
	if f.credits >= 0 {
		c := f.credits
		*credits = &c
	}
	return nil
}
