package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/reelflow/reelflow/devstack"
	"github.com/reelflow/reelflow/sandbox"
	"github.com/reelflow/reelflow/workflows"
)

// rerunSpec writes a spec: a render of script, two translations, fail_fast.
func rerunSpec(t *testing.T, id, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), id+".yaml")
	body := fmt.Sprintf(`id: %s
video:
  type: avatar
  avatar_id: Daisy-inskirt-20220818
  voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54
  script: %s
translate:
  languages: ["Spanish (Spain)", French]
fail_fast: true
timeouts: {push_window: 1m, deadline: 10m}
`, id, script)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	return path
}

// steps are the callback_ids of rerunSpec's pipeline id.
func steps(id string) (render string, translations []string) {
	return workflows.JobWorkflowID(id, workflows.StepRender), []string{
		workflows.JobWorkflowID(id, workflows.TranslateStep("Spanish (Spain)")),
		workflows.JobWorkflowID(id, workflows.TranslateStep("French")),
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	deadline, ok := ctx.Deadline()
	require.True(t, ok, "waiting for %s needs a deadline", what)
	require.Eventually(t, cond, time.Until(deadline), 10*time.Millisecond, "waiting for %s", what)
}

// creates is the sandbox's ground truth: jobs created per callback_id.
func creates(st *devstack.Stack) map[string]int { return st.Sandbox.Stats().CreatesByCallbackID }

// snapshot is the ground truth before a rerun: the sandbox's creates per callback_id,
// and which steps' Jobs completed (a Job workflow's ID is its callback_id).
type snapshot struct {
	creates   map[string]int
	completed map[string]bool
}

func takeSnapshot(t *testing.T, st *devstack.Stack, id string) snapshot {
	t.Helper()
	render, translations := steps(id)
	done := map[string]bool{}
	for _, cb := range append([]string{render}, translations...) {
		desc, err := st.Client.DescribeWorkflowExecution(context.Background(), cb, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue
		}
		require.NoError(t, err)
		done[cb] = desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}
	return snapshot{creates: creates(st), completed: done}
}

// toRedo counts the translations of rerunSpec's pipeline id that had not completed.
func (s snapshot) toRedo(id string) int {
	_, translations := steps(id)
	n := 0
	for _, cb := range translations {
		if !s.completed[cb] {
			n++
		}
	}
	return n
}

// requireResumed checks a rerun against the sandbox: the render was created once in all,
// each translation that had completed is reused, and each other one is created exactly
// once more than before the rerun.
func requireResumed(t *testing.T, st *devstack.Stack, id string, before snapshot) {
	t.Helper()
	render, translations := steps(id)
	after := creates(st)
	require.Equal(t, 1, after[render], "the completed render is reused, never rendered again")
	for _, cb := range translations {
		if before.completed[cb] {
			require.Equal(t, before.creates[cb], after[cb], "%s completed, and is reused", cb)
			continue
		}
		require.Equal(t, before.creates[cb]+1, after[cb], "%s is redone exactly once", cb)
	}
}

// startTranslating starts the pipeline of spec and waits until HeyGen has both its
// translations' creates.
func startTranslating(t *testing.T, ctx context.Context, st *devstack.Stack, spec, id, addr string) {
	t.Helper()
	_, translations := steps(id)
	out, err := runCLI(t, ctx, "start", spec, addr)
	require.NoError(t, err, out)
	waitFor(t, ctx, "both translations' creates", func() bool {
		c := creates(st)
		return c[translations[0]] == 1 && c[translations[1]] == 1
	})
}

// TestRerun stops pipelines in the ways a user meets (a failed translation with
// fail_fast, one without it, a cancel, a terminate) and starts them again with the same
// spec.
func TestRerun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, addr := startStack(t, ctx, devstack.Config{RenderTime: time.Second})

	t.Run("after a failed translation", func(t *testing.T) {
		const id = "rerun-failed"
		spec := rerunSpec(t, id, "Hello.")
		render, translations := steps(id)
		// The sandbox renders one job at a time (429 for the rest), so the translations
		// are created one after the other, and only the first one's render fails.
		st.Sandbox.SetFaults(sandbox.Faults{ConcurrencyLimit: 1, RetryAfter: 2 * time.Second})
		done := make(chan error, 1)
		go func() {
			_, err := runCLI(t, ctx, "start", spec, "--wait", addr)
			done <- err
		}()
		waitFor(t, ctx, "the render's create", func() bool { return creates(st)[render] == 1 })
		st.Sandbox.SetFaults(sandbox.Faults{ConcurrencyLimit: 1, RetryAfter: 2 * time.Second, FailRate: 1})
		waitFor(t, ctx, "a translation's create", func() bool { c := creates(st); return c[translations[0]]+c[translations[1]] >= 1 })
		st.Sandbox.SetFaults(sandbox.Faults{})
		require.Equal(t, 1, exitCode(<-done), "fail_fast fails the pipeline")
		before := takeSnapshot(t, st, id)
		require.GreaterOrEqual(t, before.creates[translations[0]]+before.creates[translations[1]], 1, "a translation was created, and failed")
		// Which translation failed, and whether the other one completed before fail_fast
		// stopped it, depends on the order they got the sandbox's one slot in.
		redo := before.toRedo(id)
		require.GreaterOrEqual(t, redo, 1)

		// A changed completed step is refused, and nothing runs.
		out, err := runCLI(t, ctx, "start", rerunSpec(t, id, "Hello again."), addr)
		require.Equal(t, 2, exitCode(err), out)
		// The render's spec changed, and with it every completed step that depends on it;
		// which translations completed before fail_fast depends on the order they ran in.
		var changed *workflows.StepChangedError
		require.ErrorAs(t, err, &changed)
		require.Equal(t, workflows.StepRender, changed.Steps[0])
		require.Contains(t, err.Error(), "--fresh", "the message says how to render it again")

		out, err = runCLI(t, ctx, "start", spec, "--wait", addr)
		require.NoError(t, err, out)
		require.Contains(t, out, fmt.Sprintf("resuming %s (it failed): render done, %d of 2 translations to redo", id, redo))
		require.Contains(t, out, "pipeline "+id+" completed")
		require.Regexp(t, `render\s+done \(reused\)`, out)
		requireResumed(t, st, id, before)
	})

	t.Run("after it completed with a failed translation", func(t *testing.T) {
		// Without fail_fast the pipeline completes although a translation failed (the
		// sandbox fails every Klingon translation). Started again, it redoes only that one.
		const id = "rerun-partial"
		spec := filepath.Join(t.TempDir(), id+".yaml")
		require.NoError(t, os.WriteFile(spec, []byte(`id: rerun-partial
video: {type: avatar, avatar_id: Daisy-inskirt-20220818, voice_id: 2d5b0e6cf36f460aa7fc47e3eee4ba54, script: Hello.}
translate: {languages: ["Spanish (Spain)", Klingon]}
timeouts: {push_window: 1m, deadline: 10m}
`), 0o644))
		render := workflows.JobWorkflowID(id, workflows.StepRender)
		spanish := workflows.JobWorkflowID(id, workflows.TranslateStep("Spanish (Spain)"))
		klingon := workflows.JobWorkflowID(id, workflows.TranslateStep("Klingon"))
		out, err := runCLI(t, ctx, "start", spec, "--wait", addr)
		require.Contains(t, out, "pipeline "+id+" completed", "%v", err)
		require.Regexp(t, regexp.QuoteMeta(workflows.TranslateStep("Klingon"))+`\s+failed`, out)
		before := creates(st)
		require.Equal(t, 1, before[klingon])

		out, err = runCLI(t, ctx, "start", spec, "--wait", addr)
		require.Contains(t, out, "resuming "+id+" (it completed with 1 unfinished step: translate/klingon failed): render done, 1 of 2 translations to redo", "%v", err)
		require.Contains(t, out, "pipeline "+id+" completed")
		after := creates(st)
		require.Equal(t, 1, after[render], "the render is reused")
		require.Equal(t, 1, after[spanish], "the completed translation is reused")
		require.Equal(t, 2, after[klingon], "the failed translation is redone, once")

		// A pipeline whose every step is done is never started again.
		out, err = runCLI(t, ctx, "start", rerunSpec(t, "rerun-done", "Hello."), "--wait", addr)
		require.NoError(t, err, out)
		out, err = runCLI(t, ctx, "start", rerunSpec(t, "rerun-done", "Hello."), addr)
		require.NoError(t, err, out)
		require.Contains(t, out, "was already started and completed; not starting it again")
		require.Equal(t, 1, creates(st)[workflows.JobWorkflowID("rerun-done", workflows.StepRender)])
	})

	t.Run("after a cancel mid-translation", func(t *testing.T) {
		const id = "rerun-cancelled"
		spec := rerunSpec(t, id, "Hello.")
		startTranslating(t, ctx, st, spec, id, addr)
		out, err := runCLI(t, ctx, "cancel", id, "--wait", addr)
		require.NoError(t, err, out)
		require.Contains(t, out, "cancelled")
		before := takeSnapshot(t, st, id)

		out, err = runCLI(t, ctx, "start", spec, "--wait", addr)
		require.NoError(t, err, out)
		require.Contains(t, out, fmt.Sprintf("resuming %s (it was cancelled): render done, %d of 2 translations to redo", id, before.toRedo(id)))
		requireResumed(t, st, id, before)
	})

	t.Run("after a terminate", func(t *testing.T) {
		const id = "rerun-terminated"
		spec := rerunSpec(t, id, "Hello.")
		startTranslating(t, ctx, st, spec, id, addr)
		require.NoError(t, st.Client.TerminateWorkflow(ctx, id, "", "operator test"))
		out, err := runCLI(t, ctx, "status", id, addr)
		require.Equal(t, exitFailed, exitCode(err), "%v\n%s", err, out)
		require.Contains(t, out, "was terminated")
		require.Contains(t, out, "to resume it")
		before := takeSnapshot(t, st, id)

		// The Jobs may still be recording their cancellation: the rerun waits for them.
		out, err = runCLI(t, ctx, "start", spec, "--wait", addr)
		require.NoError(t, err, out)
		require.Contains(t, out, "resuming "+id+" (it was terminated)")
		requireResumed(t, st, id, before)
	})
}
