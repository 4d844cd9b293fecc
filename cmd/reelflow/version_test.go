package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVersionIsTheNewestRelease: `reelflow version` names the newest release of
// CHANGELOG.md, so a release that forgets one of them fails here.
func TestVersionIsTheNewestRelease(t *testing.T) {
	changelog, err := os.ReadFile("../../CHANGELOG.md")
	require.NoError(t, err)
	newest := regexp.MustCompile(`(?m)^## (v\d+\.\d+\.\d+)\b`).FindSubmatch(changelog)
	require.NotNil(t, newest, "CHANGELOG.md has a release heading")

	out, err := runCLI(t, context.Background(), "version")
	require.NoError(t, err)
	fields := strings.Fields(out)
	require.GreaterOrEqual(t, len(fields), 2, "reelflow version printed %q", out)
	require.Equal(t, string(newest[1]), fields[1], "reelflow version names CHANGELOG.md's newest release")
}
