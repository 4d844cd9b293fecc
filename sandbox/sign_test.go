package sandbox

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/reelflow/reelflow/heygen"
)

// TestWebhookDeliverySignedStandard: with SigningScheme standard, a delivery carries the
// Standard Webhooks headers under the endpoint's secret, no hex signature, and the same
// webhook-id on a retry (the standard's idempotency key) with a fresh timestamp.
func TestWebhookDeliverySignedStandard(t *testing.T) {
	e := newEnv(t, Config{SigningScheme: heygen.SchemeStandard})
	rc := newReceiver(t)
	rc.status.Store(http.StatusServiceUnavailable)
	ep := registerHTTP(t, e, rc, nil)
	_, err := e.client.CreateVideo(context.Background(), heygen.CreateVideoRequest{Body: avatarBody("a1"), CallbackID: "p/render"})
	require.NoError(t, err)

	eventually(t, func() bool { return rc.count() >= 2 }, "a delivery and its retry")
	got := rc.received()
	wh, err := standardwebhooks.NewWebhook(ep.Secret)
	require.NoError(t, err)
	for _, d := range got[:2] {
		assert.Empty(t, d.header.Get(heygen.SignatureHeader), "no hex signature")
		require.NoError(t, wh.Verify(d.body, d.header))
		ts, err := strconv.ParseInt(d.header.Get("webhook-timestamp"), 10, 64)
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), time.Unix(ts, 0), time.Minute)
	}
	assert.NotEmpty(t, got[0].header.Get("webhook-id"))
	assert.Equal(t, got[0].header.Get("webhook-id"), got[1].header.Get("webhook-id"), "a retry keeps its webhook-id")
	assert.ErrorIs(t, heygen.VerifyRequest(got[0].header, got[0].body, []string{ep.Secret}), heygen.ErrNoSignature)
}

func TestSigningSchemeConfig(t *testing.T) {
	_, err := New(Config{SigningScheme: "svix"})
	assert.ErrorContains(t, err, "want hex or standard")
}

func TestSign(t *testing.T) {
	body := []byte(`{"event_type":"avatar_video.success"}`)
	h := http.Header{}
	require.NoError(t, Sign(h, heygen.SchemeHex, "whsec_x", "id1", time.Now(), body))
	assert.NoError(t, heygen.VerifyRequest(h, body, []string{"whsec_x"}))

	h = http.Header{}
	at := time.Unix(1_700_000_000, 0)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	require.NoError(t, Sign(h, heygen.SchemeStandard, secret, "msg_1", at, body))
	assert.Equal(t, "msg_1", h.Get("webhook-id"))
	assert.Equal(t, "1700000000", h.Get("webhook-timestamp"))
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	assert.NoError(t, wh.VerifyIgnoringTimestamp(body, h))

	err = Sign(http.Header{}, heygen.SchemeStandard, "whsec_not base64!", "msg_1", at, body)
	assert.ErrorContains(t, err, "must be base64")
	assert.NotContains(t, err.Error(), "not base64!", "the secret is not in the error")
}
