package workflows

import (
	"strconv"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/reelflow/reelflow/heygen"
)

// A Job's identity, and why it survives a Reset.
//
// Everything that must not change when a create is tried again (HeyGen's Idempotency-Key,
// the adoption title tag, the Limiter's permit holder, the notification's webhook-id)
// derives from one JobIdentity: the callback_id plus a run identity. The run identity is
//
//   - JobInput.RunIdentity when set: a continued run carries its first run's identity
//     there, so continue-as-new never changes it;
//   - else workflow.GetInfo(ctx).OriginalRunID, the RunID when that is empty.
//
// Temporal's server sets a started event's original run ID to the run's own ID when a
// workflow starts or continues as new, and copies it from the base run on a Reset
// (historybuilder: "originalRunID is the base workflow's runID upon workflow reset"), so
// a Reset, a reset of a reset, and a reset of a continued run (whose input carries the
// identity) all keep it. A deliberate new run (a rerun of a failed step, `--fresh`) is a
// new execution with a new original run ID: it renders anew instead of getting HeyGen's
// 24-hour replay of the failed render. Activity retries and worker crashes never change
// either part. devstack/reset_e2e_test.go checks this on the pinned server.

// JobIdentity names one render of one step: the same across activity retries, worker
// crashes, Resets and continue-as-new, and new only for a deliberate new run.
type JobIdentity struct {
	// CallbackID is the Job's workflow ID, "<pipeline id>/<step>".
	CallbackID string `json:"callback_id"`
	// Run is the run identity: the first run's original run ID (see the comment above).
	Run string `json:"run"`
	// Attempt is the re-render attempt (JobInput.Attempt), from 1; 0 is 1. Each attempt
	// is a new HeyGen job, so each has its own key, and a Reset, a replay or a lost answer
	// within one attempt keeps it.
	Attempt int `json:"attempt,omitempty"`
}

// jobIdentity returns the identity of the Job running in ctx. carried is
// JobInput.RunIdentity: a continued run's identity, or one its starter chose.
func jobIdentity(ctx workflow.Context, carried string) JobIdentity {
	info := workflow.GetInfo(ctx)
	run := carried
	if run == "" {
		run = ownRunIdentity(info)
	}
	return JobIdentity{CallbackID: info.WorkflowExecution.ID, Run: run}
}

// ownRunIdentity is a workflow's own run identity: its original run ID, which a Reset
// copies from the base run, or its RunID when the server gave none.
func ownRunIdentity(info *workflow.Info) string {
	if info.OriginalRunID != "" {
		return info.OriginalRunID
	}
	return info.WorkflowExecution.RunID
}

// pipelineRunIdentity is the run identity a Pipeline hands its Jobs
// (JobInput.RunIdentity), so that a Reset of the Pipeline, which starts its unfinished
// Jobs again, still finds their first renders; the notification's webhook-id derives
// from it too.
func pipelineRunIdentity(ctx workflow.Context) string {
	return ownRunIdentity(workflow.GetInfo(ctx))
}

// notifyWebhookID is the webhook-id of the Pipeline's notification: the same on every
// retry and across Resets of the Pipeline, new for a new run.
func notifyWebhookID(ctx workflow.Context) string {
	info := workflow.GetInfo(ctx)
	return NotifyWebhookID(info.WorkflowExecution.ID, ownRunIdentity(info))
}

// IdempotencyKey is HeyGen's Idempotency-Key for the identity's create call: the
// callback_id with "/" mapped to ":", a ".", and the run identity, for example
// "welcome-42:render.5c9b...", and for an attempt after the first ".a" and its number
// ("welcome-42:render.5c9b....a2"). Pipeline IDs and steps never hold ":", so the mapping
// loses nothing. A key that would be longer than 255 characters, or break HeyGen's
// pattern in any other way, is the hex SHA-256 of that text instead: 64 characters,
// as stable as the text itself (heygen.IdempotencyKey, where the rule lives).
func (id JobIdentity) IdempotencyKey() string {
	key := strings.ReplaceAll(id.CallbackID, "/", ":") + "." + id.Run
	if id.Attempt > 1 {
		key += ".a" + strconv.Itoa(id.Attempt)
	}
	return heygen.IdempotencyKey(key)
}
