package activities

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
)

func TestTemporalError(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantType     string
		nonRetryable bool
	}{
		{"permission denied", serviceerror.NewPermissionDenied("no", "authz"), ErrTypeTemporalRefused, true},
		{"namespace not found", serviceerror.NewNamespaceNotFound("reelflow"), ErrTypeTemporalRefused, true},
		{"invalid argument", serviceerror.NewInvalidArgument("bad id"), ErrTypeTemporalRefused, true},
		{"wrapped", fmt.Errorf("describe job x: %w", serviceerror.NewPermissionDenied("no", "")), ErrTypeTemporalRefused, true},
		{"unavailable", serviceerror.NewUnavailable("restarting"), ErrTypeTemporalUnavailable, false},
		{"deadline", serviceerror.NewDeadlineExceeded("slow"), ErrTypeTemporalUnavailable, false},
		{"not a service error", errors.New("connection reset"), ErrTypeTemporalUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var appErr *temporal.ApplicationError
			require.ErrorAs(t, temporalError("prior jobs", tt.err), &appErr)
			assert.Equal(t, tt.wantType, appErr.Type())
			assert.Equal(t, tt.nonRetryable, appErr.NonRetryable())
			assert.ErrorIs(t, appErr, tt.err, "the service error stays the cause")
		})
	}
}
