package workflows

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAccountName(t *testing.T) {
	const key = "sk_live_0123456789abcdef"
	hashed, err := AccountName("", key)
	require.NoError(t, err)
	other, err := AccountName("", key+"x")
	require.NoError(t, err)
	tests := []struct {
		name, account, key, want, wantErr string
	}{
		{name: "configured name wins over the key", account: "acme-prod", key: key, want: "acme-prod"},
		{name: "no name, no key: the sandbox", want: SandboxAccount},
		{name: "bad name", account: "acme prod", wantErr: "want [A-Za-z0-9._-]"},
		{name: "no name: a hash of the key", key: key, want: hashed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AccountName(tt.account, tt.key)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.Regexp(t, `^key-[0-9a-f]{24}$`, hashed)
	require.NotContains(t, hashed, key[3:])
	require.NotEqual(t, hashed, other, "two keys, two accounts")
	require.True(t, ValidPipelineID(hashed), "the name fits a workflow ID")
	require.False(t, strings.Contains(SchedulerWorkflowIDFor(hashed), key))
}
