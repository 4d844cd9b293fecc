package workflows

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// The account scheduler's contract: what the CLI's `queue` and a campaign's `status`
// read through queries. The scheduler itself is in scheduler.go.

// SchedulerWorkflowIDFor is the workflow ID of the scheduler of the HeyGen account
// named account (a configured name, or a keyed hash of the API key, never the key):
// "reelflow-account-<account>".
func SchedulerWorkflowIDFor(account string) string { return "reelflow-account-" + account }

// SandboxAccount names the account of a worker without an API key: the dev stack's
// sandbox. Every worker and CLI on a dev stack names it so.
const SandboxAccount = "sandbox"

// accountLabel keys the hash that names an account after its API key: the hash is
// reelflow's own (a stolen ID matches no other tool's digest of the key) and one-way.
const accountLabel = "reelflow/heygen-account/v1"

// AccountName names the HeyGen account that workers and the CLI share, the one function
// both use so that they find the same scheduler (SchedulerWorkflowIDFor):
//
//   - name, when set (--heygen-account): it must match [A-Za-z0-9._-]{1,128};
//   - else, with an API key, "key-" and 24 hex digits of an HMAC-SHA256 of the key under a
//     fixed label, so that the key itself is in no workflow ID, memo or history;
//   - else SandboxAccount (the dev stack, which has no key).
func AccountName(name, apiKey string) (string, error) {
	if name != "" {
		if !ValidPipelineID(name) {
			return "", fmt.Errorf("account name %q: want [A-Za-z0-9._-]{1,128}", name)
		}
		return name, nil
	}
	if apiKey == "" {
		return SandboxAccount, nil
	}
	mac := hmac.New(sha256.New, []byte(accountLabel))
	mac.Write([]byte(apiKey))
	return "key-" + hex.EncodeToString(mac.Sum(nil)[:12]), nil
}

// QueryQueue returns the scheduler's SchedulerStatus.
const QueryQueue = "queue"

// SchedulerStatus is the answer to the scheduler's QueryQueue query.
type SchedulerStatus struct {
	Account string `json:"account"`
	// Limit is the account's concurrency, as the workers configure it.
	Limit int `json:"limit"`
	// LimitMismatch lists what workers reported when they disagree with Limit.
	LimitMismatch []string `json:"limit_mismatch,omitempty"`
	// Held are the slots in use, oldest grant first.
	Held []SlotHolder `json:"held"`
	// Waiting is the number of Jobs waiting, and Next the first of them in the order
	// they will be granted (at most 100).
	Waiting int          `json:"waiting"`
	Next    []SlotWaiter `json:"next,omitempty"`
	// Groups count the waiting Jobs by priority and fairness key, most urgent first.
	Groups []WaitGroup `json:"groups,omitempty"`
	// Paused is set while HeyGen refuses creates for lack of credit (or the balance is
	// under the configured minimum): nothing is granted until the balance is back.
	Paused      bool      `json:"paused,omitempty"`
	PauseReason string    `json:"pause_reason,omitempty"` // HeyGen's message
	PausedSince time.Time `json:"paused_since,omitzero"`
	// Campaigns are the budgets and counts of the campaigns the scheduler knows.
	Campaigns []CampaignShare `json:"campaigns,omitempty"`
}

// SlotHolder is a Job holding one of the account's slots.
type SlotHolder struct {
	WorkflowID  string    `json:"workflow_id"`
	Priority    int       `json:"priority"`
	FairnessKey string    `json:"fairness_key"`
	Campaign    string    `json:"campaign,omitempty"`
	Since       time.Time `json:"since"`
}

// SlotWaiter is a Job waiting for a slot.
type SlotWaiter struct {
	WorkflowID  string    `json:"workflow_id"`
	Priority    int       `json:"priority"`
	FairnessKey string    `json:"fairness_key"`
	Campaign    string    `json:"campaign,omitempty"`
	Since       time.Time `json:"since"`
	// OverBudget is set when the Job waits because its campaign's budget is spent.
	OverBudget bool `json:"over_budget,omitempty"`
}

// WaitGroup counts the Jobs waiting at one priority under one fairness key.
type WaitGroup struct {
	Priority    int     `json:"priority"`
	FairnessKey string  `json:"fairness_key"`
	Weight      float64 `json:"weight"`
	Waiting     int     `json:"waiting"`
	Held        int     `json:"held"`
}

// CampaignShare is one campaign's use of the account.
type CampaignShare struct {
	Campaign string `json:"campaign"`
	// Started counts the HeyGen jobs (renders plus translations) granted a slot.
	Started int `json:"started"`
	// Budget is the campaign's cap on Started; 0 is none.
	Budget     int `json:"budget,omitempty"`
	Held       int `json:"held"`
	Waiting    int `json:"waiting"`
	OverBudget int `json:"over_budget,omitempty"`
}
