package receiver

import (
	"errors"
	"net/http"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/reelflow/reelflow/heygen"
)

// Reasons a delivery fails verification, as counted and logged. None names a secret or
// a signature.
const (
	reasonMissing = "missing" // neither scheme's headers are there
	reasonStale   = "stale"   // a Standard Webhooks timestamp outside the tolerance
	reasonInvalid = "invalid" // no signature matches any secret
)

// errStale is the Standard Webhooks timestamp outside the library's 5-minute tolerance.
var errStale = errors.New("webhook timestamp outside the tolerance")

// verifyDelivery checks a delivery under both signing schemes and every secret, and says
// which scheme verified it. HeyGen does not publish its scheme, so both are accepted:
// the seed guide's hex HMAC (heygen.VerifyRequest) and Standard Webhooks (the standard's
// reference library). The error is heygen.ErrNoSignature when neither scheme's headers
// are present, errStale for a replayed or skewed Standard Webhooks delivery, and
// heygen.ErrBadSignature otherwise.
func verifyDelivery(h http.Header, body []byte, secrets []string) (heygen.SigningScheme, error) {
	hexErr := heygen.VerifyRequest(h, body, secrets)
	if hexErr == nil {
		return heygen.SchemeHex, nil
	}
	std, present := standardHeaders(h)
	if !present {
		return "", hexErr
	}
	stdErr := verifyStandard(std, body, secrets)
	if stdErr == nil {
		return heygen.SchemeStandard, nil
	}
	return "", stdErr
}

// verifyStandard checks a Standard Webhooks delivery under every secret. Every secret is
// tried even after a match, so that timing does not tell which one matched. A secret
// whose part after "whsec_" is not base64 cannot key this scheme and is skipped.
func verifyStandard(h http.Header, body []byte, secrets []string) error {
	ok, stale := false, false
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			continue
		}
		err = wh.Verify(body, h)
		switch {
		case err == nil:
			ok = true
		case errors.Is(err, standardwebhooks.ErrMessageTooOld), errors.Is(err, standardwebhooks.ErrMessageTooNew):
			stale = true
		}
	}
	switch {
	case ok:
		return nil
	case stale:
		return errStale
	}
	return heygen.ErrBadSignature
}

// standardHeaders copies the three Standard Webhooks headers into a canonical header,
// as the library reads them, matching names case-insensitively (a Header built by hand
// may not be canonical). Several webhook-signature values are joined with spaces, the
// standard's separator, so that each is tried. present is false unless all three are
// there.
func standardHeaders(h http.Header) (out http.Header, present bool) {
	out = http.Header{}
	for name, values := range h {
		for _, want := range []string{standardwebhooks.HeaderWebhookID, standardwebhooks.HeaderWebhookTimestamp,
			standardwebhooks.HeaderWebhookSignature} {
			if !strings.EqualFold(name, want) {
				continue
			}
			for _, v := range values {
				if v = strings.TrimSpace(v); v == "" {
					continue
				}
				if prev := out.Get(want); prev != "" && want == standardwebhooks.HeaderWebhookSignature {
					v = prev + " " + v
				}
				out.Set(want, v)
			}
		}
	}
	return out, out.Get(standardwebhooks.HeaderWebhookID) != "" &&
		out.Get(standardwebhooks.HeaderWebhookTimestamp) != "" &&
		out.Get(standardwebhooks.HeaderWebhookSignature) != ""
}

// failureReason names a verification error for the metrics and the log.
func failureReason(err error) string {
	switch {
	case errors.Is(err, heygen.ErrNoSignature):
		return reasonMissing
	case errors.Is(err, errStale):
		return reasonStale
	}
	return reasonInvalid
}
