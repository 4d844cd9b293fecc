package payload

import (
	"testing"

	"go.temporal.io/sdk/converter"

	"github.com/reelflow/reelflow/heygen"
)

// BenchmarkSignalPayload is the data converter's share of the ack path: the receiver
// encodes a heygen.event signal's payload, the worker decodes it. "off" is the SDK's
// default converter; "on" seals with AES-256-GCM, "on+zlib" compresses first.
func BenchmarkSignalPayload(b *testing.B) {
	ev := heygen.Event{
		Type: heygen.EventAvatarVideoSuccess, CallbackID: "welcome-42/render", JobID: "ackv-123456",
		URL:  "https://files.example/ackv-123456.mp4",
		Data: []byte(`{"video_id":"ackv-123456","url":"https://files.example/ackv-123456.mp4","callback_id":"welcome-42/render"}`),
	}
	key := testKey(b, "bench", 7)
	for _, tc := range []struct {
		name string
		dc   converter.DataConverter
	}{
		{"off", converter.GetDefaultDataConverter()},
		{"on", dataConverter(b, Options{Keys: Keys{key}})},
		{"on+zlib", dataConverter(b, Options{Keys: Keys{key}, Compress: true})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ps, err := tc.dc.ToPayloads(ev)
				if err != nil {
					b.Fatal(err)
				}
				var got heygen.Event
				if err := tc.dc.FromPayloads(ps, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
