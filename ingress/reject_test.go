package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

const (
	tokenA = "tok-A-0123456789abcdef"
	tokenB = "tok-B-fedcba9876543210"
)

// request is one HTTP request a test sends.
type request struct {
	method string
	path   string
	header http.Header
	body   []byte
}

func do(t *testing.T, base string, req request) answer {
	t.Helper()
	a, err := tryDo(base, req)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryDo is do for goroutines other than the test's, which must not call
// t.Fatal.
func tryDo(base string, req request) (answer, error) {
	if req.method == "" {
		req.method = http.MethodPost
	}
	r, err := http.NewRequest(req.method, base+req.path, bytes.NewReader(req.body))
	if err != nil {
		return answer{}, err
	}
	for k, vs := range req.header {
		r.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		return a, fmt.Errorf("answer %d is not a JSON object: %q", resp.StatusCode, raw)
	}
	return a, nil
}

// assertNotStarted checks with the Temporal server that no workflow exists
// for the video.
func assertNotStarted(t *testing.T, c client.Client, videoID string) {
	t.Helper()
	_, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(videoID), "")
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		t.Fatalf("a workflow exists for %s after a rejected notification (describe: %v)", videoID, err)
	}
}

// signedNow is an X-Amz-Date / X-Goog-Date of the test's start.
var signedNow = time.Now().UTC().Format("20060102T150405Z")

