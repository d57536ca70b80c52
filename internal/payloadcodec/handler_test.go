package payloadcodec

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	uiOrigin  = "https://temporal.example.com"
	devOrigin = "http://127.0.0.1:8233"
	testToken = "codec-token-123"
)

func newCodecServer(t *testing.T, ring *Keyring, opts HandlerOptions) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(ring, opts))
	t.Cleanup(srv.Close)
	return srv
}

type codecRequest struct {
	method, path, origin, auth string
	body                       []byte
}

func do(t *testing.T, srv *httptest.Server, r codecRequest) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(r.method, srv.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.method == http.MethodPost {
		// What the Web UI sends.
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func payloadsJSON(t *testing.T, ps []*commonpb.Payload) []byte {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parsePayloads(t *testing.T, b []byte) []*commonpb.Payload {
	t.Helper()
	var ps commonpb.Payloads
	if err := protojson.Unmarshal(b, &ps); err != nil {
		t.Fatalf("response %q: %v", b, err)
	}
	return ps.Payloads
}

func hasCORS(resp *http.Response) bool {
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			return true
		}
	}
	return false
}

func TestHandlerDecode(t *testing.T) {
	ring := mustRing(t, "2026-12:"+testKey(1))
	srv := newCodecServer(t, ring, HandlerOptions{AllowedOrigins: []string{uiOrigin, devOrigin + "/"}, Tokens: []string{testToken}})

	orig, err := converter.GetDefaultDataConverter().ToPayloads(sampleInput, "two")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewCodec(ring).Encode(orig.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	body := payloadsJSON(t, enc)
	if bytes.Contains(body, []byte(secretToken)) {
		t.Fatal("encoded request body contains the token")
	}

	for _, path := range []string{"/decode", "/codec/decode", "/decode?preserveStorageRefs=true"} {
		resp, got := do(t, srv, codecRequest{method: "POST", path: path, origin: uiOrigin, auth: "Bearer " + testToken, body: body})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s = %d %s", path, resp.StatusCode, got)
		}
		if o := resp.Header.Get("Access-Control-Allow-Origin"); o != uiOrigin {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", o, uiOrigin)
		}
		dec := parsePayloads(t, got)
		if len(dec) != len(orig.Payloads) {
			t.Fatalf("decoded %d payloads, want %d", len(dec), len(orig.Payloads))
		}
		for i := range dec {
			if !proto.Equal(dec[i], orig.Payloads[i]) {
				t.Errorf("payload %d: decoded %v, want %v", i, dec[i], orig.Payloads[i])
			}
		}
	}

	// /encode then /decode (the UI encodes signal and start inputs).
	resp, got := do(t, srv, codecRequest{method: "POST", path: "/encode", origin: devOrigin, auth: "Bearer " + testToken, body: payloadsJSON(t, orig.Payloads)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /encode = %d %s", resp.StatusCode, got)
	}
	reenc := parsePayloads(t, got)
	if bytes.Contains(got, []byte(secretToken)) || string(reenc[0].Metadata[MetadataEncoding]) != EncodingEncrypted {
		t.Fatalf("/encode did not encrypt: %s", got)
	}
	dec, err := NewCodec(ring).Decode(reenc)
	if err != nil || !proto.Equal(dec[0], orig.Payloads[0]) {
		t.Fatalf("decoding /encode output: %v, %v", dec, err)
	}

	// A payload that does not authenticate is a 400 (the UI then shows it
	// undecoded), without key material in the message.
	bad := proto.Clone(enc[0]).(*commonpb.Payload)
	bad.Data[len(bad.Data)-1] ^= 1
	resp, got = do(t, srv, codecRequest{method: "POST", path: "/decode", auth: "Bearer " + testToken, body: payloadsJSON(t, []*commonpb.Payload{bad})})
	if resp.StatusCode != http.StatusBadRequest || bytes.Contains(got, []byte(testKey(1))) {
		t.Fatalf("tampered /decode = %d %s, want 400", resp.StatusCode, got)
	}
}

func TestHandlerPreflight(t *testing.T) {
	srv := newCodecServer(t, mustRing(t, "k:"+testKey(1)), HandlerOptions{AllowedOrigins: []string{uiOrigin}, Tokens: []string{testToken}})
	req, err := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", uiOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
	resp, err := srv.Client().Do(req) // no token: preflights carry none
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight = %d, want 2xx", resp.StatusCode)
	}
	h := resp.Header
	if got := h.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("Allow-Origin = %q, want %q", got, uiOrigin)
	}
	if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Allow-Credentials = %q, want true", got)
	}
	if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
		t.Errorf("Allow-Methods = %q, want POST", got)
	}
	allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"content-type", "x-namespace", "authorization"} {
		if !strings.Contains(allowed, want) {
			t.Errorf("Allow-Headers = %q, want %s", allowed, want)
		}
	}
	if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary = %q, want Origin", h.Values("Vary"))
	}
}

