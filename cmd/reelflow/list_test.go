package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/devstack"
)

// listedIDs are the pipeline IDs of list's table, in its order.
func listedIDs(out string) []string {
	var ids []string
	lines := strings.Split(out, "\n")
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.Contains(f[0], "-") {
			continue
		}
		ids = append(ids, f[0])
	}
	return ids
}

// TestList holds one-off pipelines, a campaign and a running pipeline in a dev stack,
// and finds them again with list: newest first, by campaign, by state and by prefix.
func TestList(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, addr := startStack(t, ctx, devstack.Config{RenderTime: 200 * time.Millisecond})
	// A dev.json beside, as `reelflow dev` leaves it: start --rows then knows the UI.
	devDir := t.TempDir()
	require.NoError(t, writeDevState(devDir, devState{TemporalAddress: st.Temporal.Address(), Namespace: st.Temporal.Namespace(), UIURL: "http://127.0.0.1:8233"}))

	var started []string // in start order
	for _, id := range []string{"solo-1", "solo-2"} {
		out, err := runCLI(t, ctx, "start", writeSpec(t, id+".yaml", "id: "+id+"\nvideo: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: v1, script: Hi.}\n"), "--wait", addr)
		require.NoError(t, err, out)
		started = append(started, id)
	}
	spec := writeSpec(t, "promo.yaml", "id: promo\nvideo: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: v1, script: \"Hi {{name}}.\"}\n")
	rows := filepath.Join(t.TempDir(), "rows.csv")
	require.NoError(t, os.WriteFile(rows, []byte("name\nana\nbo\ncy\n"), 0o644))
	out, err := runCLI(t, ctx, "start", spec, "--rows", rows, "--wait", addr, "--dir", devDir)
	require.NoError(t, err, out)
	require.Contains(t, out, "see its pipelines: reelflow list --campaign promo")
	require.Contains(t, out, "or: http://127.0.0.1:8233/namespaces/default/workflows?query=ReelflowCampaign%3D%22promo%22")
	require.Contains(t, out, "one pipeline's steps: reelflow status promo-ana")
	started = append(started, "promo-ana", "promo-bo", "promo-cy")
	// A pipeline of the campaign's name that is not in it, and one that keeps running.
	out, err = runCLI(t, ctx, "start", writeSpec(t, "p.yaml", "id: promo-extra\nvideo: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: v1, script: Hi.}\n"), "--wait", addr)
	require.NoError(t, err, out)
	started = append(started, "promo-extra")
	out, err = runCLI(t, ctx, "start", writeSpec(t, "s.yaml", "id: solo-stuck\nvideo: {type: avatar, avatar_id: sandbox-stuck, voice_id: v1, script: Hi.}\n"), addr)
	require.NoError(t, err, out)
	started = append(started, "solo-stuck")

	newestFirst := make([]string, len(started))
	for i, id := range started {
		newestFirst[len(started)-1-i] = id
	}
	// Visibility lags a moment behind: wait until list shows every pipeline's end state,
	// and the running one's stage.
	stuckRow := regexp.MustCompile(`solo-stuck\s+running\s+render\s+-\s`)
	waitFor(t, ctx, "every pipeline in visibility", func() bool {
		out, err = runCLI(t, ctx, "list", addr)
		return err == nil && strings.Contains(out, "7 pipelines: 1 running, 6 completed") && stuckRow.MatchString(out)
	})
	require.Equal(t, newestFirst, listedIDs(out), out)
	require.Regexp(t, `promo-ana\s+completed\s+done\s+promo\s`, out)

	out, err = runCLI(t, ctx, "list", "--campaign", "promo", addr)
	require.NoError(t, err, out)
	require.Equal(t, []string{"promo-cy", "promo-bo", "promo-ana"}, listedIDs(out), "the campaign, without promo-extra:\n%s", out)
	require.Contains(t, out, "3 pipelines: 3 completed")

	out, err = runCLI(t, ctx, "list", "--state", "running", addr)
	require.NoError(t, err, out)
	require.Equal(t, []string{"solo-stuck"}, listedIDs(out), out)
	require.Contains(t, out, "1 pipeline: 1 running")

	out, err = runCLI(t, ctx, "list", "--prefix", "solo-", "--state", "completed,running", addr)
	require.NoError(t, err, out)
	require.Equal(t, []string{"solo-stuck", "solo-2", "solo-1"}, listedIDs(out), out)

	out, err = runCLI(t, ctx, "list", "--limit", "2", addr)
	require.NoError(t, err, out)
	require.Equal(t, newestFirst[:2], listedIDs(out), out)
	require.Regexp(t, regexp.QuoteMeta("7 pipelines: 1 running, 6 completed (the newest 2 shown"), out)

	out, err = runCLI(t, ctx, "list", "--campaign", "nobody", addr)
	require.NoError(t, err, out)
	require.Contains(t, out, "no pipelines match")
}
