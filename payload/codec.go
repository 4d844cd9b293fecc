package payload

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload.
const (
	// Encoding is the encoding metadata of a payload this codec sealed.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that sealed the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher.
	MetadataCipher = "encryption-cipher"
	// Cipher is the only cipher written and read.
	Cipher = "AES256-GCM"
)

// MissingKeyError is returned when a payload was sealed with a key that is not
// configured: a key retired too early, or a process given the wrong key list.
type MissingKeyError struct {
	// KeyID is the ID in the payload's metadata.
	KeyID string
	// Have lists the configured key IDs.
	Have []string
}

func (e *MissingKeyError) Error() string {
	have := "none"
	if len(e.Have) > 0 {
		have = strings.Join(e.Have, ", ")
	}
	return fmt.Sprintf("payload encrypted with key ID %q, %s (configured: %s)", e.KeyID, missingKeyWords, have)
}

// missingKeyWords are the words of every MissingKeyError's message.
const missingKeyWords = "which is not configured here"

// IsMissingKey reports whether err is, or reports, a MissingKeyError. The Temporal SDK
// does not always keep the error chain (a query's failure, a workflow's failure reach a
// client as text), so the error's own words are matched too; they are this package's.
func IsMissingKey(err error) bool {
	var missing *MissingKeyError
	return err != nil && (errors.As(err, &missing) || strings.Contains(err.Error(), missingKeyWords))
}

// ErrCorrupt is wrapped by every error of a payload that claims this codec's encoding but
// does not open: truncated, altered, or sealed under the same ID with a different key.
var ErrCorrupt = errors.New("encrypted payload does not authenticate")

// Codec is a converter.PayloadCodec that seals payloads with AES-256-GCM.
type Codec struct {
	keys Keys
}

// NewCodec returns a codec for ks, which must hold at least one key.
func NewCodec(ks Keys) (*Codec, error) {
	if len(ks) == 0 {
		return nil, errors.New("payload codec: no key")
	}
	return &Codec{keys: ks}, nil
}

// KeyIDs lists the codec's key IDs; the first encrypts.
func (c *Codec) KeyIDs() []string { return c.keys.IDs() }

var _ converter.PayloadCodec = (*Codec)(nil)

// Encode implements converter.PayloadCodec: each payload, marshalled whole (metadata
// included), is sealed with the first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	k := c.keys[0]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: %w", err)
		}
		nonceSize := k.aead.NonceSize()
		sealed := make([]byte, nonceSize, nonceSize+len(plain)+k.aead.Overhead())
		if _, err := rand.Read(sealed); err != nil {
			return payloads, fmt.Errorf("encrypt payload: %w", err)
		}
		sealed = k.aead.Seal(sealed, sealed[:nonceSize], plain, []byte(k.ID))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(k.ID),
				MetadataCipher:             []byte(Cipher),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec. Payloads of another encoding pass through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		d, err := c.open(p)
		if err != nil {
			return payloads, err
		}
		out[i] = d
	}
	return out, nil
}

func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	md := p.GetMetadata()
	if cph, ok := md[MetadataCipher]; ok && string(cph) != Cipher {
		return nil, fmt.Errorf("decrypt payload: cipher %q: want %s: %w", cph, Cipher, ErrCorrupt)
	}
	id := string(md[MetadataKeyID])
	k, ok := c.keys.find(id)
	if !ok {
		return nil, &MissingKeyError{KeyID: id, Have: c.keys.IDs()}
	}
	data := p.GetData()
	nonceSize := k.aead.NonceSize()
	if len(data) < nonceSize+k.aead.Overhead() {
		return nil, fmt.Errorf("decrypt payload with key %q: %d bytes is too short: %w", id, len(data), ErrCorrupt)
	}
	plain, err := k.aead.Open(nil, data[:nonceSize], data[nonceSize:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: %w", id, ErrCorrupt)
	}
	var d commonpb.Payload
	if err := proto.Unmarshal(plain, &d); err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: %v: %w", id, err, ErrCorrupt)
	}
	return &d, nil
}
