package payload

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

func testKey(t testing.TB, id string, fill byte) Key {
	t.Helper()
	k, err := NewKey(id, bytes.Repeat([]byte{fill}, KeySize))
	require.NoError(t, err)
	return k
}

func dataConverter(t testing.TB, o Options) converter.DataConverter {
	t.Helper()
	var copts client.Options
	require.NoError(t, o.Apply(&copts))
	return copts.DataConverter
}

type contact struct {
	Name, Email, Script string
}

var alice = contact{Name: "Alice Example", Email: "alice@example.com", Script: "Hi Alice, welcome aboard"}

func TestRoundTripHidesPlaintext(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dc := dataConverter(t, Options{Keys: Keys{testKey(t, "a", 1)}, Compress: compress})
		p, err := dc.ToPayload(alice)
		require.NoError(t, err)
		raw, err := (&commonpb.Payloads{Payloads: []*commonpb.Payload{p}}).Marshal()
		require.NoError(t, err)
		for _, s := range []string{alice.Name, alice.Email, alice.Script, "json/plain"} {
			require.NotContains(t, string(raw), s, "compress=%v", compress)
		}
		require.Equal(t, Encoding, string(p.Metadata[converter.MetadataEncoding]))
		require.Equal(t, "a", string(p.Metadata[MetadataKeyID]))
		var got contact
		require.NoError(t, dc.FromPayload(p, &got))
		require.Equal(t, alice, got)
	}
}

func TestSealsAreFreshEachTime(t *testing.T) {
	c, err := NewCodec(Keys{testKey(t, "a", 1)})
	require.NoError(t, err)
	in := []*commonpb.Payload{{Data: []byte("same")}}
	x, err := c.Encode(in)
	require.NoError(t, err)
	y, err := c.Encode(in)
	require.NoError(t, err)
	require.NotEqual(t, x[0].Data, y[0].Data, "a nonce is never reused")
}

func TestRotation(t *testing.T) {
	a, b := testKey(t, "a", 1), testKey(t, "b", 2)
	oldDC := dataConverter(t, Options{Keys: Keys{a}})
	p, err := oldDC.ToPayload(alice)
	require.NoError(t, err)

	rotated := dataConverter(t, Options{Keys: Keys{b, a}})
	var got contact
	require.NoError(t, rotated.FromPayload(p, &got), "an old payload decrypts with a listed key")
	require.Equal(t, alice, got)
	np, err := rotated.ToPayload(alice)
	require.NoError(t, err)
	require.Equal(t, "b", string(np.Metadata[MetadataKeyID]), "the first key encrypts")

	onlyB := dataConverter(t, Options{Keys: Keys{b}})
	err = onlyB.FromPayload(p, &got)
	var missing *MissingKeyError
	require.ErrorAs(t, err, &missing)
	require.Equal(t, "a", missing.KeyID)
	require.Contains(t, err.Error(), `key ID "a"`)
	require.Contains(t, err.Error(), "configured: b")

	plain := converter.GetDefaultDataConverter()
	err = plain.FromPayload(p, &got)
	require.Error(t, err, "a process without keys cannot read ciphertext")
}

// TestApplyStrictWithoutKeys: a process with no key writes and reads plaintext, and
// refuses a sealed payload naming the key it needs; the SDK's own converter cannot say.
func TestApplyStrictWithoutKeys(t *testing.T) {
	sealed, err := dataConverter(t, Options{Keys: Keys{testKey(t, "k2026a", 1)}}).ToPayload(alice)
	require.NoError(t, err)
	var copts client.Options
	require.NoError(t, Options{}.ApplyStrict(&copts))
	dc := copts.DataConverter
	p, err := dc.ToPayload(alice)
	require.NoError(t, err)
	require.Equal(t, "json/plain", string(p.Metadata[converter.MetadataEncoding]), "no key: plaintext")
	var got contact
	require.NoError(t, dc.FromPayload(p, &got))
	require.Equal(t, alice, got)

	err = dc.FromPayload(sealed, &got)
	var missing *MissingKeyError
	require.ErrorAs(t, err, &missing)
	require.Equal(t, "k2026a", missing.KeyID)
	require.Contains(t, err.Error(), `key ID "k2026a", which is not configured here (configured: none)`)
	require.NotContains(t, converter.GetDefaultDataConverter().FromPayload(sealed, &got).Error(), "k2026a")

	// With keys, ApplyStrict is Apply.
	var withKeys client.Options
	require.NoError(t, Options{Keys: Keys{testKey(t, "k2026a", 1)}}.ApplyStrict(&withKeys))
	require.NoError(t, withKeys.DataConverter.FromPayload(sealed, &got))
	require.Equal(t, alice, got)
}

