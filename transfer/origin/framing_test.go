package origin_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// Only an HTTP/1.x body with neither Content-Length nor chunked coding is
// close-delimited; each answer here comes from a real server on loopback.
func TestCloseDelimited(t *testing.T) {
	body := []byte("0123456789")
	handler := func(length, flush bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if length {
				w.Header().Set("Content-Length", "10")
			}
			w.Write(body[:5])
			if flush {
				w.(http.Flusher).Flush() // the length is not known yet: chunked, or an HTTP/2 DATA frame
			}
			w.Write(body[5:])
		}
	}
	h1 := func(length, flush bool) *http.Response {
		srv := httptest.NewServer(handler(length, flush))
		t.Cleanup(srv.Close)
		return get(t, srv.Client(), srv.URL)
	}
	h2 := httptest.NewUnstartedServer(handler(false, true))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)

	for _, tt := range []struct {
		name   string
		resp   *http.Response
		proto  int
		length int64 // resp.ContentLength: only one has it
		want   bool
	}{
		{"HTTP/1.1 with Content-Length", h1(true, true), 1, 10, false},
		{"HTTP/1.1 chunked", h1(false, true), 1, -1, false},
		{"HTTP/1.1 neither: the connection's end", rawAnswer(t, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789"), 1, -1, true},
		{"HTTP/1.0 neither", rawAnswer(t, "HTTP/1.0 200 OK\r\n\r\n0123456789"), 1, -1, true},
		{"HTTP/1.1 206 neither: its Content-Range", rawAnswer(t, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/20\r\nConnection: close\r\n\r\n0123456789"), 1, -1, false},
		{"HTTP/2 without Content-Length: END_STREAM", get(t, h2.Client(), h2.URL), 2, -1, false},
	} {
		got, err := io.ReadAll(tt.resp.Body)
		tt.resp.Body.Close()
		if err != nil || string(got) != string(body) || tt.resp.ProtoMajor != tt.proto || tt.resp.ContentLength != tt.length {
			t.Fatalf("%s: read %q, %v over HTTP/%d with Content-Length %d", tt.name, got, err, tt.resp.ProtoMajor, tt.resp.ContentLength)
		}
		if d := origin.CloseDelimited(tt.resp); d != tt.want {
			t.Errorf("%s (Content-Length %d, Transfer-Encoding %v): CloseDelimited = %v, want %v",
				tt.name, tt.resp.ContentLength, tt.resp.TransferEncoding, d, tt.want)
		}
	}
}

func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// rawAnswer is the response a loopback server writes byte for byte before
// closing the connection.
func rawAnswer(t *testing.T, answer string) *http.Response {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
			io.WriteString(conn, answer)
		}
	}()
	return get(t, http.DefaultClient, "http://"+l.Addr().String())
}
