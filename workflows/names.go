package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// TaskQueue is the one task queue reelflow's workers poll.
const TaskQueue = "reelflow"

// Workflow type names: worker.Register registers Pipeline, Job, Scheduler and Campaign
// under them, and visibility queries and starts by name use them.
const (
	WorkflowTypePipeline  = "Pipeline"
	WorkflowTypeJob       = "Job"
	WorkflowTypeScheduler = "Scheduler"
	WorkflowTypeCampaign  = "Campaign"
)

// SignalEvent is the signal that carries a heygen.Event to a Job workflow.
const SignalEvent = "heygen.event"

// QueryStatus returns a Pipeline's step table or a Job's state.
const QueryStatus = "status"

// Search attributes that the Temporal UI shows and filters on.
const (
	SearchAttrStage       = "ReelflowStage"
	SearchAttrHeyGenJobID = "HeyGenJobID"
	// SearchAttrCampaign is a --rows campaign's spec id (Schedule.Campaign) on each of
	// its Pipelines; `reelflow list --campaign` filters on it.
	SearchAttrCampaign = "ReelflowCampaign"
)

// SearchAttributes lists the custom search attributes reelflow upserts, all keywords.
// The dev stack, docker-compose and deploy/temporal/setup.sh register exactly these.
func SearchAttributes() []string {
	return []string{SearchAttrStage, SearchAttrHeyGenJobID, SearchAttrCampaign}
}

// Typed keys for the search attributes.
var (
	stageKey       = temporal.NewSearchAttributeKeyKeyword(SearchAttrStage)
	heygenJobIDKey = temporal.NewSearchAttributeKeyKeyword(SearchAttrHeyGenJobID)
	campaignKey    = temporal.NewSearchAttributeKeyKeyword(SearchAttrCampaign)
)

// Step names of a pipeline. A translation's step is TranslateStep(language).
const (
	StepRender    = "render"
	StepTranslate = "translate"
	StepNotify    = "notify"
)

// StageDeliver is a Pipeline's ReelflowStage while outputs are delivered and no Job
// runs any more; the other stages are StageDone, StageFailed, StageCancelled and the
// step names.
const StageDeliver = "deliver"

// TranslateStep is the step, and with the pipeline ID the callback_id, of the
// translation into language: "translate/<slug>".
func TranslateStep(language string) string { return StepTranslate + "/" + LanguageSlug(language) }

// maxSlug is the longest slug a step may end in.
const maxSlug = 64

// LanguageSlug turns a HeyGen language name into the last part of a step name:
// "Spanish (Spain)" becomes "spanish-spain". Letters and digits are kept, lowercased;
// every other run of characters becomes one "-". A name with no ASCII letter or digit
// gets a short digest instead, so that it still names one step.
func LanguageSlug(language string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(language) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	s := b.String()
	if len(s) > maxSlug {
		s = strings.TrimRight(s[:maxSlug], "-")
	}
	if s == "" {
		sum := sha256.Sum256([]byte(language))
		s = "lang-" + hex.EncodeToString(sum[:6])
	}
	return s
}

// NotifyWebhookID is the Standard Webhooks webhook-id of a pipeline run's notification.
// It is the same on every retry of the notification, so that the receiver can drop
// repeats, and differs between runs of a pipeline with the same ID.
func NotifyWebhookID(workflowID, runID string) string {
	sum := sha256.Sum256([]byte(workflowID + "\x00" + runID))
	return "msg_" + hex.EncodeToString(sum[:16])
}

var pipelineIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// stepPattern admits "render" and "translate/<slug>" style steps: lowercase words and
// slugs joined by single slashes.
var stepPattern = regexp.MustCompile(`^[a-z]+(/[A-Za-z0-9._-]{1,64})?$`)

// ValidPipelineID reports whether id may name a pipeline (and its workflow).
func ValidPipelineID(id string) bool { return pipelineIDPattern.MatchString(id) }

// JobWorkflowID is the workflow ID, and the HeyGen callback_id, of a pipeline's step.
func JobWorkflowID(pipelineID, step string) string { return pipelineID + "/" + step }

// ParseJobWorkflowID splits a callback_id into its pipeline ID and step. It reports false
// for any ID reelflow did not make, so the receiver never signals a foreign workflow.
func ParseJobWorkflowID(id string) (pipelineID, step string, ok bool) {
	pipelineID, step, found := strings.Cut(id, "/")
	if !found || !ValidPipelineID(pipelineID) || !stepPattern.MatchString(step) {
		return "", "", false
	}
	return pipelineID, step, true
}

// Pipeline stages: the values of ReelflowStage on a Pipeline workflow, besides the name
// of the running step (StepRender). A Job's ReelflowStage is its JobState.
const (
	StageDone      = "done"
	StageFailed    = "failed"
	StageCancelled = "cancelled"
)
