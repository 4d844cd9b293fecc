package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeDocumentsEveryVariable keeps the docs true to the binary: every
// environment variable a flag reads is documented in docs/commands.md, and the README's
// two first commands are the ones a new user runs.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "commands.md"))
	require.NoError(t, err)
	commands := string(b)
	a := &app{out: &strings.Builder{}, errOut: &strings.Builder{}, env: newEnvFlags()}
	a.rootCommand()
	vars := a.env.Vars()
	require.NotEmpty(t, vars)
	for _, v := range vars {
		if !strings.Contains(commands, "`"+v+"`") {
			t.Errorf("docs/commands.md does not document $%s", v)
		}
	}
	b, err = os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	readme := string(b)
	first := readme[strings.Index(readme, "```"):]
	first = first[:strings.Index(first[3:], "```")+3]
	require.Contains(t, first, "go run ./cmd/reelflow dev")
	require.Contains(t, first, "go test ./...")
}
