package heygen

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The vectors were computed outside Go, with
//
//	printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret"
const (
	vecSecret    = "whsec_test_secret"
	vecNewSecret = "whsec_new"
	vecBody      = `{"event_type":"avatar_video.success","event_data":{"video_id":"v1","url":"https://x/v.mp4","callback_id":"job-1"}}`
	vecSig       = "99c07210af9ea7fc2f9ca2fba79f4447e0df4ff856f20d32e8225ac32fecdd02"
	vecNewSig    = "861cd3bdb36ef971adb5561268ac32635bf29485e4cacb18a45394a4c08d5c51"
	vecEmptySig  = "c6c175a074d482e2b94a0f8c5619f3abd861a511ec3ea7603b906811fd3d9d30" // empty body
)

func TestSignKnownVectors(t *testing.T) {
	assert.Equal(t, vecSig, Sign(vecSecret, []byte(vecBody)))
	assert.Equal(t, vecNewSig, Sign(vecNewSecret, []byte(vecBody)))
	assert.Equal(t, vecEmptySig, Sign(vecSecret, nil))
	assert.Equal(t, vecEmptySig, Sign(vecSecret, []byte{}))
}

// flip returns s with byte i changed.
func flip(s string, i int, to byte) string {
	b := []byte(s)
	b[i] = to
	return string(b)
}

