package payload

import (
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// Options say how payloads are encoded. The zero value encodes nothing.
type Options struct {
	// Keys encrypt (the first) and decrypt (all). None: payloads stay plaintext, and
	// encrypted ones cannot be read (a *MissingKeyError).
	Keys Keys
	// Compress zlib-compresses each payload before it is encrypted, when that makes it
	// smaller. Compression comes first because ciphertext does not compress.
	Compress bool
	// Remote, when set, is the URL of a codec server (its /encode and /decode) used
	// instead of Keys: a CLI that holds no key asks the codec server.
	Remote string
	// RemoteToken is the codec server's bearer token, if it asks for one.
	RemoteToken string
}

// Enabled reports whether o encodes payloads at all.
func (o Options) Enabled() bool { return len(o.Keys) > 0 || o.Remote != "" }

// Codecs returns the payload codecs for o, in the order converter.NewCodecDataConverter
// takes them (it applies them last to first when encoding): nil when o encodes nothing.
func (o Options) Codecs() ([]converter.PayloadCodec, error) {
	if o.Remote != "" {
		return []converter.PayloadCodec{converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{
			Endpoint:      o.Remote,
			ModifyRequest: bearer(o.RemoteToken),
		})}, nil
	}
	if len(o.Keys) == 0 {
		return nil, nil
	}
	c, err := NewCodec(o.Keys)
	if err != nil {
		return nil, err
	}
	// Every reader decompresses, so that the flag can change from one process to the next.
	return []converter.PayloadCodec{c, compression{on: o.Compress, zlib: converter.NewZlibCodec(converter.ZlibCodecOptions{})}}, nil
}

// compression is the SDK's zlib codec, encoding only when on. It runs inside the
// encryption: zlib only ever reads bytes that authenticated.
type compression struct {
	on   bool
	zlib converter.PayloadCodec
}

func (z compression) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if !z.on {
		return ps, nil
	}
	return z.zlib.Encode(ps)
}

func (z compression) Decode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	return z.zlib.Decode(ps)
}

// Apply sets copts' data converter and failure converter so that every payload the
// client and its workers write is encoded, failure messages and stack traces included
// (EncodeCommonAttributes). With nothing to encode it leaves copts alone.
func (o Options) Apply(copts *client.Options) error {
	codecs, err := o.Codecs()
	if err != nil || codecs == nil {
		return err
	}
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codecs...)
	copts.DataConverter = blockInWorkflows{dc}
	copts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
	return nil
}

// ApplyStrict is Apply, except that a process with no key and no codec server still
// recognises encrypted payloads: it writes plaintext, reads plaintext, and refuses a
// sealed payload with a *MissingKeyError that names its key ID (inside workflows, as a
// failed workflow task that Temporal retries, like Apply's), where the SDK's default
// converter would only say that it knows no encoding "binary/encrypted".
func (o Options) ApplyStrict(copts *client.Options) error {
	if o.Enabled() {
		return o.Apply(copts)
	}
	copts.DataConverter = blockInWorkflows{converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), keyless{})}
	return nil
}

// keyless is the codec of a process that holds no key: encrypted payloads cannot be
// opened, and every other payload passes through.
type keyless struct{}

func (keyless) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) { return ps, nil }

func (keyless) Decode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	for _, p := range ps {
		if string(p.GetMetadata()[converter.MetadataEncoding]) == Encoding {
			return ps, &MissingKeyError{KeyID: string(p.GetMetadata()[MetadataKeyID])}
		}
	}
	return ps, nil
}