// The token is required on /encode and /decode, from the CLI as a Bearer and
// from the Web UI (which cannot set a header) as the endpoint's last path
// segment: no token or a wrong one is 401 without payloads, the right one
// decodes. Mutations: make authorized return true → every "want 401" case
// fails; drop the path candidate → the UI-style requests get 401.
func TestHandlerToken(t *testing.T) {
	ring := mustRing(t, "k:"+testKey(1))
	srv := newCodecServer(t, ring, HandlerOptions{AllowedOrigins: []string{uiOrigin}, Tokens: []string{testToken}})
	enc, err := NewCodec(ring).Encode([]*commonpb.Payload{{Data: []byte(secretToken)}})
	if err != nil {
		t.Fatal(err)
	}
	body := payloadsJSON(t, enc)
	refused := func(path, auth string) {
		t.Helper()
		resp, got := do(t, srv, codecRequest{method: "POST", path: path, origin: uiOrigin, auth: auth, body: body})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST %s with Authorization %q = %d, want 401", path, auth, resp.StatusCode)
		}
		if bytes.Contains(got, []byte(b64(secretToken))) || bytes.Contains(got, []byte(testToken)) {
			t.Errorf("401 body %q contains the payload or the token", got)
		}
		// The browser must be able to read the 401 to report it.
		if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Errorf("401 has no CORS headers for an allowed origin")
		}
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Basic " + testToken, testToken, "Bearer " + testToken + "x", "Bearer " + testToken[:len(testToken)-1]} {
		for _, path := range []string{"/decode", "/encode", "/codec/decode"} {
			refused(path, auth)
		}
	}
	// A wrong token in the path, or the right one anywhere but just before
	// /decode, does not open it.
	for _, path := range []string{"/wrong-token-0123456789/decode", "/" + testToken + "x/decode", "/" + testToken + "/x/decode", "/decode/" + testToken, "/decode?token=" + testToken} {
		refused(path, "")
	}

	accepted := func(path, auth string) {
		t.Helper()
		resp, got := do(t, srv, codecRequest{method: "POST", path: path, origin: uiOrigin, auth: auth, body: body})
		if resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(`"`+b64(secretToken)+`"`)) {
			t.Errorf("POST %s with Authorization %q = %d %s, want it decoded", path, auth, resp.StatusCode, got)
		}
	}
	// The CLI: --codec-endpoint URL --codec-auth "Bearer <token>".
	accepted("/decode", "Bearer "+testToken)
	accepted("/decode", "bearer "+testToken)
	// The Web UI: endpoint https://codec.example.com/<token> (under a
	// prefix too), with or without its user's OIDC token as the Bearer.
	accepted("/"+testToken+"/decode", "")
	accepted("/"+testToken+"/decode?preserveStorageRefs=true", "")
	accepted("/codec/"+testToken+"/decode", "")
	accepted("/"+testToken+"/decode", "Bearer eyJhbGciOiJSUzI1NiJ9.the-users-oidc-token")

	// Rotation: every listed token works.
	rot := newCodecServer(t, ring, HandlerOptions{Tokens: []string{"new-token-0123456789", testToken}})
	for _, path := range []string{"/new-token-0123456789/decode", "/" + testToken + "/decode"} {
		if resp, got := do(t, rot, codecRequest{method: "POST", path: path, body: body}); resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s with two tokens configured = %d %s", path, resp.StatusCode, got)
		}
	}

	// No tokens: refused unless the caller opted out explicitly.
	closed := newCodecServer(t, ring, HandlerOptions{})
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if resp, got := do(t, closed, codecRequest{method: "POST", path: "/decode", auth: auth, body: body}); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("POST /decode without tokens configured, Authorization %q = %d %s, want 401 (fail closed)", auth, resp.StatusCode, got)
		}
	}
	open := newCodecServer(t, ring, HandlerOptions{Unauthenticated: true})
	if resp, got := do(t, open, codecRequest{method: "POST", path: "/decode", body: body}); resp.StatusCode != http.StatusOK {
		t.Errorf("POST /decode with Unauthenticated = %d %s", resp.StatusCode, got)
	}
}

