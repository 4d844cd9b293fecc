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
// twice. Run it with: go test -tags chaos -run TestChaosFull -timeout 60m -v ./chaos/
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
		Wait: 30 * time.Minute,
	})
	rep.print(t, "chaos run (full)")
	for _, m := range rep.Mismatches {
		t.Error(m)
	}
	require.Equal(t, 1, maxCreates(rep.Stats), "no render paid for twice")
}
