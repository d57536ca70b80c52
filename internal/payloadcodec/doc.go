// Package payloadcodec encrypts Temporal payloads (workflow and activity
// inputs and results, signals, queries, memos, and with FailureConverter also
// failure messages) so that the signed origin URLs of a notification never
// appear in clear in workflow history, in the Temporal database or in Temporal
// Cloud.
//
// # Keys
//
// The keyring comes from one string, normally the PAYLOAD_KEYS environment
// variable: a comma-separated list of id:key entries, the key being 32 random
// bytes (AES-256) in base64, every entry but one marked :decrypt-only:
//
//	PAYLOAD_KEYS="2026-12:3q2+7w...=,2027-06:yv66vg...=:decrypt-only"
//
// The unmarked key encrypts new payloads, wherever it stands in the list;
// all keys decrypt. A list with no unmarked key or more than one is refused.
// Ids (A-Z a-z 0-9 . _ -, at most 64) are stored in clear with each payload
// (metadata encryption-key-id) so the right key can be found; name them by
// date. Make a key with
//
//	openssl rand -base64 32
//
// or GenerateKey, which returns a whole dev-<random>:<base64> entry. Every
// process that touches payloads (ingress, every worker, the codec server, and
// tools such as `send --wait`) needs every key a payload it reads may carry.
//
// # Rotation, in phases
//
// A process can read only what was written with a key it lists, and during
// a rollout old and new processes run side by side. So each phase is rolled
// out to every process before the next one starts, and a mixed fleet only
// ever runs two neighbouring phases, which read each other's payloads:
//
//  0. OLD:k1                          (before)
//  1. OLD:k1,NEW:k2:decrypt-only      add the new key; OLD still encrypts
//  2. OLD:k1:decrypt-only,NEW:k2      NEW encrypts; OLD still decrypts
//  3. NEW:k2                          drop OLD once nothing written with it is read
//
// Phase 3 waits until no history that uses OLD can still be read: the
// namespace's retention period after the last workflow that ran with OLD
// closed (running workflows keep their old payloads, and one that runs
// longer than retention keeps them too). Payloads whose key is gone can never
// be decrypted again.
//
// A rollback goes back one phase at a time: 2 to 1 (OLD encrypts again; NEW
// stays listed, so what phase 2 wrote is still read) is always safe; 1 to 0
// only if no process ever ran phase 2; never to a list without a key whose
// payloads may still be read. A binary from before the decrypt-only mark
// refuses a marked list and does not start: roll back to such a binary only
// in phase 0 or 3, when the list has one key.
//
// Payloads without encoding binary/encrypted are passed through on decode, so
// turning encryption on does not break existing histories; it also means the
// codec does not force encryption on data written by a process without it.
// Search attributes are never encoded (the server must index them): never put
// URLs or tokens in them.
//
// # Format
//
// Each payload is proto-marshalled whole (metadata and data) and sealed with
// AES-256-GCM under a fresh random 12-byte nonce, with the key id as
// additional data. The result has metadata encoding=binary/encrypted and
// encryption-key-id=<id>, and data nonce || ciphertext || tag.
//
// # Web UI and CLI: the codec server
//
// History in the Web UI shows encrypted payloads as binary until the UI can
// call a codec server: Handler, mounted at some URL, answers POST <url>/encode
// and POST <url>/decode. The UI calls it from the browser, so:
//
//   - Configure the endpoint in the UI: ui-server's config key codec.endpoint
//     (env TEMPORAL_CODEC_ENDPOINT in the ui-server docker image), e.g.
//     https://codec.example.com or http://127.0.0.1:8081/codec (no trailing
//     /decode). Each user can also override it in the UI's "Codec Server"
//     settings (stored in the browser).
//   - Add the UI's origin (as the browser sends it, e.g.
//     https://temporal.example.com or http://127.0.0.1:8233) to
//     HandlerOptions.AllowedOrigins. The handler answers the CORS preflight
//     (the UI sends Content-Type: application/json and X-Namespace, plus
//     Authorization/Authorization-Extras with passAccessToken) and allows
//     credentials, which the UI sends when codec.includeCredentials
//     (TEMPORAL_CODEC_INCLUDE_CREDENTIALS) is true.
//   - The handler requires one of HandlerOptions.Tokens. The UI cannot send
//     a header of its own (codec.passAccessToken sends the signed-in user's
//     OIDC access token, and only to an https:// endpoint), so it presents
//     the token in the path: set its endpoint to https://codec.example.com/<token>.
//     The CLI sends it as a Bearer: temporal workflow show --codec-endpoint
//     URL --codec-auth "Bearer TOKEN".
//
// When the codec server is unreachable or refuses, the UI just shows the
// encrypted payloads. Anyone who can call /decode can read payloads.
package payloadcodec
