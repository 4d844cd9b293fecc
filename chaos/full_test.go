//go:build chaos

package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

// TestChaosFull is the chaos run RELIABILITY.md records: 300 pipelines, each a render and
// two translations, through every fault at once, with the worker stopped and replaced
// twice. A third of the pipelines re-render nothing, a third once and a third twice
// (retry: {renders: N}): the 5% of renders that fail are rendered again within the
// budget, one HeyGen job per attempt, and every step ends as its last job says. Run it
// with: go test -tags chaos -run TestChaosFull -timeout 60m -v ./chaos/
func TestChaosFull(t *testing.T) {
	rep := runChaos(t, chaosConfig{
		Pipelines:  300,
		Restarts:   2,
		Down:       2 * time.Second,
		Faults:     hostile(),
		RenderTime: time.Second,
		Timeouts: workflows.Timeouts{
			PushWindow: 2 * time.Second, PollInitial: 500 * time.Millisecond, PollMax: 5 * time.Second,
			// Three minutes, not one: a worker stopped mid-run can strand a Job's first
			// workflow task on the server for about its 60 s long-poll expiry (seen in the
			// histories: WorkflowTaskScheduled, then Started 61 s later), and the deadline
			// counts from the workflow's start, so one minute failed those Jobs at their
			// first task. Stuck renders still end by the deadline, so a run takes longer.
			Deadline: 3 * time.Minute,
		},
		Wait:    30 * time.Minute,
		Retries: []int{0, 1, 2},
	})
	rep.print(t, "chaos run (full)")
	for _, m := range rep.Mismatches {
		t.Error(m)
	}
	// At most one job per attempt is among the mismatches; here the budget's bound.
	require.LessOrEqual(t, maxCreates(rep.Stats), 3, "no step rendered more than 1 + 2 times")
	require.Positive(t, rep.Retried, "failed renders were rendered again")
}