func TestVerify(t *testing.T) {
	// The same event, re-serialised with a space and reordered keys: same meaning,
	// different bytes, so the signature over the raw body must not match.
	reserialised := `{"event_data": {"callback_id":"job-1","url":"https://x/v.mp4","video_id":"v1"}, "event_type":"avatar_video.success"}`
	tests := []struct {
		name    string
		body    string
		sig     string
		secrets []string
		want    error
	}{
		{"right", vecBody, vecSig, []string{vecSecret}, nil},
		{"right with spaces around header", vecBody, "  " + vecSig + "\t", []string{vecSecret}, nil},
		// Decision: hex is case-insensitive, so an upper-case signature is the same bytes
		// and is accepted. HeyGen is reported to send lower case.
		{"uppercase hex", vecBody, strings.ToUpper(vecSig), []string{vecSecret}, nil},
		{"empty body", "", vecEmptySig, []string{vecSecret}, nil},
		{"wrong secret", vecBody, vecSig, []string{"whsec_other"}, ErrBadSignature},
		{"secret with whitespace is used as-is", vecBody, vecSig, []string{vecSecret + " "}, ErrBadSignature},
		{"flipped byte in body", flip(vecBody, 30, 'X'), vecSig, []string{vecSecret}, ErrBadSignature},
		{"body with trailing newline", vecBody + "\n", vecSig, []string{vecSecret}, ErrBadSignature},
		{"flipped char in signature", vecBody, flip(vecSig, 10, '0'), []string{vecSecret}, ErrBadSignature},
		{"flipped last char in signature", vecBody, flip(vecSig, 63, '3'), []string{vecSecret}, ErrBadSignature},
		{"re-serialised json", reserialised, vecSig, []string{vecSecret}, ErrBadSignature},
		{"empty signature", vecBody, "", []string{vecSecret}, ErrNoSignature},
		{"blank signature", vecBody, "   ", []string{vecSecret}, ErrNoSignature},
		{"short signature", vecBody, vecSig[:63], []string{vecSecret}, ErrBadSignature},
		{"truncated to 32 bytes of hex", vecBody, vecSig[:32], []string{vecSecret}, ErrBadSignature},
		{"long signature", vecBody, vecSig + "0", []string{vecSecret}, ErrBadSignature},
		{"doubled signature", vecBody, vecSig + vecSig, []string{vecSecret}, ErrBadSignature},
		{"non-hex of right length", vecBody, strings.Repeat("z", 64), []string{vecSecret}, ErrBadSignature},
		{"prefixed", vecBody, "sha256=" + vecSig[:57], []string{vecSecret}, ErrBadSignature},
		{"sha256= prefix", vecBody, "sha256=" + vecSig, []string{vecSecret}, nil},
		{"SHA256= prefix", vecBody, "SHA256=" + vecSig, []string{vecSecret}, nil},
		{"sha256= prefix, wrong secret", vecBody, "sha256=" + vecSig, []string{"whsec_other"}, ErrBadSignature},
		{"prefix alone", vecBody, "sha256=", []string{vecSecret}, ErrNoSignature},
		{"other algorithm prefix", vecBody, "sha1=" + vecSig, []string{vecSecret}, ErrBadSignature},
		{"base64 of the mac", vecBody, "mcByEK+ep/wvnKL7p59ER+Dfk/hW9g0y6CJaw y/N0C=", []string{vecSecret}, ErrBadSignature},
		{"several secrets, second matches", vecBody, vecNewSig, []string{vecSecret, vecNewSecret}, nil},
		{"several secrets, first matches", vecBody, vecSig, []string{vecSecret, vecNewSecret}, nil},
		{"several secrets, none match", vecBody, vecSig, []string{"a", "b", "c"}, ErrBadSignature},
		{"empty secrets skipped", vecBody, vecSig, []string{"", vecSecret}, nil},
		{"empty secrets list", vecBody, vecSig, nil, ErrNoSecrets},
		{"empty secrets list, no signature", vecBody, "", []string{}, ErrNoSecrets},
		{"only empty secrets", vecBody, vecSig, []string{"", ""}, ErrNoSecrets},
		{"empty secret does not verify an empty-key mac", vecBody, Sign("", []byte(vecBody)), []string{"", vecSecret}, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify([]byte(tt.body), tt.sig, tt.secrets)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestSignatureFrom(t *testing.T) {
	other := strings.Repeat("a", 64)
	tests := []struct {
		name   string
		header http.Header
		want   string
		err    error
	}{
		{"Signature", hdr("Signature", vecSig), vecSig, nil},
		{"X-HeyGen-Signature", hdr("X-HeyGen-Signature", vecSig), vecSig, nil},
		{"Heygen-Signature", hdr("Heygen-Signature", vecSig), vecSig, nil},
		{"lowercase map key heygen-signature", http.Header{"heygen-signature": {vecSig}}, vecSig, nil},
		{"sha256= prefix dropped", hdr("X-HeyGen-Signature", "sha256="+vecSig), vecSig, nil},
		{"prefixed and plain, same value", hdr("Signature", vecSig, "Heygen-Signature", "sha256="+vecSig), vecSig, nil},
		{"three headers, one differs", hdr("Signature", vecSig, "X-Heygen-Signature", vecSig, "Heygen-Signature", other), "", ErrBadSignature},
		{"canonicalised by Set", setHdr("x-heygen-signature", vecSig), vecSig, nil},
		{"lowercase map key signature", http.Header{"signature": {vecSig}}, vecSig, nil},
		{"lowercase map key x-heygen-signature", http.Header{"x-heygen-signature": {vecSig}}, vecSig, nil},
		{"trimmed", hdr("Signature", " "+vecSig+" "), vecSig, nil},
		{"both, same value", hdr("Signature", vecSig, "X-Heygen-Signature", vecSig), vecSig, nil},
		{"both, same value, different case", hdr("Signature", vecSig, "X-Heygen-Signature", strings.ToUpper(vecSig)), "", nil},
		{"both, different values", hdr("Signature", vecSig, "X-Heygen-Signature", other), "", ErrBadSignature},
		{"one header twice, different values", http.Header{"Signature": {vecSig, other}}, "", ErrBadSignature},
		{"one header twice, one empty", http.Header{"Signature": {"", vecSig}}, vecSig, nil},
		{"empty value", hdr("Signature", ""), "", ErrNoSignature},
		{"none", http.Header{"Content-Type": {"application/json"}}, "", ErrNoSignature},
		{"nil header", nil, "", ErrNoSignature},
		{"unrelated look-alike", hdr("X-Signature", vecSig), "", ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SignatureFrom(tt.header)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				assert.Empty(t, got)
				return
			}
			require.NoError(t, err)
			if tt.want != "" {
				assert.Equal(t, tt.want, got)
			}
			assert.NoError(t, Verify([]byte(vecBody), got, []string{vecSecret}))
		})
	}
}

func TestParseSigningScheme(t *testing.T) {
	for in, want := range map[string]SigningScheme{"": SchemeHex, "hex": SchemeHex, " Standard ": SchemeStandard} {
		got, err := ParseSigningScheme(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseSigningScheme("svix")
	assert.ErrorContains(t, err, "want hex or standard")
}

func TestVerifyRequest(t *testing.T) {
	tests := []struct {
		name    string
		header  http.Header
		secrets []string
		want    error
	}{
		{"signed", hdr("Signature", vecSig), []string{vecSecret}, nil},
		{"alt header, rotated secret", hdr("X-HeyGen-Signature", vecNewSig), []string{vecSecret, vecNewSecret}, nil},
		{"unsigned callback_url delivery", http.Header{}, []string{vecSecret}, ErrNoSignature},
		{"bad", hdr("Signature", vecNewSig), []string{vecSecret}, ErrBadSignature},
		{"conflicting headers", hdr("Signature", vecSig, "X-HeyGen-Signature", vecNewSig), []string{vecSecret, vecNewSecret}, ErrBadSignature},
		{"no secrets", hdr("Signature", vecSig), nil, ErrNoSecrets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyRequest(tt.header, []byte(vecBody), tt.secrets)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

// hdr builds a header with exact (non-canonicalised, unless already canonical) keys.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = append(h[kv[i]], kv[i+1])
	}
	return h
}

// setHdr builds a header through Set, which canonicalises the key.
func setHdr(k, v string) http.Header {
	h := http.Header{}
	h.Set(k, v)
	return h
}