func jsonHeader(extra ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func withField(t *testing.T, id, field string, value any) []byte {
	n := notification(id)
	if value == nil {
		delete(n, field)
	} else {
		n[field] = value
	}
	return jsonBody(t, n)
}

// Ids a rejected body carries, from the test's unique id.
func noID(string) string        { return "" }
func unsafeID(id string) string { return "../" + id }
func longID(id string) string   { return id + strings.Repeat("a", ingress.MaxVideoIDLen+1-len(id)) }

// Every class of bad request gets its exact status and code, and no workflow.
// The servers require a token and an allowlisted source, so a check that is
// missing shows as a workflow that should not exist: every request but the
// broken-body ones carries an otherwise valid notification.
func TestBadInputIsRejectedAndStartsNothing(t *testing.T) {
	strict := newFixture(t, temporalServer(t), ingress.Config{
		AllowedSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
		Tokens:         []ingress.Token{tokenA},
		MediaHosts:     []string{"media.example.com", ".cdn.example.net"},
	})
	closed := newFixture(t, temporalServer(t), ingress.Config{AllowedSources: ingress.WochitSources})
	auth := func(extra ...string) http.Header {
		return jsonHeader(append([]string{"Authorization", "Bearer " + tokenA}, extra...)...)
	}
	valid := func(id string) []byte { return jsonBody(t, notification(id)) }
	url := func(u string) func(string) []byte {
		return func(id string) []byte { return withField(t, id, "videoUrl", u) }
	}

	tests := []struct {
		name   string
		closed bool // use the server whose allowlist excludes the test's address
		method string
		path   string
		header http.Header
		body   func(id string) []byte
		// sent is the video id the body carries, which a broken ingress
		// would start a workflow for; nil: id itself. Bodies that can carry
		// none name "" (an empty id is all such a body could start).
		sent       func(id string) string
		wantStatus int
		wantCode   string
		wantField  string
	}{
		// Source.
		{name: "source not allowlisted", closed: true, header: jsonHeader(), body: valid, wantStatus: 403, wantCode: "forbidden_source"},
		{name: "spoofed X-Forwarded-For from an untrusted peer", closed: true, header: jsonHeader("X-Forwarded-For", "54.81.68.237"), body: valid, wantStatus: 403, wantCode: "forbidden_source"},
		// Token.
		{name: "no token", header: jsonHeader(), body: valid, wantStatus: 401, wantCode: "unauthorized"},
		{name: "wrong bearer token", header: jsonHeader("Authorization", "Bearer "+tokenB), body: valid, wantStatus: 401, wantCode: "unauthorized"},
		{name: "token with another scheme", header: jsonHeader("Authorization", "Basic "+tokenA), body: valid, wantStatus: 401, wantCode: "unauthorized"},
		{name: "wrong path token", path: "/webhooks/wochit/" + tokenB, header: jsonHeader(), body: valid, wantStatus: 401, wantCode: "unauthorized"},
		{name: "wrong path token, right bearer", path: "/webhooks/wochit/" + tokenB, header: auth(), body: valid, wantStatus: 401, wantCode: "unauthorized"},
		{name: "token prefix", path: "/webhooks/wochit/" + tokenA[:10], header: jsonHeader(), body: valid, wantStatus: 401, wantCode: "unauthorized"},
		// Method.
		{name: "GET", method: http.MethodGet, header: auth(), body: valid, wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "PUT with path token", method: http.MethodPut, path: "/webhooks/wochit/" + tokenA, header: jsonHeader(), body: valid, wantStatus: 405, wantCode: "method_not_allowed"},
		// Content encoding (any Content-Type is accepted: see TestAnyContentTypeIsAccepted).
		{name: "gzip-encoded", header: auth("Content-Encoding", "gzip"), body: valid, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "not JSON, declared text/plain", header: auth("Content-Type", "text/plain"), body: func(string) []byte { return []byte("wochitVideoId=x") }, sent: noID, wantStatus: 400, wantCode: "invalid_json"},
		// Size.
		{name: "body over 64 KiB", header: auth(), body: func(id string) []byte { return withField(t, id, "padding", strings.Repeat("x", 70<<10)) }, wantStatus: 413, wantCode: "payload_too_large"},
		// Syntax.
		{name: "malformed JSON", header: auth(), body: func(id string) []byte { b := valid(id); return b[:len(b)-1] }, wantStatus: 400, wantCode: "invalid_json"},
		{name: "not an object", header: auth(), body: func(id string) []byte { return append(append([]byte("["), valid(id)...), ']') }, wantStatus: 400, wantCode: "invalid_json"},
		{name: "null", header: auth(), body: func(string) []byte { return []byte(`null`) }, sent: noID, wantStatus: 400, wantCode: "invalid_json"},
		{name: "empty body", header: auth(), body: func(string) []byte { return nil }, sent: noID, wantStatus: 400, wantCode: "invalid_json"},
		{name: "trailing data", header: auth(), body: func(id string) []byte { return append(valid(id), `{}`...) }, wantStatus: 400, wantCode: "invalid_json"},
		{name: "trailing garbage", header: auth(), body: func(id string) []byte { return append(valid(id), ` x`...) }, wantStatus: 400, wantCode: "invalid_json"},
		{name: "repeated key", header: auth(), body: func(id string) []byte {
			return []byte(`{"wochitVideoId":"` + id + `","videoContext":"c","thumbnailUrl":"https://media.example.com/t.jpg","videoUrl":"https://media.example.com/v.mp4","videoUrl":"https://media.example.com/w.mp4"}`)
		}, wantStatus: 400, wantCode: "invalid_json"},
		{name: "invalid UTF-8", header: auth(), body: func(id string) []byte {
			return bytes.Replace(valid(id), []byte("The video title"), []byte("The \xff title"), 1)
		}, wantStatus: 400, wantCode: "invalid_json"},
		{name: "wrong type", header: auth(), body: func(id string) []byte { return withField(t, id, "videoUrl", 42) }, wantStatus: 400, wantCode: "invalid_json", wantField: "videoUrl"},
		{name: "object title", header: auth(), body: func(id string) []byte { return withField(t, id, "title", map[string]int{"a": 1}) }, wantStatus: 400, wantCode: "invalid_json", wantField: "title"},
		// Missing.
		{name: "missing wochitVideoId", header: auth(), body: func(id string) []byte { return withField(t, id, "wochitVideoId", nil) }, sent: noID, wantStatus: 400, wantCode: "missing_field", wantField: "wochitVideoId"},
		{name: "empty videoUrl", header: auth(), body: url(""), wantStatus: 400, wantCode: "missing_field", wantField: "videoUrl"},
		{name: "missing thumbnailUrl", header: auth(), body: func(id string) []byte { return withField(t, id, "thumbnailUrl", nil) }, wantStatus: 400, wantCode: "missing_field", wantField: "thumbnailUrl"},
		{name: "missing videoContext", header: auth(), body: func(id string) []byte { return withField(t, id, "videoContext", nil) }, wantStatus: 400, wantCode: "missing_field", wantField: "videoContext"},
		// Malformed fields.
		{name: "unsafe video id", header: auth(), body: func(id string) []byte { return jsonBody(t, notification(unsafeID(id))) }, sent: unsafeID, wantStatus: 400, wantCode: "invalid_field", wantField: "wochitVideoId"},
		{name: "video id too long", header: auth(), body: func(id string) []byte { return jsonBody(t, notification(longID(id))) }, sent: longID, wantStatus: 400, wantCode: "invalid_field", wantField: "wochitVideoId"},
		{name: "title too long", header: auth(), body: func(id string) []byte { return withField(t, id, "title", strings.Repeat("é", 1025)) }, wantStatus: 400, wantCode: "invalid_field", wantField: "title"},
		{name: "videoContext too long", header: auth(), body: func(id string) []byte { return withField(t, id, "videoContext", strings.Repeat("c", 2049)) }, wantStatus: 400, wantCode: "invalid_field", wantField: "videoContext"},
		{name: "relative URL", header: auth(), body: url("/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "ftp URL", header: auth(), body: func(id string) []byte { return withField(t, id, "thumbnailUrl", "ftp://media.example.com/t.jpg") }, wantStatus: 400, wantCode: "invalid_field", wantField: "thumbnailUrl"},
		{name: "plain http", header: auth(), body: url("http://media.example.com/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "credentials in URL", header: auth(), body: url("https://user:pass@media.example.com/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "loopback literal", header: auth(), body: url("https://127.0.0.1/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "IPv6 loopback", header: auth(), body: url("https://[::1]/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "IPv4-mapped loopback", header: auth(), body: url("https://[::ffff:127.0.0.1]/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "metadata address", header: auth(), body: url("https://169.254.169.254/latest/meta-data/"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "private address", header: auth(), body: url("https://10.0.0.5/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "unspecified address", header: auth(), body: url("https://0.0.0.0/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "decimal IPv4", header: auth(), body: url("https://2130706433/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "hex IPv4", header: auth(), body: url("https://0x7f.1/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "octal IPv4", header: auth(), body: url("https://0177.0.0.1/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "short IPv4", header: auth(), body: url("https://127.1/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "localhost", header: auth(), body: url("https://localhost/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "metadata name", header: auth(), body: url("https://metadata.google.internal/computeMetadata/v1/"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "port not allowed", header: auth(), body: url("https://media.example.com:8080/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "host not a media host", header: auth(), body: url("https://evil.example.org/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "media suffix is not a media host", header: auth(), body: url("https://cdn.example.net/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "non-ASCII host", header: auth(), body: url("https://médias.example.com/v.mp4"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		// Signed URLs that could only end in LinkExpired, or whose lifetime
		// overflows the deadline arithmetic.
		{name: "S3 lifetime overflows", header: auth(), body: url("https://media.example.com/v.mp4?X-Amz-Date=" + signedNow + "&X-Amz-Expires=9300000000&X-Amz-Signature=ab"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "GCS lifetime over 7 days", header: auth(), body: func(id string) []byte {
			return withField(t, id, "thumbnailUrl", "https://media.example.com/t.jpg?X-Goog-Date="+signedNow+"&X-Goog-Expires=604801&X-Goog-Signature=ab")
		}, wantStatus: 400, wantCode: "invalid_field", wantField: "thumbnailUrl"},
		{name: "negative lifetime", header: auth(), body: url("https://media.example.com/v.mp4?X-Goog-Date=" + signedNow + "&X-Goog-Expires=-1&X-Goog-Signature=ab"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "signed URL already expired", header: auth(), body: url("https://media.example.com/v.mp4?X-Amz-Date=20200101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=ab"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "CloudFront URL expiring within the margin", header: auth(), body: url(fmt.Sprintf("https://media.example.com/v.mp4?Expires=%d&Signature=ab&Key-Pair-Id=K", time.Now().Add(5*time.Minute).Unix())), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
		{name: "Azure SAS expired", header: auth(), body: url("https://media.example.com/v.mp4?se=2020-01-01T00:00:00Z&sig=ab"), wantStatus: 400, wantCode: "invalid_field", wantField: "videoUrl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := strict
			if tt.closed {
				f = closed
			}
			path := tt.path
			if path == "" {
				path = "/webhooks/wochit"
			}
			id := uniqueID(t)
			got := do(t, f.url, request{method: tt.method, path: path, header: tt.header, body: tt.body(id)})
			if got.status != tt.wantStatus || got.body["error"] != tt.wantCode || got.body["field"] != tt.wantField || got.body["message"] == "" {
				t.Fatalf("answer = %d %v, want %d %s (field %q) with a message", got.status, got.body, tt.wantStatus, tt.wantCode, tt.wantField)
			}
			if tt.wantStatus == 405 && got.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", got.header.Get("Allow"))
			}
			sent := id
			if tt.sent != nil {
				sent = tt.sent(id)
			}
			assertNotStarted(t, f.temporal, sent)
		})
	}

	// The control: the strict server does start a valid notification, by
	// Bearer token and by path token, so the refusals above are not an
	// accident of its configuration.
	for _, req := range []request{
		{path: "/webhooks/wochit", header: auth()},
		{path: "/webhooks/wochit/" + tokenA, header: jsonHeader()},
	} {
		n := notification(uniqueID(t))
		n["thumbnailUrl"] = "https://a.cdn.example.net/t.jpg"
		// A signed URL valid for the longest lifetime origins allow passes.
		n["videoUrl"] = "https://media.example.com/v.mp4?X-Amz-Date=" + signedNow + "&X-Amz-Expires=604800&X-Amz-Signature=ab"
		req.body = jsonBody(t, n)
		if got := do(t, strict.url, req); got.status != http.StatusAccepted {
			t.Fatalf("control notification via %s answered %d %v, want 202", req.path, got.status, got.body)
		}
	}
}
