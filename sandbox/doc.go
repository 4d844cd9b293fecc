// Package sandbox is a working fake of HeyGen's v3 HTTP API for development, tests and
// benchmarks. It renders nothing: a job simply completes (or fails) a fixed RenderTime after
// it was created, then the sandbox delivers signed webhooks exactly as HeyGen does. Point a
// heygen.Client at a server running Handler() and everything runs offline, for free.
//
// What it speaks:
//   - POST /v3/videos (with Idempotency-Key), GET /v3/videos/{id},
//     GET /v3/videos/statuses?video_ids=a,b (at most 100);
//   - POST, GET, PATCH and DELETE /v3/webhooks/endpoints[/{id}] and
//     POST /v3/webhooks/endpoints/{id}/rotate-secret. Registration first sends OPTIONS to
//     the URL, which must answer 2xx within 1 second, as HeyGen does;
//   - file links GET /files/{video_id}.mp4|.webm|.jpg|.gif and /share/{video_id}, serving
//     small deterministic bytes (FileBytes) so downloads can be checked byte for byte;
//   - GET /_sandbox/stats (the Stats ground truth as JSON) and
//     POST /_sandbox/drop-rate?value=0.3 (SetDropRate over HTTP, for demos).
//
// Every response carries X-Request-Id; errors use the v3 envelope
// {"error":{"code","message","param"}} with a real HTTP status.
//
// Webhooks: when a job ends, every enabled endpoint subscribed to the event type (or to all
// types) gets {"event_type","event_data"} signed with heygen.Sign in the Signature header,
// and the job's callback_url, if any, gets the same body unsigned. A delivery is retried with
// exponential backoff (RetryBase, doubling) while the answer is not 2xx, up to 8 attempts.
// The secret is read at each attempt, so after a rotation even retries use the new secret.
// DropRate drops whole deliveries (both kinds) before the first attempt; they are counted in
// Stats.DeliveriesDropped and never sent. At most 32 deliveries are in flight at once.
//
// Magic values, for tests and demos (the avatar_id of a type "avatar" create):
//   - "sandbox-fail": the render fails after RenderTime with failure_code
//     "AVATAR_UNAVAILABLE"; the webhook is avatar_video.fail.
//   - "sandbox-stuck": the job reaches "processing" and never ends, as a few real HeyGen
//     jobs do; no webhook is ever sent. Use it to test overall deadlines.
//
// Timing: a job is "pending" for the first quarter of RenderTime, then "processing".
//
// Persistence: with Config.StatePath set, jobs, endpoints with their secrets, idempotency
// keys, pending deliveries and the Stats counters are saved atomically (temporary file and
// rename) at most every 100 ms while something changed, and on Close. New loads the file:
// jobs whose time has passed end at once and pending deliveries resume, so a killed dev
// stack finishes what was in flight. Stats therefore stay ground truth across restarts.
//
// Idempotency: a create with an Idempotency-Key seen in the last 24 h returns the original
// answer (with the header Idempotent-Replayed: true) whatever its body, and creates nothing.
//
// Simplifications: only avatar bodies are validated in depth (image, studio and
// cinematic_avatar need only their type); a create that was refused is not remembered under
// its Idempotency-Key, so a corrected retry with the same key goes through; creates are
// atomic, so 409 request_in_progress never happens; no rate limiting.
package sandbox