func TestHandlerDisallowedOrigin(t *testing.T) {
	ring := mustRing(t, "k:"+testKey(1))
	srv := newCodecServer(t, ring, HandlerOptions{AllowedOrigins: []string{uiOrigin}, Unauthenticated: true})
	enc, err := NewCodec(ring).Encode([]*commonpb.Payload{{Data: []byte(secretToken)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"https://evil.example.com", "http://temporal.example.com", uiOrigin + ":8443", "null"} {
		req, err := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if hasCORS(resp) {
			t.Errorf("preflight from %s got CORS headers %v", origin, resp.Header)
		}

		resp, got := do(t, srv, codecRequest{method: "POST", path: "/decode", origin: origin, body: payloadsJSON(t, enc)})
		if hasCORS(resp) {
			t.Errorf("POST from %s got CORS headers %v", origin, resp.Header)
		}
		if resp.StatusCode != http.StatusForbidden || bytes.Contains(got, []byte(b64(secretToken))) {
			t.Errorf("POST from %s = %d %s, want 403 without payloads", origin, resp.StatusCode, got)
		}
	}
	// No AllowedOrigins at all: browsers are refused, the CLI is not.
	none := newCodecServer(t, ring, HandlerOptions{Unauthenticated: true})
	if resp, _ := do(t, none, codecRequest{method: "POST", path: "/decode", origin: uiOrigin, body: payloadsJSON(t, enc)}); resp.StatusCode != http.StatusForbidden || hasCORS(resp) {
		t.Errorf("browser request without AllowedOrigins = %d %v", resp.StatusCode, resp.Header)
	}
}

func TestHandlerLimitsAndMethods(t *testing.T) {
	ring := mustRing(t, "k:"+testKey(1))
	srv := newCodecServer(t, ring, HandlerOptions{MaxBodyBytes: 1024, Unauthenticated: true})
	big := payloadsJSON(t, []*commonpb.Payload{{Data: bytes.Repeat([]byte("a"), 2048)}})
	if resp, got := do(t, srv, codecRequest{method: "POST", path: "/encode", body: big}); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body = %d %s, want 413", resp.StatusCode, got)
	}
	// Chunked (no Content-Length) oversized body.
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/encode", io.MultiReader(bytes.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body = %d, want 413", resp.StatusCode)
	}

	if resp, _ := do(t, srv, codecRequest{method: "GET", path: "/decode"}); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /decode = %d, want 405", resp.StatusCode)
	}
	if resp, _ := do(t, srv, codecRequest{method: "POST", path: "/other", body: []byte(`{"payloads":[]}`)}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /other = %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, srv, codecRequest{method: "POST", path: "/decode", body: []byte(`not json`)}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /decode with a bad body = %d, want 400", resp.StatusCode)
	}

	// The default limit is 4 MiB.
	def := newCodecServer(t, ring, HandlerOptions{Unauthenticated: true})
	huge := payloadsJSON(t, []*commonpb.Payload{{Data: bytes.Repeat([]byte("a"), 3<<20)}}) // ~4 MiB in base64
	if resp, _ := do(t, def, codecRequest{method: "POST", path: "/encode", body: huge}); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("%d-byte body with the default limit = %d, want 413", len(huge), resp.StatusCode)
	}
	small := payloadsJSON(t, []*commonpb.Payload{{Data: bytes.Repeat([]byte("a"), 1<<20)}})
	if resp, _ := do(t, def, codecRequest{method: "POST", path: "/encode", body: small}); resp.StatusCode != http.StatusOK {
		t.Errorf("%d-byte body with the default limit = %d, want 200", len(small), resp.StatusCode)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
