package workflows

import (
	"cmp"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/activities"
)

// The scheduler's credit guard: the pause.
//
// HeyGen refuses a create with 402 insufficient_credit when the account's balance is
// spent. A refused create made nothing, so it is no failure: the Job reports it
// (SlotRequest.Refused) and waits, and the scheduler pauses the account. While paused it
// grants nothing, and rereads the balance (the CheckBalance activity, GET /v3/users/me)
// after balanceBackoffInitial, doubling to balanceBackoffMax. When the balance is enough
// again it resumes by itself, and the refused Jobs, which kept their turn at the front
// of their keys, are granted first; each creates under a fresh Idempotency-Key (see
// permit.go).
//
// With a reserve (--heygen-min-balance) the scheduler also pauses before HeyGen refuses:
// it reads the balance before a grant when its last reading is older than balanceFresh,
// so an account that is granting steadily costs one balance read a minute, and an idle
// one none. A read that fails does not stop the grants (HeyGen's own refusal still
// guards the account); it is tried again a minute later.

// Credit guard tuning.
const (
	balanceBackoffInitial = 5 * time.Second
	balanceBackoffMax     = time.Minute
	balanceFresh          = time.Minute
)

// pauseState is a paused scheduler's, carried through continue-as-new.
type pauseState struct {
	// Reason is HeyGen's message, or what the balance read said.
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	// Backoff is the wait before the next balance read.
	Backoff time.Duration `json:"backoff,omitempty"`
}

// onRefused takes a create refused for credit: the Job's slot is free (the create made
// nothing, so its campaign did not start a job), the Job waits at the front of its key,
// and the account pauses.
func (s *scheduler) onRefused(ctx workflow.Context, req activities.SlotRequest) {
	if i := s.holder(req.WorkflowID); i >= 0 {
		if c := s.st.Holders[i].Campaign; c != "" && s.q.campaign(c).Started > 0 {
			s.q.campaign(c).Started--
		}
		s.st.Holders = slices.Delete(s.st.Holders, i, i+1)
	}
	if s.q.find(req.WorkflowID) == nil {
		s.q.push(req.Priority, fairnessKeyOf(req), req.FairnessWeight, newWaiter(ctx, req), true)
	}
	s.pause(ctx, cmp.Or(req.Message, "HeyGen refused a create: insufficient credit"))
}

// pause stops the grants until the balance is enough again.
func (s *scheduler) pause(ctx workflow.Context, reason string) {
	if s.st.Pause == nil {
		s.st.Pause = &pauseState{Since: workflow.Now(ctx), Backoff: balanceBackoffInitial}
		s.logger.Warn("account paused: no grants until the balance is back", "Reason", reason)
	}
	s.st.Pause.Reason = reason
	s.st.BalanceAt = time.Time{}
}

// mayGrant reports whether the credit guard lets a slot be granted now: not while
// paused, and, with a reserve, not before a fresh enough balance read (which it starts).
func (s *scheduler) mayGrant(ctx workflow.Context) bool {
	if s.st.Pause != nil {
		return false
	}
	if s.st.MinBalance <= 0 || workflow.Now(ctx).Sub(s.st.BalanceAt) <= balanceFresh {
		return true
	}
	if s.balance == nil {
		s.startBalance(ctx)
	}
	return false
}

// addBalance adds the balance read to sel: its activity when one runs, else, while
// paused, its backoff timer.
func (s *scheduler) addBalance(ctx workflow.Context, sel workflow.Selector) {
	switch {
	case s.balance != nil:
		sel.AddFuture(s.balance, func(f workflow.Future) { s.onBalance(ctx, f) })
	case s.balanceTimer != nil:
		sel.AddFuture(s.balanceTimer, func(workflow.Future) { s.balanceTimer = nil; s.startBalance(ctx) })
	case s.st.Pause != nil:
		s.balanceTimer = workflow.NewTimerWithOptions(ctx, s.st.Pause.Backoff, workflow.TimerOptions{Summary: "paused: read the balance again"})
		sel.AddFuture(s.balanceTimer, func(workflow.Future) { s.balanceTimer = nil; s.startBalance(ctx) })
	}
}

// startBalance reads the account's balance.
func (s *scheduler) startBalance(ctx workflow.Context) {
	s.balance = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, checkBalanceOptions()), acts().CheckBalance,
		activities.CheckBalanceInput{MinBalance: s.st.MinBalance})
}

// onBalance resumes the account when the balance is enough, pauses it when it is not,
// and backs off while paused.
func (s *scheduler) onBalance(ctx workflow.Context, f workflow.Future) {
	s.balance = nil
	now := workflow.Now(ctx)
	var res activities.CheckBalanceResult
	err := f.Get(ctx, &res)
	switch {
	case err != nil && s.st.Pause == nil:
		s.logger.Warn("balance read failed; granting on, HeyGen's refusal still guards the account", "Error", err)
		s.st.BalanceAt = now
	case err != nil:
		s.logger.Warn("balance read failed while paused; reading again later", "Error", err)
		s.st.Pause.Backoff = min(2*s.st.Pause.Backoff, balanceBackoffMax)
	case res.Enough:
		if s.st.Pause != nil {
			s.logger.Info("account resumed: the balance is back", "Remaining", res.Remaining, "PausedFor", now.Sub(s.st.Pause.Since))
			s.st.Pause = nil
		}
		s.st.BalanceAt = now
	case s.st.Pause != nil:
		s.st.Pause.Reason = cmp.Or(res.Message, s.st.Pause.Reason)
		s.st.Pause.Backoff = min(2*s.st.Pause.Backoff, balanceBackoffMax)
	default:
		s.pause(ctx, cmp.Or(res.Message, "the balance is at or under the configured reserve"))
	}
}
