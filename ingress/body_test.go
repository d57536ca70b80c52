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
		head := "POST /webhooks/wochit HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
		resp := rawPost(t, f.url, head, nil)
		if resp.StatusCode != http.StatusUnsupportedMediaType || !resp.Close {
			t.Fatalf("answer %s (close %v), want 415 and the connection closed", resp.Status, resp.Close)
		}
	})
}