func TestDecodeRefusesTampering(t *testing.T) {
	a := testKey(t, "a", 1)
	c, err := NewCodec(Keys{a})
	require.NoError(t, err)
	sealed, err := c.Encode([]*commonpb.Payload{{Data: []byte("secret")}})
	require.NoError(t, err)
	impostor, err := NewCodec(Keys{testKey(t, "a", 9)})
	require.NoError(t, err)

	flip := func(p *commonpb.Payload, i int) *commonpb.Payload {
		q := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(p.Data)}
		for k, v := range p.Metadata {
			q.Metadata[k] = v
		}
		q.Data[i] ^= 1
		return q
	}
	for name, tc := range map[string]struct {
		codec *Codec
		p     *commonpb.Payload
	}{
		"nonce flipped":        {c, flip(sealed[0], 0)},
		"ciphertext flipped":   {c, flip(sealed[0], 14)},
		"tag flipped":          {c, flip(sealed[0], len(sealed[0].Data)-1)},
		"truncated":            {c, &commonpb.Payload{Metadata: sealed[0].Metadata, Data: sealed[0].Data[:10]}},
		"another key, same ID": {impostor, sealed[0]},
		"relabelled key ID": {mustCodec(t, Keys{a, testKey(t, "b", 1)}), &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte("b")}, Data: sealed[0].Data}},
		"unknown cipher": {c, &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte("a"), MetadataCipher: []byte("ROT13")}, Data: sealed[0].Data}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.codec.Decode([]*commonpb.Payload{tc.p})
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func mustCodec(t *testing.T, ks Keys) *Codec {
	c, err := NewCodec(ks)
	require.NoError(t, err)
	return c
}

func TestPlaintextPassesThrough(t *testing.T) {
	p, err := converter.GetDefaultDataConverter().ToPayload(alice)
	require.NoError(t, err)
	var got contact
	require.NoError(t, dataConverter(t, Options{Keys: Keys{testKey(t, "a", 1)}}).FromPayload(p, &got),
		"payloads written before encryption was turned on still read")
	require.Equal(t, alice, got)
}

func TestCompressionShrinks(t *testing.T) {
	big := contact{Script: strings.Repeat("Hello there, this line repeats. ", 400)}
	on := dataConverter(t, Options{Keys: Keys{testKey(t, "a", 1)}, Compress: true})
	off := dataConverter(t, Options{Keys: Keys{testKey(t, "a", 1)}})
	pOn, err := on.ToPayload(big)
	require.NoError(t, err)
	pOff, err := off.ToPayload(big)
	require.NoError(t, err)
	require.Less(t, len(pOn.Data)*5, len(pOff.Data))
	var got contact
	require.NoError(t, on.FromPayload(pOn, &got))
	require.Equal(t, big, got)
	require.NoError(t, off.FromPayload(pOn, &got), "a reader without the flag still decompresses")
}

func TestFailuresAreEncrypted(t *testing.T) {
	var copts client.Options
	require.NoError(t, Options{Keys: Keys{testKey(t, "a", 1)}}.Apply(&copts))
	fc := copts.FailureConverter
	f := fc.ErrorToFailure(temporal.NewApplicationError("render for alice@example.com failed", "HeyGenPermanent", alice))
	raw, err := f.Marshal()
	require.NoError(t, err)
	require.NotContains(t, string(raw), "alice@example.com", "message and details are sealed")
	back := fc.FailureToError(f)
	var app *temporal.ApplicationError
	require.ErrorAs(t, back, &app)
	require.Contains(t, app.Error(), "render for alice@example.com failed")
	var got contact
	require.NoError(t, app.Details(&got))
	require.Equal(t, alice, got)
}

func TestParseKeys(t *testing.T) {
	k32 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	raw32 := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
	for _, tc := range []struct {
		in      string
		ids     []string
		wantErr string
	}{
		{in: "a:" + k32, ids: []string{"a"}},
		{in: "b:" + k32 + ", a:" + raw32, ids: []string{"b", "a"}},
		{in: "# comment\n\nb:" + k32 + "\na:" + k32 + "\n", ids: []string{"b", "a"}},
		{in: "", ids: []string{}},
		{in: k32, wantErr: "want id:base64key"},
		{in: "a:" + k32 + ",a:" + k32, wantErr: "listed twice"},
		{in: "a:not base64!", wantErr: "not base64"},
		{in: "a:" + base64.StdEncoding.EncodeToString([]byte("short")), wantErr: "5 bytes, want 32"},
		{in: "a b:" + k32, wantErr: "key ID"},
	} {
		ks, err := ParseKeys(tc.in)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.in)
			require.NotContains(t, err.Error(), "not base64!", "a key is never echoed")
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.ids, append([]string{}, ks.IDs()...))
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/sub/payload.keys"
	ks, err := EnsureKeyFile(path)
	require.NoError(t, err)
	require.Len(t, ks, 1)
	again, err := EnsureKeyFile(path)
	require.NoError(t, err)
	require.Equal(t, ks.IDs(), again.IDs(), "an existing file is kept")

	nk, err := GenerateKey("next")
	require.NoError(t, err)
	require.NoError(t, PutFirst(path, nk))
	ks2, err := LoadKeyFile(path)
	require.NoError(t, err)
	require.Equal(t, []string{"next", ks[0].ID}, ks2.IDs())
	require.NoError(t, PutFirst(path, ks[0]))
	ks3, err := LoadKeyFile(path)
	require.NoError(t, err)
	require.Equal(t, []string{ks[0].ID, "next"}, ks3.IDs(), "no duplicate, the key moved first")

	require.NoError(t, chmod(path, 0o644))
	_, err = LoadKeyFile(path)
	require.ErrorContains(t, err, "chmod 600")
	_, err = LoadKeyFile(dir + "/absent")
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrCorrupt))
}
