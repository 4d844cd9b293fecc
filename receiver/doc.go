// Package receiver turns HeyGen webhook deliveries into Temporal signals.
//
// It is the only part of reelflow that faces the internet, so its rules are strict:
//   - The signature is verified over the raw body, before anything is parsed, under both
//     schemes HeyGen may use (hex HMAC, Standard Webhooks) and every secret.
//   - Only workflow IDs that reelflow made (workflows.ParseJobWorkflowID) are signalled:
//     the callback_id, or the open Job found by HeyGenJobID when there is none (Router).
//   - A delivery is answered 200 only after the signal call returned: an event held only
//     in memory would be lost on a crash. When Temporal is unreachable or slow the answer
//     is 503 with Retry-After, so that HeyGen delivers again.
//   - Repeated deliveries carry the same signal request ID (heygen.Event.DedupeKey), so
//     Temporal records the event once.
//   - No input is answered 500; only a panic is, and then nothing was signalled.
//   - Secrets and signatures are never logged, nor are request headers or bodies.
package receiver
