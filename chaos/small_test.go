package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/workflows"
)

// TestChaosSmall is the chaos run at a tenth of its size, in the default go test: 30
// pipelines (a render and two translations each) through every fault at once, with one
// worker restart. Timeouts are scaled down so that stuck jobs end within the test.
func TestChaosSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes about a minute")
	}
	rep := runChaos(t, chaosConfig{
		Pipelines:  30,
		Restarts:   1,
		Down:       time.Second,
		Faults:     hostile(),
		RenderTime: 500 * time.Millisecond,
		Timeouts: workflows.Timeouts{
			PushWindow: time.Second, PollInitial: 300 * time.Millisecond, PollMax: 2 * time.Second,
			Deadline: 20 * time.Second,
		},
		Wait: 3 * time.Minute,
	})
	rep.print(t, "chaos run (small)")
	require.Empty(t, rep.Mismatches)
	require.Equal(t, 1, maxCreates(rep.Stats), "no render paid for twice")
}
