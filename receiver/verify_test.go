package receiver

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/reelflow/reelflow/heygen"
)

// Standard Webhooks secrets: base64 after whsec_, as the standard and HeyGen's prefix say.
const (
	stdSecretNew = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdSecretOld = "whsec_b2xkIHNlY3JldCBvZiB0aGUgZW5kcG9pbnQ="
)

// stdSign returns the Standard Webhooks headers of body under secret, sent at ts.
func stdSign(t testing.TB, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	sig, err := wh.Sign(id, ts, body)
	require.NoError(t, err)
	return hdr("webhook-id", id, "webhook-timestamp", strconv.FormatInt(ts.Unix(), 10), "webhook-signature", sig)
}

// TestVerifyBothSchemes holds the receiver to both signing schemes, with two secrets of
// each kind (a rotation) configured at once: every secret is tried under both schemes.
func TestVerifyBothSchemes(t *testing.T) {
	now := time.Now()
	std := func(secret string, ts time.Time) http.Header { return stdSign(t, secret, "msg_1", ts, successBody) }
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	good := std(stdSecretNew, now)
	goodSig := good.Get("webhook-signature")
	otherSig := std(stdSecretNew, now.Add(-time.Second)).Get("webhook-signature") // same key, other message
	wrongSig := std("whsec_"+strings.Repeat("A", 32), now).Get("webhook-signature")
	tests := []struct {
		name   string
		header http.Header
		scheme heygen.SigningScheme // "" when refused
		reason string
	}{
		{"hex", signed(successBody), heygen.SchemeHex, ""},
		{"hex with sha256= in Heygen-Signature", hdr("Heygen-Signature", "sha256="+heygen.Sign(secretOld, successBody)), heygen.SchemeHex, ""},
		{"hex of a base64 secret, used as-is", hdr("X-HeyGen-Signature", heygen.Sign(stdSecretOld, successBody)), heygen.SchemeHex, ""},
		{"standard", good, heygen.SchemeStandard, ""},
		{"standard, rotated secret", std(stdSecretOld, now), heygen.SchemeStandard, ""},
		{"standard, several signatures, the last matches", with(good, "webhook-signature", "v1,"+wrongSig[3:]+" "+wrongSig+" "+goodSig), heygen.SchemeStandard, ""},
		{"standard, a signature per header line", func() http.Header {
			h := with(good, "webhook-signature", wrongSig)
			h.Add("webhook-signature", goodSig)
			return h
		}(), heygen.SchemeStandard, ""},
		{"standard, lowercase map keys", http.Header{"webhook-id": {"msg_1"}, "webhook-timestamp": {good.Get("webhook-timestamp")}, "webhook-signature": {goodSig}}, heygen.SchemeStandard, ""},
		{"standard, 4 minutes old", std(stdSecretNew, now.Add(-4*time.Minute)), heygen.SchemeStandard, ""},
		{"standard next to a wrong hex signature", with(good, "Signature", heygen.Sign(secretWrong, successBody)), heygen.SchemeStandard, ""},
		{"hex next to wrong standard headers", with(signed(successBody), "webhook-id", "x", "webhook-timestamp", "1", "webhook-signature", wrongSig), heygen.SchemeHex, ""},

		{"standard, 6 minutes old", std(stdSecretNew, now.Add(-6*time.Minute)), "", reasonStale},
		{"standard, 6 minutes ahead", std(stdSecretNew, now.Add(6*time.Minute)), "", reasonStale},
		{"standard, timestamp changed after signing", with(good, "webhook-timestamp", strconv.FormatInt(now.Unix()-1, 10)), "", reasonInvalid},
		{"standard, id changed after signing", with(good, "webhook-id", "msg_2"), "", reasonInvalid},
		{"standard, another message's signature", with(good, "webhook-signature", otherSig), "", reasonInvalid},
		{"standard, wrong secret", with(good, "webhook-signature", wrongSig), "", reasonInvalid},
		{"standard, v2 version", with(good, "webhook-signature", "v2,"+goodSig[3:]), "", reasonInvalid},
		{"standard, no version", with(good, "webhook-signature", goodSig[3:]), "", reasonInvalid},
		{"standard, hex secret as hex scheme", with(good, "webhook-signature", "v1,"+heygen.Sign(stdSecretNew, successBody)), "", reasonInvalid},
		{"standard, timestamp not a number", with(good, "webhook-timestamp", "yesterday"), "", reasonInvalid},
		{"standard, timestamp in milliseconds", with(good, "webhook-timestamp", strconv.FormatInt(now.UnixMilli(), 10)), "", reasonStale},
		{"standard, huge timestamp", with(good, "webhook-timestamp", "99999999999999999999"), "", reasonInvalid},
		{"standard, no webhook-id", http.Header{"Webhook-Timestamp": good["Webhook-Timestamp"], "Webhook-Signature": good["Webhook-Signature"]}, "", reasonMissing},
		{"standard, empty signature", with(good, "webhook-signature", "v1,"), "", reasonInvalid},
		{"standard, hostile signature header", with(good, "webhook-signature", strings.Repeat("v1,, ", 10000)), "", reasonInvalid},
		{"nothing", hdr("Content-Type", "application/json"), "", reasonMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			fake := &fakeSignaler{}
			r, err := New(Config{Secrets: []string{secretNew, stdSecretNew, secretOld, stdSecretOld}, Logger: zap.New(core)}, fake, nil)
			require.NoError(t, err)
			rec := do(t, r.Handler(), tcase{body: successBody, header: tc.header})
			var resp response
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
			access := logs.FilterLoggerName("access").All()
			require.Len(t, access, 1)
			fields := access[0].ContextMap()
			if tc.scheme == "" {
				assert.Equal(t, http.StatusUnauthorized, rec.Code)
				assert.Empty(t, fake.recorded())
				assert.Equal(t, tc.reason+" signature", fields["reason"])
				assert.NotContains(t, fields, "signing_scheme")
				return
			}
			assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, "signalled", resp.Status)
			assert.Len(t, fake.recorded(), 1)
			assert.Equal(t, string(tc.scheme), fields["signing_scheme"], "the log says which scheme verified")
		})
	}
}

// TestVerifyCountsSchemes checks the per-scheme and per-reason counters on /metrics.
func TestVerifyCountsSchemes(t *testing.T) {
	r, err := New(Config{Secrets: []string{stdSecretNew}}, &fakeSignaler{}, nil)
	require.NoError(t, err)
	h := r.Handler()
	do(t, h, tcase{body: successBody, header: hdr("Signature", heygen.Sign(stdSecretNew, successBody))})
	do(t, h, tcase{body: successBody, header: stdSign(t, stdSecretNew, "m1", time.Now(), successBody)})
	do(t, h, tcase{body: successBody, header: stdSign(t, stdSecretNew, "m2", time.Now(), successBody)})
	do(t, h, tcase{body: successBody, header: stdSign(t, stdSecretNew, "m3", time.Now().Add(-time.Hour), successBody)})
	m := do(t, h, tcase{method: http.MethodGet, path: "/metrics"}).Body.String()
	assert.Contains(t, m, `reelflow_receiver_verified_total{scheme="hex"} 1`)
	assert.Contains(t, m, `reelflow_receiver_verified_total{scheme="standard"} 2`)
	assert.Contains(t, m, `reelflow_receiver_verification_failures_total{reason="stale"} 1`)
	assert.Contains(t, m, `reelflow_receiver_verification_failures_total{reason="invalid"} 0`)
}
