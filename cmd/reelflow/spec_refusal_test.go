package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/reelflow/reelflow/devstack"
)

// TestStartRefusesSpecs starts specs that must be refused against a running dev stack
// (placeholders or a budget without --rows, scheduling fields out of range, HeyGen
// bodies against HeyGen's published schema, contradicting timeouts): each exits 2 with
// its problem at file:line, and nothing reaches Temporal or the sandbox. A good spec started last shows that the stack was listening.
func TestStartRefusesSpecs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, addr := startStack(t, ctx, devstack.Config{RenderTime: 200 * time.Millisecond})
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
		return p
	}

	tests := []struct {
		name, id string
		args     []string
		want     []string // in the error, each
	}{
		{"the campaign example without --rows", "campaign-q3",
			[]string{filepath.Join("..", "..", "examples", "campaign.yaml")},
			[]string{"campaign.yaml:13: title: {{name}} is a placeholder", "campaign.yaml:20: translate.languages[0]", "start this spec with --rows FILE.csv"}},
		{"a placeholder in a template's variables", "tpl-1",
			[]string{write("tpl.yaml", "id: tpl-1\ntemplate:\n  id: t\n  variables:\n    name: {name: name, type: text, properties: {content: '{{name}}'}}\n")},
			[]string{"tpl.yaml:5: template.variables.name.properties.content: {{name}} is a placeholder", "--rows FILE.csv"}},
		{"a budget without --rows", "budget-1",
			[]string{write("budget.yaml", "id: budget-1\nvideo: {type: avatar, avatar_id: a, script: hi}\nbudget: 10\n")},
			[]string{"budget.yaml:3: budget: caps a campaign", "--rows FILE.csv"}},
		{"a priority out of range", "prio-1",
			[]string{write("prio.yaml", "id: prio-1\nvideo: {type: avatar, avatar_id: a, script: hi}\npriority: 0\n")},
			[]string{"prio.yaml:3: priority: 0 is not a priority: 1 (most urgent) to 5"}},
		{"a typo inside the HeyGen body", "typo-1",
			[]string{write("typo.yaml", "id: typo-1\nvideo:\n  type: avatar\n  avatr_id: a\n  script: hi\n")},
			[]string{"typo.yaml:4: video.avatr_id: unknown key; did you mean avatar_id? (HeyGen's POST /v3/videos)"}},
		{"a studio scene HeyGen does not publish", "studio-1",
			[]string{write("studio.yaml", "id: studio-1\nvideo:\n  type: studio\n  scenes:\n    - type: avatar\n      script: hi\n")},
			[]string{`studio.yaml:5: video.scenes[0].type: must be one of "avatar_video", "image", "video"`}},
		{"timeouts that contradict each other", "timeouts-1",
			[]string{write("timeouts.yaml", "id: timeouts-1\nvideo: {type: avatar, avatar_id: a, script: hi}\ntimeouts:\n  deadline: 1m\n  push_window: 10m\n")},
			[]string{"timeouts.yaml:4: timeouts.deadline: deadline 1m is not longer than push_window 10m"}},
		{"a retry budget out of range", "retry-1",
			[]string{write("retry.yaml", "id: retry-1\nvideo: {type: avatar, avatar_id: a, script: hi}\nretry:\n  renders: 50\n")},
			[]string{"retry.yaml:4: retry.renders: 50 is not 0 to 10"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, ctx, append([]string{"start", "--wait"}, append(tc.args, addr)...)...)
			require.Equal(t, 2, exitCode(err), "%v\n%s", err, out)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			_, err = st.Client.DescribeWorkflowExecution(ctx, tc.id, "")
			var nf *serviceerror.NotFound
			require.ErrorAs(t, err, &nf, "no pipeline %s was started", tc.id)
		})
	}
	require.Zero(t, st.Sandbox.Stats().CreateRequests, "no create reached the sandbox")

	good := write("good.yaml", "id: good-1\nvideo: {type: avatar, avatar_id: a, voice_id: v, script: hi}\n")
	out, err := runCLI(t, ctx, "start", good, "--wait", addr)
	require.NoError(t, err, out)
	require.Equal(t, 1, st.Sandbox.Stats().CreateRequests, "the stack was listening all along")
}
