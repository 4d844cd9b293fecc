// Package payload encrypts every Temporal payload reelflow writes: workflow and activity
// inputs and results, signals, queries, and failure details (through the failure
// converter's EncodeCommonAttributes). Temporal's server, its database and its UI see
// only ciphertext; the Web UI shows plaintext through a codec server (Handler).
//
// The rules of the package:
//   - AES-256-GCM with a random 96-bit nonce per payload; the key ID is stored in the
//     payload's metadata and bound into the ciphertext as additional data, so a payload
//     cannot be passed off as another key's.
//   - Keys rotate: the first key of a Keys encrypts, every key decrypts.
//   - A payload sealed with a key that is not configured fails with a *MissingKeyError
//     naming its key ID; a payload that does not authenticate fails with an error. Decode
//     never panics and never returns garbage.
//   - Payloads that this codec did not encode (written before encryption was turned on)
//     pass through Decode untouched, so that turning encryption on breaks no running
//     workflow.
//   - Memo and search attributes are never encoded by a codec: they must hold nothing
//     personal (docs/operations.md lists what they hold).
package payload
