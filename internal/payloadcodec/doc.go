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
// bytes (AES-256) in base64:
//
//	PAYLOAD_KEYS="2026-12:3q2+7w...=,2026-06:yv66vg...="
//
// The first key encrypts new payloads; all keys decrypt. Ids (A-Z a-z 0-9 .
// _ -, at most 64) are stored in clear with each payload (metadata
// encryption-key-id) so the right key can be found; name them by date. Make a
// key with
//
//	openssl rand -base64 32
//
// or GenerateKey, which returns a whole dev-<random>:<base64> entry. Every
// process that touches payloads (ingress, every worker, the codec server, and
// tools such as `send --wait`) needs the same keyring.
//
// # Rotation
//
//  1. Put the new key first and keep the old ones after it:
//     PAYLOAD_KEYS="2027-01:NEW,2026-12:OLD". Roll it out to every process
//     (codec server and readers first is safest; because the old key stays in
//     the ring, any order works as long as no process that lacks the new key
//     has to read a payload written with it).
//  2. New payloads now carry encryption-key-id 2027-01; old histories still
//     decrypt with 2026-12.
//  3. Remove the old key only once no history that uses it can still be read:
//     after the namespace's retention period has passed since the last
//     workflow that used it closed (running workflows keep their old
//     payloads, and a workflow that runs longer than retention keeps them
//     too). Payloads whose key is gone can never be decrypted again.
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
