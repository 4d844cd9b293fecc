// Package sandbox is a working fake of HeyGen's HTTP API for development, tests and
// benchmarks. It renders nothing: a job simply completes (or fails) RenderTime after it was
// created, then the sandbox delivers signed webhooks exactly as HeyGen does. Point a
// heygen.Client at a server running Handler() and everything runs offline, for free. It can
// also be a hostile HeyGen: see Faults.
//
// HeyGen's published contract (package contract: the request and response schemas of
// HeyGen's OpenAPI, and the rules its API reference states in prose) is the sandbox's
// law. Every body sent to a published v3 operation is validated against its request
// schema, and a violation is a 400 invalid_parameter whose param names the offending
// field ("video.url", "output_languages[1]"); published query parameters are held to
// their type, minimum and maximum. Answers carry only published fields, in published
// shapes. CheckContract (or Config.CheckContract) holds every /v3 answer to the contract
// at run time and reports each violation, for contract tests.
//
// What it speaks:
//   - POST /v3/videos (answered {"data":{"video_id","status":"waiting","output_format"}}),
//     GET /v3/videos/{id} (pending|processing|completed|failed; no callback_id, which
//     HeyGen does not publish on a v3 video), GET /v3/videos/statuses?video_ids=a,b (at
//     most 100; rows queued|processing|completed|failed|not_found, error an object or
//     null), and GET /v3/videos?title=&folder_id=&limit=&token= (every video of every
//     generation, newest first, title as a case-insensitive substring);
//   - POST /v3/templates/{template_id} (variables required, title, caption, dimension ...;
//     any ID renders; the answer is the created video object {"data":{"id","status",...}},
//     as of the create);
//   - POST /v3/video-translations (video {type:url,url} or {type:asset_id,asset_id};
//     output_languages non-empty, each listed by the languages call; mode speed|precision;
//     one translation ID per language, each keeping the body's callback_id),
//     GET /v3/video-translations/{id} (pending|running|completed|failed, video_url or,
//     with translate_audio_only, audio_url; srt_caption_url, vtt_caption_url),
//     GET /v3/video-translations/statuses?video_translation_ids= (each row's ID in video_id)
//     and GET /v3/video-translations/languages ({"data":{"languages":[...]}});
//   - POST, GET, PATCH and DELETE /v3/webhooks/endpoints[/{id}] and
//     POST /v3/webhooks/endpoints/{id}/rotate-secret. An endpoint URL must be HTTPS, except
//     on loopback (127.0.0.1, ::1, localhost), where `reelflow dev` runs its receiver.
//     Registration first sends OPTIONS to the URL, which must answer 2xx within 1 second,
//     as HeyGen does. created_at is ISO 8601; the secret is shown by create and
//     rotate-secret only, and is null elsewhere;
//   - GET /v3/webhooks/events?event_type=&entity_id=&limit=&token=: the event history,
//     newest first. Every event a job sends is kept once (event_id, event_type,
//     event_data, created_at), however many endpoints it goes to and even when a fault
//     drops its delivery, up to the latest 20000, across restarts; entity_id is the video
//     or translation ID. GET /v3/webhooks/event-types lists the subscribable types;
//   - lists (videos, endpoints, events) give 10 rows unless limit (1 to 100) says
//     otherwise, and page with has_more and next_token (null on the last page), which the
//     next call passes as token;
//   - file links GET /files/{id}.{mp4|webm|jpg|gif|srt|vtt|mp3} and /share/{video_id},
//     serving small deterministic bytes (FileBytes, ArtifactBytes) so downloads can be
//     checked byte for byte. Completed videos have video_url, thumbnail_url (.jpg), gif_url
//     and subtitle_url / caption_url (.srt; a .vtt twin is served too);
//   - GET /_sandbox/stats (the Stats ground truth as JSON), POST /_sandbox/drop-rate?value=0.3
//     (SetDropRate), and GET or POST /_sandbox/faults (Faults as JSON, durations as "2s").
//
// Every response carries X-Request-Id; v3 errors use HeyGen's envelope
// {"error":{"code","message","param","doc_url"}} (param and doc_url null when there is
// none) with a real HTTP status; a 429 has Retry-After and code rate_limit_exceeded.
//
// Expiring links: with Config.LinkTTL (or SetLinkTTL) above 0, file links carry
// ?expires=<unix milliseconds>&sig=<hmac>; after the expiry, or with a bad or missing
// signature, the file host answers 403, as a presigned S3 link does. Every GET of a job
// mints fresh links. Webhook links are minted when the job ends. Stats counts downloads
// served and refused.
//
// Webhooks: when a job ends, every enabled endpoint subscribed to the event type (or to all
// types) gets {"event_type","event_data"} signed with heygen.Sign in the Signature header,
// or, with Config.SigningScheme heygen.SchemeStandard, with the Standard Webhooks headers
// (webhook-id = the delivery's ID, the same on every retry), and the job's callback_url, if any, gets the same body unsigned. Videos of every kind send
// avatar_video.success {video_id, url, callback_id, ...} or avatar_video.fail {video_id, msg,
// callback_id}; translations send video_translate.success {video_translate_id, url,
// callback_id, output_language} or video_translate.fail {video_translate_id, message,
// callback_id, output_language}. A delivery is retried with exponential backoff (RetryBase,
// doubling) while the answer is not 2xx, up to 8 attempts. The secret is read at each
// attempt, so after a rotation even retries use the new secret. At most 32 deliveries are
// in flight at once; thousands of jobs cost a heap and a map, not goroutines.
//
// Faults (Config.Faults, SetFaults; all off by default, decided by a seeded RNG): webhooks
// dropped, duplicated, delayed, followed by a contradicting event, or held until a poll has
// seen the job terminal; creates refused with 429 (at a rate, or past a concurrency limit)
// or 500, or made and then left unanswered (the connection is hijacked and closed); renders
// failed, stuck for ever, or long-tailed. Every decision is counted in Stats, and
// Stats.JobsByCallbackID is the ground truth per callback_id. A contradicting event never
// changes that truth: the first terminal state is the truth, as reelflow must also hold.
// Create faults apply to the create routes only, never to reads.
//
// Magic values, for tests and demos:
//   - avatar_id "sandbox-fail" (a v3 avatar body): the render
//     fails with failure_code AVATAR_UNAVAILABLE; the webhook is avatar_video.fail.
//   - avatar_id "sandbox-stuck": the job reaches "processing" and never ends, as a few real
//     HeyGen jobs do; no webhook is ever sent. Use it to test overall deadlines.
//   - template ID "tpl_missing": POST /v3/templates/tpl_missing is a 404 not_found.
//     "tpl_fail" renders and fails (RENDER_FAILED); "tpl_stuck" never ends.
//   - output language "Klingon": accepted by a translation create although the languages
//     call does not list it; that translation fails (video_translate.fail), the others of
//     the same request do not. It is the trigger of "one language fails" tests.
//
// Timing: a job is "pending" for the first quarter of RenderTime, then "processing"
// ("running" for translations). Faults.RenderTail adds a long tail.
//
// The account (credits.go): Config.ConcurrencyLimit (SetConcurrencyLimit) is the plan's
// limit of jobs rendering at once, 429 past it; Faults.ConcurrencyLimit applies on top.
// Config.Credits (SetCredits, POST /_sandbox/credits {"remaining": N}, GET for the balance)
// is a balance in credits, unlimited by default: a create is charged 1 credit per started
// minute of each job's video (CreditCost), and one that costs more than is left makes
// nothing and gets 402 insufficient_credit in HeyGen's envelope ("Your account has 5
// credits but this video requires 10 credits."). The refused Idempotency-Key replays that
// 402 for 24 h, even after a top-up; a fresh key goes through. GET /v3/users/me reports the
// account in HeyGen's published shape, its balance under Config.Billing (a wallet in
// credits by default). Stats counts the 402s, the credits spent and the users/me calls.
//
// Persistence: with Config.StatePath set, jobs, endpoints with their secrets, idempotency
// keys, pending and held deliveries, the link-signing key and the Stats counters are saved
// atomically (temporary file and rename) at most every 100 ms while something changed, and
// on Close. New loads the file: jobs whose time has passed end at once and pending
// deliveries resume, so a killed dev stack finishes what was in flight. Stats therefore stay
// ground truth across restarts. Faults are configuration, not state: they are not saved.
//
// Idempotency, as HeyGen documents it: an Idempotency-Key matches
// ^[A-Za-z0-9_\-:.]{1,255}$ (else 400). A
// mutation (every create route, and the webhook endpoint calls) with a key seen on the
// same route and the same path parameters in the last 24 h returns the original answer
// (with the header Idempotent-Replayed: true) whatever its body, and changes nothing; the
// same key on another route or another template or endpoint ID is independent. A template
// create's replay is the snapshot taken at creation time. A request whose key's first
// request is still being processed gets 409 request_in_progress. A call that was refused
// (4xx, 429, 5xx) is not remembered, so a corrected retry with the same key goes through;
// an ambiguous create is remembered. Keys are saved with the state.
//
// Simplifications: beyond the published schemas, only avatar, cinematic_avatar, template,
// and translation bodies have rules of their own; templates have no variables to
// check; translations do not fetch their source URL. HeyGen's retired v1 and v2 routes
// (end of life 2026-11-01) are not served: they answer 404 like any unknown route.
package sandbox
