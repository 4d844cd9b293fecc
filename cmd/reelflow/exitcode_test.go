package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/workflows"
)

// writeSpec writes a spec file named name with body into a fresh directory.
func writeSpec(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	return path
}

// TestExitCodes runs each outcome a script meets against a dev stack and checks the exit
// code the README promises: 0 every step succeeded, 1 failed or cancelled, 2 usage or an
// invalid spec (nothing reaches HeyGen), 3 completed with failed steps. The stack logs
// through the CLI's own logger, so that the log a user sees is checked too: a create
// HeyGen refused for the spec's own input is one WARN with HeyGen's message, not an ERROR.
func TestExitCodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var logBuf syncBuffer
	logApp := &app{errOut: &logBuf, logLevel: "info", logFormat: "console"}
	log, err := logApp.logger()
	require.NoError(t, err)
	dir := t.TempDir()
	st, addr := startStack(t, ctx, devstack.Config{Dir: dir, Logger: log, TemporalLogFile: filepath.Join(dir, "temporal.log"), RenderTime: 300 * time.Millisecond})
	createsNow := func() int { return st.Sandbox.Stats().Creates }

	t.Run("2: usage and invalid specs reach nothing", func(t *testing.T) {
		invalid := writeSpec(t, "invalid.yaml", "id: bad id\nvideo: {type: avatar, avatar_id: a, voice_id: v, script: hi}\n")
		good := writeSpec(t, "good.yaml", "id: never-started\nvideo: {type: avatar, avatar_id: a, voice_id: v, script: hi}\n")
		before := createsNow()
		for _, args := range [][]string{
			{"start", invalid, "--wait"},
			{"start", filepath.Join(t.TempDir(), "missing.yaml"), "--wait"},
			{"start", "--wait"},
			{"start", good, "--wait", "--no-such-flag"},
			{"start", good, "extra-argument"},
			{"start", good, "--rows", filepath.Join(t.TempDir(), "missing.csv")},
		} {
			out, err := runCLI(t, ctx, append(args, addr)...)
			require.Equal(t, exitUsage, exitCode(err), "%v: %v\n%s", args, err, out)
		}
		require.Equal(t, before, createsNow(), "no create reached the sandbox")
		_, err := st.Client.DescribeWorkflowExecution(ctx, "never-started", "")
		require.Error(t, err, "nothing was started")
	})

	t.Run("3: completed with a translation HeyGen refused", func(t *testing.T) {
		const id = "elvish-demo"
		spec := writeSpec(t, id+".yaml", `id: elvish-demo
video: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54, script: Hello.}
translate: {languages: [Elvish]}
`)
		out, err := runCLI(t, ctx, "start", spec, "--wait", addr)
		require.Equal(t, exitFailedSteps, exitCode(err), "%v\n%s", err, out)
		require.Contains(t, out, "pipeline "+id+" completed in")
		require.Contains(t, out, "with 1 failed step")
		require.Contains(t, err.Error(), "translate/elvish failed")
		require.Contains(t, out, `unsupported language "Elvish"`, "the step table quotes HeyGen's refusal")
		require.Zero(t, st.Sandbox.Stats().CreatesByCallbackID[workflows.JobWorkflowID(id, workflows.TranslateStep("Elvish"))],
			"HeyGen refused the create: nothing rendered")

		out, err = runCLI(t, ctx, "status", id, addr)
		require.Equal(t, exitFailedSteps, exitCode(err), "%v\n%s", err, out)
		require.Regexp(t, `translate/elvish\s+failed`, out)

		// The log: one WARN with HeyGen's message, no ERROR and no stack trace, no colour.
		logs := logBuf.String()
		require.Regexp(t, `WARN.*HeyGen refused the request.*unsupported language`, logs)
		require.NotContains(t, logs, "ERROR", logs)
		require.NotContains(t, logs, "go.temporal.io/sdk/internal.", "no stack trace")
		require.NotContains(t, logs, "\x1b[", "no colour codes in a log that is not a terminal")
	})

	t.Run("0 and 1: status of a completed and of a cancelled pipeline", func(t *testing.T) {
		ok := writeSpec(t, "ok.yaml", "id: exit-ok\nvideo: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: v1, script: Hi.}\n")
		out, err := runCLI(t, ctx, "start", ok, "--wait", addr)
		require.NoError(t, err, out)
		out, err = runCLI(t, ctx, "status", "exit-ok", addr)
		require.NoError(t, err, out)

		stuck := writeSpec(t, "stuck.yaml", "id: exit-cancelled\nvideo: {type: avatar, avatar_id: sandbox-stuck, voice_id: v1, script: Hi.}\n")
		out, err = runCLI(t, ctx, "start", stuck, addr)
		require.NoError(t, err, out)
		out, err = runCLI(t, ctx, "status", "exit-cancelled", addr)
		require.NoError(t, err, "a running pipeline: 0\n%s", out)
		out, err = runCLI(t, ctx, "cancel", "exit-cancelled", "--wait", addr)
		require.NoError(t, err, "cancel did what it was asked\n%s", out)
		out, err = runCLI(t, ctx, "status", "exit-cancelled", addr)
		require.Equal(t, exitFailed, exitCode(err), "%v\n%s", err, out)
		require.Contains(t, out, "was cancelled")
	})

	t.Run("3: a batch with a bad row, then with a failed pipeline", func(t *testing.T) {
		spec := writeSpec(t, "batch.yaml", `id: exitbatch
video: {type: avatar, avatar_id: "{{avatar}}", voice_id: v1, script: "Hi {{name}}."}
`)
		rows := filepath.Join(t.TempDir(), "rows.csv")
		require.NoError(t, os.WriteFile(rows, []byte("name,avatar\nana,Daisy-inskirt-20220818\n,Daisy-inskirt-20220818\n"), 0o644))
		out, err := runCLI(t, ctx, "start", spec, "--rows", rows, "--wait", addr)
		require.Equal(t, exitFailedSteps, exitCode(err), "%v\n%s", err, out)
		require.Contains(t, out, "1 pipeline: 1 started now, 0 already started before, 1 bad row skipped")
		require.Contains(t, err.Error(), "1 bad row in rows.csv skipped")
		require.Contains(t, out, "see its pipelines: reelflow list --campaign exitbatch")

		require.NoError(t, os.WriteFile(rows, []byte("name,avatar\nana,Daisy-inskirt-20220818\nbo,sandbox-fail\n"), 0o644))
		out, err = runCLI(t, ctx, "start", spec, "--rows", rows, "--wait", addr)
		require.Equal(t, exitFailedSteps, exitCode(err), "%v\n%s", err, out)
		require.Contains(t, out, "2 pipelines: 1 started now, 1 already started before")
		require.Contains(t, err.Error(), "campaign exitbatch: 1 of 2 pipelines did not complete")
		require.Contains(t, out, "exitbatch-bo", "the summary names the failed pipeline")

		out, err = runCLI(t, ctx, "status", "exitbatch", addr)
		require.Equal(t, exitFailedSteps, exitCode(err), "a campaign's status says how it ended\n%v\n%s", err, out)
	})
}
