package ingress_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/wochit-ingest/wochit-ingest/ingress"
)

// rawPost writes a request head (and part of a body) on a bare connection
// and never sends the rest: the server can only answer if it does not wait
// for it.
func rawPost(t *testing.T, base, head string, body []byte) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body is incomplete (the server waited for it?): %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestOversizeBodyIsRefusedWithoutReadingIt(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	t.Run("declared length", func(t *testing.T) {
		// 10 MiB announced, nothing sent.
		head := "POST /webhooks/wochit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n"
		resp := rawPost(t, f.url, head, nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
			t.Fatalf("answer %s (close %v), want 413 and the connection closed", resp.Status, resp.Close)
		}
	})
	t.Run("declared length with Expect: 100-continue", func(t *testing.T) {
		head := "POST /webhooks/wochit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\nExpect: 100-continue\r\n\r\n"
		if resp := rawPost(t, f.url, head, nil); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("answer %s, want 413 instead of 100 Continue", resp.Status)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		// One chunk just over the limit, and the body never ends.
		chunk := strings.Repeat("x", ingress.MaxBodyBytes+1)
		head := "POST /webhooks/wochit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
		resp := rawPost(t, f.url, head, fmt.Appendf(nil, "%x\r\n%s\r\n", len(chunk), chunk))
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
			t.Fatalf("answer %s (close %v), want 413 and the connection closed", resp.Status, resp.Close)
		}
	})
	t.Run("refused before the body: 415", func(t *testing.T) {
		head := "POST /webhooks/wochit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 1000\r\n\r\n"
		resp := rawPost(t, f.url, head, nil)
		if resp.StatusCode != http.StatusUnsupportedMediaType || !resp.Close {
			t.Fatalf("answer %s (close %v), want 415 and the connection closed", resp.Status, resp.Close)
		}
	})
}

// A request refused before its body is read — by source (403), rate (429),
// token (401), method (405), content encoding (415) or declared length (413) —
// is answered at once and its connection closed. The client sends the request head announcing a body and then
// nothing: an answer proves the server did not wait for the body (Go's
// server would read it, to keep the connection, unless the answer closes
// it), and the end of the stream proves the connection was closed rather
// than kept for a next request.
func TestRefusalsAnswerBeforeTheBodyAndClose(t *testing.T) {
	ts := temporalServer(t)
	closed := newFixture(t, ts, ingress.Config{AllowedSources: ingress.WochitSources})
	withToken := newFixture(t, ts, ingress.Config{Tokens: []ingress.Token{tokenA}})
	limited := newFixture(t, ts, ingress.Config{RateLimit: rate.Every(time.Hour), RateBurst: 1})
	// The one request the bucket allows (refused later, for its content encoding).
	if got := do(t, limited.url, request{path: "/webhooks/wochit", header: http.Header{"Content-Encoding": {"gzip"}}}); got.status != http.StatusUnsupportedMediaType {
		t.Fatalf("first request to the limited server: %d, want 415", got.status)
	}
	head := func(method, auth string, extra ...string) string {
		h := method + " /webhooks/wochit HTTP/1.1\r\nHost: x\r\n"
		if len(extra) == 0 {
			extra = []string{"Content-Type: application/json", "Content-Length: 1000"}
		}
		for _, e := range extra {
			h += e + "\r\n"
		}
		if auth != "" {
			h += "Authorization: Bearer " + auth + "\r\n"
		}
		return h + "\r\n"
	}
	for _, tt := range []struct {
		name   string
		f      fixture
		head   string
		body   []byte // sent after the head; most rows send none
		status int
	}{
		{"403 source", closed, head("POST", ""), nil, http.StatusForbidden},
		{"429 rate", limited, head("POST", ""), nil, http.StatusTooManyRequests},
		{"401 token", withToken, head("POST", ""), nil, http.StatusUnauthorized},
		{"405 method", withToken, head("PUT", tokenA), nil, http.StatusMethodNotAllowed},
		{"415 content encoding", withToken, head("POST", tokenA, "Content-Encoding: gzip", "Content-Length: 1000"), nil, http.StatusUnsupportedMediaType},
		{"413 declared length", withToken, head("POST", tokenA, "Content-Type: application/json", "Content-Length: 10485760"), nil, http.StatusRequestEntityTooLarge},
		// A client that sends its whole body before reading still gets the
		// answer: the connection is not reset under it.
		{"401 with the body sent", withToken, head("POST", "", "Content-Type: application/json", "Content-Length: 60000"), make([]byte, 60000), http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(tt.f.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, tt.head); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(tt.body); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(conn)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("no answer while the announced body is missing (the server waited for it?): %v", err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("answer %s, want %d", resp.Status, tt.status)
			}
			if n, err := r.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after the answer the connection gave %d bytes, %v; want it closed (EOF)", n, err)
			}
		})
	}
}
