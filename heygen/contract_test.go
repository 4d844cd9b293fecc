package heygen

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/sandbox/contract"
)

// op returns the published operation name ("video-create" or "VideoCreate").
func op(t *testing.T, name string) *contract.Operation {
	t.Helper()
	c, err := contract.Load()
	require.NoError(t, err)
	o, ok := c.Op(name)
	require.True(t, ok, "no published operation %s", name)
	return o
}

// mustPublished fails the test unless body is a published answer of the operation, so
// that every fixture the tests serve is proven to be HeyGen's shape.
func mustPublished(t *testing.T, name, body string) string {
	t.Helper()
	require.NoError(t, op(t, name).ValidateResponse([]byte(body)), "fixture for %s is not published shape:\n%s", name, body)
	return body
}
