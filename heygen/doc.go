// Package heygen speaks HeyGen's HTTP API: the v3 video, template, video translation,
// webhook and account (GET /v3/users/me, the balance) endpoints (v3 only: HeyGen retired
// its v1 and v2 endpoints on 2026-11-01), typed errors, the webhook event model and
// webhook signatures.
//
// Rules of the package:
//   - It imports the standard library only, so every other package may depend on it.
//   - Every call takes a context and returns an *APIError (or wraps one) when HeyGen
//     answered with an error, so callers decide about retries by Kind, never by string.
//   - Parsing is tolerant: HeyGen's payloads differ between guides and deliveries, so
//     every documented spelling of a field is accepted and unknown fields are kept.
//   - HeyGen's published contract (contract/schemas) is the reference: every body
//     the client builds validates against its request schema, and the client needs no
//     field of an answer that the response schema does not publish as required
//     (contract_test.go).
//   - A 2xx answer that cannot be read is retryable (ErrUndecodable), never permanent; an
//     Idempotency-Key outside HeyGen's pattern is refused before sending
//     (ErrInvalidIdempotencyKey, permanent). A create the account cannot pay for (402
//     insufficient_credit) is permanent too, and IsInsufficientCredit tells it apart.
package heygen
