package worker

import (
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays histories recorded on a real Temporal server,
// through Register, as a worker does after a deploy. A change to the workflows that is
// not guarded by workflow.GetVersion fails here with a nondeterminism error. The files
// were recorded from v0.1.0, the baseline (docs/replay.md lists them and says how to
// record more); never delete or re-record a released file to make this pass: it stands
// for workflows still running in production.
//
// devstack's recorders write them (REELFLOW_RECORD_HISTORIES=1): TestRecordHistories,
// TestRecordJobHistories, TestSlotOfATerminatedHolder, TestRerunReusesTheRender and
// TestRecordSweepRace (job-sweep-race.json, job-sweep-close's marker). This
// is the one replay test, and each history is replayed once.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			Register(r, nil)
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), f))
		})
	}
}

// workflowType finds a history's workflow type: its first event's.
var workflowType = regexp.MustCompile(`"workflowType":\s*\{\s*"name":\s*"([^"]+)"`)

// TestEveryChangeIDIsReplayed: every change ID in docs/replay.md's table is recorded, as
// a version marker, in at least one history here, and at least one history predates it
// (a history of the same workflow type without the marker), so that the replay test above shows both sides of the branch.
func TestEveryChangeIDIsReplayed(t *testing.T) {
	doc, err := os.ReadFile("../docs/replay.md")
	require.NoError(t, err)
	ids := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|").FindAllStringSubmatch(string(doc), -1)
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	histories := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		histories[filepath.Base(f)] = string(b)
	}
	for _, m := range ids {
		id := m[1]
		if strings.HasSuffix(id, ".json") {
			continue
		}
		// The marker's change ID is a JSON string payload, base64 in protojson.
		enc := base64.StdEncoding.EncodeToString([]byte(`"` + id + `"`))
		types := map[string]bool{}
		var with, without []string
		for name, h := range histories {
			if strings.Contains(h, enc) {
				with = append(with, name)
				types[workflowType.FindStringSubmatch(h)[1]] = true
			}
		}
		for name, h := range histories {
			if !strings.Contains(h, enc) && types[workflowType.FindStringSubmatch(h)[1]] {
				without = append(without, name)
			}
		}
		assert.NotEmpty(t, with, "change %s: no history records its marker; record one (docs/replay.md)", id)
		assert.NotEmpty(t, without, "change %s: no history predates it", id)
	}
}
