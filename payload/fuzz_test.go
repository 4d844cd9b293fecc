package payload

import (
	"bytes"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// FuzzDecode feeds Decode arbitrary payloads that claim this codec's encoding. It must
// never panic; it must open what Encode wrote; and whatever it does open can only be the
// one plaintext ever sealed with this key: anything else is an error (GCM
// authenticates), never garbage. (Each fuzz worker seals its own copy, with its own
// nonce, so the property is stated on the plaintext, not on the sealed bytes.)
func FuzzDecode(f *testing.F) {
	k, err := NewKey("a", bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	c, err := NewCodec(Keys{k})
	if err != nil {
		f.Fatal(err)
	}
	want := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`{"email":"a@example.com"}`)}
	sealed, err := c.Encode([]*commonpb.Payload{want})
	if err != nil {
		f.Fatal(err)
	}
	good := sealed[0].Data
	f.Add(good, "a", Cipher)
	f.Add([]byte{}, "a", Cipher)
	f.Add(good[:20], "a", "")
	f.Add(good, "b", Cipher)
	f.Add(good, "", "")
	f.Fuzz(func(t *testing.T, data []byte, keyID, cipherName string) {
		md := map[string][]byte{converter.MetadataEncoding: []byte(Encoding), MetadataKeyID: []byte(keyID)}
		if cipherName != "" {
			md[MetadataCipher] = []byte(cipherName)
		}
		out, err := c.Decode([]*commonpb.Payload{{Metadata: md, Data: data}})
		exact := bytes.Equal(data, good) && keyID == "a" && (cipherName == "" || cipherName == Cipher)
		switch {
		case err != nil && exact:
			t.Fatalf("the sealed payload did not open: %v", err)
		case err == nil && (!bytes.Equal(out[0].Data, want.Data) || string(out[0].Metadata["encoding"]) != "json/plain"):
			t.Fatalf("decoded %q, want %q", out[0].Data, want.Data)
		}
	})
}
