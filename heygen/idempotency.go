package heygen

import (
	"crypto/sha256"
	"encoding/hex"
)

// The Idempotency-Key rule, in one place: HeyGen's pattern (ValidIdempotencyKey), how
// any text becomes a key HeyGen takes (IdempotencyKey), and what the client sends
// (requestKey). The workflows build the text of a Job's key (workflows.JobIdentity).

// idempotencyKeyPattern is HeyGen's published rule for an Idempotency-Key.
const idempotencyKeyPattern = `^[A-Za-z0-9_\-:.]{1,255}$`

// MaxIdempotencyKey is the longest Idempotency-Key HeyGen takes.
const MaxIdempotencyKey = 255

// ValidIdempotencyKey reports whether HeyGen takes k as an Idempotency-Key: 1 to 255
// characters from A-Z, a-z, 0-9, '_', '-', ':' and '.' (HeyGen's published
// ^[A-Za-z0-9_\-:.]{1,255}$). A callback_id such as "p/render" is not one: '/' is refused.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > MaxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == ':', c == '.':
		default:
			return false
		}
	}
	return true
}

// IdempotencyKey is the Idempotency-Key for text: text itself when HeyGen takes it, else
// (too long, or a character such as the "/" of a callback_id or the "@" of a key from a
// Job that predates pattern-safe keys) its hex SHA-256: 64 characters, as stable across
// retries as the text itself. Reelflow's Jobs send IdempotencyKey of their identity
// (workflows.JobIdentity: the callback_id and the run identity, so that a deliberate new
// render gets a new key); CreateJob falls back to the callback_id.
func IdempotencyKey(text string) string {
	if text == "" || ValidIdempotencyKey(text) {
		return text
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// requestKey is the Idempotency-Key the client sends: key when set (createBody has
// checked it), else callbackID when HeyGen takes that as a key, else none. It serves
// direct callers such as the sandbox's tests and the bench, which create by callback_id
// alone; reelflow's activities always set key.
func requestKey(key, callbackID string) string {
	if key == "" && ValidIdempotencyKey(callbackID) {
		return callbackID
	}
	return key
}
