package heygen

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Signature headers of the hex scheme. HeyGen's documentation confirms none of them, and
// community receivers read each, so VerifyRequest accepts any of the three.
const (
	SignatureHeader       = "Signature"
	AltSignatureHeader    = "X-HeyGen-Signature"
	HeyGenSignatureHeader = "Heygen-Signature"
)

// SigningScheme names how a delivery is signed. HeyGen does not publish which one it
// uses, so the receiver accepts both and the sandbox signs either way.
type SigningScheme string

// The signing schemes.
const (
	// SchemeHex is the seed guide's: a hex HMAC-SHA256 of the raw body, keyed with the
	// secret as-is, in one of the hex headers, optionally prefixed "sha256=".
	SchemeHex SigningScheme = "hex"
	// SchemeStandard is Standard Webhooks (standardwebhooks.com): webhook-id,
	// webhook-timestamp and webhook-signature "v1,<base64>" over "id.timestamp.body",
	// keyed with the base64 after "whsec_". The receiver verifies it with the
	// standard's reference library, since this package is stdlib-only.
	SchemeStandard SigningScheme = "standard"
)

// ParseSigningScheme reads a scheme's name; "" is SchemeHex.
func ParseSigningScheme(s string) (SigningScheme, error) {
	switch SigningScheme(strings.ToLower(strings.TrimSpace(s))) {
	case "", SchemeHex:
		return SchemeHex, nil
	case SchemeStandard:
		return SchemeStandard, nil
	}
	return "", fmt.Errorf("signing scheme %q: want %s or %s", s, SchemeHex, SchemeStandard)
}

// signatureHexLen is the length of a hex-encoded HMAC-SHA256.
const signatureHexLen = sha256.Size * 2

// hexPrefix is the optional algorithm prefix of a hex signature, as in "sha256=<hex>".
const hexPrefix = "sha256="

// Signature errors. The receiver answers ErrNoSignature and ErrBadSignature with 401;
// ErrNoSecrets is a configuration mistake, and the receiver refuses to start on it.
var (
	ErrNoSignature  = errors.New("missing signature")
	ErrBadSignature = errors.New("signature does not match")
	ErrNoSecrets    = errors.New("no webhook secret configured")
)

// Sign returns the lowercase hex HMAC-SHA256 of body keyed with secret, used as-is.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// SignatureFrom returns the hex signature a request carries, from any of the three
// header names, without a "sha256=" prefix. Header names match case-insensitively, also
// in a Header built by hand with non-canonical keys. Two differing values are refused.
func SignatureFrom(h http.Header) (string, error) {
	var found string
	for name, values := range h {
		if !isHexHeader(name) {
			continue
		}
		for _, v := range values {
			v = stripHexPrefix(v)
			if v == "" {
				continue
			}
			if found != "" && !strings.EqualFold(found, v) {
				return "", ErrBadSignature
			}
			found = v
		}
	}
	if found == "" {
		return "", ErrNoSignature
	}
	return found, nil
}

// stripHexPrefix trims v and drops a leading "sha256=", in any case.
func stripHexPrefix(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= len(hexPrefix) && strings.EqualFold(v[:len(hexPrefix)], hexPrefix) {
		v = strings.TrimSpace(v[len(hexPrefix):])
	}
	return v
}

// isHexHeader reports whether name is one of the hex scheme's headers.
func isHexHeader(name string) bool {
	return strings.EqualFold(name, SignatureHeader) || strings.EqualFold(name, AltSignatureHeader) ||
		strings.EqualFold(name, HeyGenSignatureHeader)
}

// Verify checks sig (hex, optionally prefixed "sha256=") against the raw body under each
// secret, in constant time per secret. Several secrets are accepted so that a secret can be rotated without losing events.
// Empty secrets are ignored; a list of only empty secrets is ErrNoSecrets, since it is a
// configuration mistake and not a bad delivery.
func Verify(body []byte, sig string, secrets []string) error {
	if !slices.ContainsFunc(secrets, func(s string) bool { return s != "" }) {
		return ErrNoSecrets
	}
	sig = stripHexPrefix(sig)
	if sig == "" {
		return ErrNoSignature
	}
	// Hex is case-insensitive; anything of the wrong length cannot match.
	if len(sig) != signatureHexLen {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return ErrBadSignature
	}
	ok := 0
	for _, s := range secrets {
		if s == "" {
			continue
		}
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		// Every secret is checked, so timing does not reveal which one matched.
		if hmac.Equal(got, m.Sum(nil)) {
			ok = 1
		}
	}
	if ok == 0 {
		return ErrBadSignature
	}
	return nil
}

// VerifyRequest reads the signature from h and verifies body against secrets.
func VerifyRequest(h http.Header, body []byte, secrets []string) error {
	sig, err := SignatureFrom(h)
	if err != nil {
		return err
	}
	return Verify(body, sig, secrets)
}
