package worker

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/reelflow/reelflow/activities"
	"github.com/reelflow/reelflow/heygen"
	"github.com/reelflow/reelflow/workflows"
)

// fakeHeyGen renders every video at once and records the creates it saw.
type fakeHeyGen struct {
	mu      sync.Mutex
	creates []heygen.CreateVideoRequest
}

func (f *fakeHeyGen) CreateVideo(_ context.Context, req heygen.CreateVideoRequest) (heygen.CreatedVideo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates = append(f.creates, req)
	return heygen.CreatedVideo{VideoID: "v_1", Status: heygen.StatusPending}, nil
}

func (f *fakeHeyGen) GetVideo(_ context.Context, id string) (heygen.Video, error) {
	return heygen.Video{ID: id, Status: heygen.StatusCompleted, VideoURL: "https://cdn.example/" + id + ".mp4"}, nil
}

func (f *fakeHeyGen) CreateTemplateVideo(ctx context.Context, _ string, req heygen.CreateVideoRequest) (heygen.CreatedVideo, error) {
	return f.CreateVideo(ctx, req)
}

func (f *fakeHeyGen) CreateTranslation(context.Context, heygen.CreateTranslationRequest) ([]string, error) {
	return []string{"t_1"}, nil
}

func (f *fakeHeyGen) GetTranslation(_ context.Context, id string) (heygen.Translation, error) {
	return heygen.Translation{ID: id, Status: heygen.StatusCompleted, VideoURL: "https://cdn.example/" + id + ".mp4"}, nil
}

// VideoStatuses and TranslationStatuses are the bulk calls: every job is done.
func (f *fakeHeyGen) VideoStatuses(_ context.Context, ids []string) ([]heygen.StatusEntry, error) {
	out := make([]heygen.StatusEntry, len(ids))
	for i, id := range ids {
		out[i] = heygen.StatusEntry{VideoID: id, Status: heygen.StatusCompleted}
	}
	return out, nil
}

func (f *fakeHeyGen) TranslationStatuses(ctx context.Context, ids []string) ([]heygen.StatusEntry, error) {
	return f.VideoStatuses(ctx, ids)
}

// TestRegisterRunsPipeline runs a pipeline with real activities over a fake HeyGen, with
// nothing registered but through Register: the names the workflows call must resolve.
func TestRegisterRunsPipeline(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	fake := &fakeHeyGen{}
	Register(env, activities.New(fake))
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "p1"})
	mockFirstRun(env)

	env.ExecuteWorkflow(workflows.Pipeline, workflows.PipelineInput{
		ID: "p1", Video: map[string]any{"type": "avatar"},
		Timeouts: workflows.Timeouts{PushWindow: time.Minute},
	})

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.PipelineResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.NotNil(t, res.Render)
	assert.Equal(t, "https://cdn.example/v_1.mp4", res.Render.VideoURL)
	assert.Equal(t, workflows.FinishedByPoll, res.Render.FinishedBy)
	require.Len(t, fake.creates, 1)
	assert.Equal(t, "p1/render", fake.creates[0].CallbackID)
	assert.True(t, strings.HasPrefix(fake.creates[0].IdempotencyKey, "p1:render."), "the key is the callback_id plus the run identity (workflows/identity.go): %s", fake.creates[0].IdempotencyKey)
}

func TestRegisterWorkflowsOnlyForReplay(t *testing.T) {
	r := sdkworker.NewWorkflowReplayer()
	assert.NotPanics(t, func() { Register(r, nil) })
	assert.Panics(t, func() { Register(sdkworker.NewWorkflowReplayer(), activities.New(&fakeHeyGen{})) },
		"a replayer cannot take activities")
}

// mockFirstRun answers the Pipeline's question about earlier runs of its Jobs with
// "none": the test environment's Temporal service is a mock that Describe cannot ask.
func mockFirstRun(env *testsuite.TestWorkflowEnvironment) {
	var a *activities.Activities
	env.OnActivity(a.PriorJobs, mock.Anything, mock.Anything).Return(activities.PriorJobsResult{}, nil)
}

// CurrentUser is the balance read: a wallet with credit to spare.
func (f *fakeHeyGen) CurrentUser(context.Context) (heygen.User, error) {
	balance := 1000.0
	return heygen.User{Username: "fake", BillingType: heygen.BillingWallet,
		Wallet: &heygen.Wallet{Currency: heygen.CurrencyCredits, RemainingBalance: &balance}}, nil
}
