// Package heygen speaks HeyGen's HTTP API: the v3 video, template, video translation and
// webhook endpoints, the legacy v2 video generation with its v1 status call, typed errors,
// the webhook event model and webhook signatures.
//
// Rules of the package:
//   - It imports the standard library only, so every other package may depend on it.
//   - Every call takes a context and returns an *APIError (or wraps one) when HeyGen
//     answered with an error, so callers decide about retries by Kind, never by string.
//   - Parsing is tolerant: HeyGen's payloads differ between guides and deliveries, so
//     every documented spelling of a field is accepted and unknown fields are kept.
package heygen
