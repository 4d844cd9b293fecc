package devstack

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/receiver"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/spec"
	"github.com/reelflow/reelflow/workflows"
)

// contractLog collects what the sandbox's contract check reports.
type contractLog struct {
	mu         sync.Mutex
	violations []sandbox.ContractViolation
}

func (l *contractLog) report(v sandbox.ContractViolation) {
	l.mu.Lock()
	l.violations = append(l.violations, v)
	l.mu.Unlock()
}

func (l *contractLog) all() []sandbox.ContractViolation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sandbox.ContractViolation(nil), l.violations...)
}

// examplePipelines loads every examples/*.yaml as a pipeline with a fresh ID, delivering
// to out.
func examplePipelines(t *testing.T, out string) []workflows.PipelineInput {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	require.NoError(t, err)
	var ins []workflows.PipelineInput
	for _, f := range files {
		if strings.HasSuffix(f, "campaign.yaml") {
			continue // a batch template, run with its CSV below
		}
		in, err := spec.Load(f)
		require.NoError(t, err, f)
		in.ID = "contract-" + in.ID
		in.Deliver = &workflows.Deliver{To: "file://" + out}
		ins = append(ins, in)
	}
	require.NotEmpty(t, ins)
	return ins
}

// runAll runs pipelines at once and returns each one's error by ID.
func runAll(t *testing.T, st *Stack, ins []workflows.PipelineInput) map[string]error {
	t.Helper()
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() {
			_, err := runPipeline(t, st, in)
			mu.Lock()
			errs[in.ID] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return errs
}

// TestEveryAnswerFollowsHeyGensContract is issue 10's test 1c: across a whole run on the
// dev stack (every example, a batch, failed renders and translations, 429s and 5xx,
// webhooks lost so that jobs are polled), every answer the sandbox gives validates
// against its operation's published response schema, with no unpublished field, and
// every error is HeyGen's envelope.
func TestEveryAnswerFollowsHeyGensContract(t *testing.T) {
	st := startStack(t, Config{})
	var log contractLog
	st.Sandbox.CheckContract(log.report)
	ctx := context.Background()
	out := t.TempDir()

	// The endpoint calls: the stack's endpoint as HeyGen lists it, and a second one
	// registered, rotated and deleted.
	_, err := st.HeyGen.ListWebhookEndpoints(ctx)
	require.NoError(t, err)
	// It subscribes to an event the sandbox never sends, so it gets no deliveries.
	extra, err := st.HeyGen.CreateWebhookEndpoint(ctx, st.ReceiverURL()+receiver.WebhookPath, []string{"avatar_video_gif.success"})
	require.NoError(t, err)
	_, err = st.HeyGen.RotateWebhookSecret(ctx, extra.ID)
	require.NoError(t, err)
	require.NoError(t, st.HeyGen.DeleteWebhookEndpoint(ctx, extra.ID))

	// Every example, all at once.
	for id, err := range runAll(t, st, examplePipelines(t, out)) {
		assert.NoError(t, err, id)
	}

	// The campaign batch.
	batch, err := spec.LoadBatch(filepath.Join("..", "examples", "campaign.yaml"), filepath.Join("..", "examples", "contacts.csv"), "email")
	require.NoError(t, err)
	rows := batch.Inputs()
	require.NotEmpty(t, rows)
	for i := range rows {
		rows[i].Deliver = &workflows.Deliver{To: "file://" + out}
	}
	for id, err := range runAll(t, st, rows) {
		assert.NoError(t, err, id)
	}

	// Failures: a render and a translation that fail.
	failing := welcome("contract-fail")
	failing.Video["avatar_id"] = sandbox.MagicAvatarFail
	klingon := welcome("contract-klingon")
	klingon.Translate = &workflows.Translate{Languages: []string{"French", sandbox.MagicLanguageFail}}
	errs := runAll(t, st, []workflows.PipelineInput{failing, klingon})
	assert.Error(t, errs["contract-fail"], "a failed render fails the pipeline")

	// A hostile HeyGen: 429s, 5xx, and every webhook lost, so that jobs are polled.
	st.Sandbox.SetFaults(sandbox.Faults{RateLimitRate: 0.4, ServerErrorRate: 0.2, RetryAfter: 50 * time.Millisecond, DropRate: 1})
	var hostile []workflows.PipelineInput
	for _, id := range []string{"contract-hostile-1", "contract-hostile-2", "contract-hostile-3"} {
		in := welcome(id)
		in.Translate = &workflows.Translate{Languages: []string{"German"}}
		in.Timeouts = workflows.Timeouts{PushWindow: time.Second, PollInitial: 200 * time.Millisecond, PollMax: time.Second, Deadline: time.Minute}
		hostile = append(hostile, in)
	}
	for id, err := range runAll(t, st, hostile) {
		assert.NoError(t, err, id)
	}
	st.Sandbox.SetFaults(sandbox.Faults{})

	// HeyGen's event history, and a few refusals.
	for _, path := range []string{"/v3/webhooks/events", "/v3/webhooks/events?limit=100", "/v3/webhooks/event-types", "/v3/videos?limit=101", "/v3/videos/nope", "/v3/nothing"} {
		resp, err := http.Get(st.SandboxURL() + path)
		require.NoError(t, err)
		resp.Body.Close()
	}

	stats := st.Sandbox.Stats()
	assert.Positive(t, stats.RateLimited, "the run met 429s")
	assert.Positive(t, stats.ServerErrors, "the run met 5xx")
	assert.Positive(t, stats.BulkStatusCalls+stats.StatusCalls, "the run polled")
	assert.Positive(t, stats.RendersFailed)
	assert.Greater(t, st.Sandbox.ContractChecked(), int64(100), "answers checked")
	for _, v := range log.all() {
		t.Errorf("contract violation: %s", v)
	}
}
