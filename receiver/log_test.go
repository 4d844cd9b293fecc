package receiver

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/reelflow/reelflow/heygen"
)

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

// lockedBuffer is a log sink that the race detector accepts.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsNeverCarrySecrets runs every table case, a panic included, through one receiver
// whose log is encoded as in production, and searches the output for the secrets and for
// every signature that was sent.
func TestLogsNeverCarrySecrets(t *testing.T) {
	var buf lockedBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(&buf), zap.DebugLevel))
	r, fake := newTestReceiver(t, log)

	var sigs []string
	webhookRequests := 0
	for _, tc := range cases() {
		fake.set(tc.mode)
		do(t, r.Handler(), tc)
		if tc.path == "" || strings.HasPrefix(tc.path, WebhookPath+"?") {
			webhookRequests++
		}
		for _, name := range []string{"Signature", "X-HeyGen-Signature"} {
			for _, v := range tc.header.Values(name) {
				if v = strings.TrimSpace(v); len(v) >= 8 {
					sigs = append(sigs, v)
				}
			}
		}
	}
	for _, body := range [][]byte{successBody, failBody, translateBody} {
		for _, s := range []string{secretNew, secretOld, secretWrong} {
			sigs = append(sigs, heygen.Sign(s, body))
		}
	}

	out := buf.String()
	require.NotEmpty(t, out)
	lower := strings.ToLower(out)
	for _, secret := range []string{secretNew, secretOld, secretWrong, "NEWsecret", "OLDsecret"} {
		assert.NotContains(t, out, secret)
	}
	for _, s := range sigs {
		// Also a part of it, in case a log line clipped one.
		probe := strings.ToLower(s)
		if len(probe) > 16 {
			probe = probe[:16]
		}
		assert.NotContains(t, lower, probe, "a signature reached the log")
	}

	// One access line per webhook request, each with its outcome.
	access := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, `"logger":"access"`) && strings.Contains(line, `"path":"/webhooks/heygen"`) {
			access++
			assert.Contains(t, line, `"outcome":"`)
			assert.Contains(t, line, `"request_id":"`)
		}
	}
	assert.Equal(t, webhookRequests, access)
}
