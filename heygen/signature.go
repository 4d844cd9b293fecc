package heygen

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Signature headers. HeyGen's documentation confirms neither, and community receivers
// read both, so Verify accepts either.
const (
	SignatureHeader    = "Signature"
	AltSignatureHeader = "X-HeyGen-Signature"
)

// signatureHexLen is the length of a hex-encoded HMAC-SHA256.
const signatureHexLen = sha256.Size * 2

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

// SignatureFrom returns the signature a request carries, from either header name.
// Header names match case-insensitively, also in a Header built by hand with
// non-canonical keys. Two differing values are refused.
func SignatureFrom(h http.Header) (string, error) {
	var found string
	for name, values := range h {
		if !strings.EqualFold(name, SignatureHeader) && !strings.EqualFold(name, AltSignatureHeader) {
			continue
		}
		for _, v := range values {
			v = strings.TrimSpace(v)
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

// Verify checks sig against the raw body under each secret, in constant time per secret.
// Several secrets are accepted so that a secret can be rotated without losing events.
// Empty secrets are ignored; a list of only empty secrets is ErrNoSecrets, since it is a
// configuration mistake and not a bad delivery.
func Verify(body []byte, sig string, secrets []string) error {
	if !slices.ContainsFunc(secrets, func(s string) bool { return s != "" }) {
		return ErrNoSecrets
	}
	sig = strings.TrimSpace(sig)
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
