package httpserver

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T) string {
	t.Helper()
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	Serve(srv, l)
	t.Cleanup(func() { _ = Shutdown(srv, time.Second) })
	return l.Addr().String()
}

// A slowloris client trickles its request headers one byte at a time,
// forever. The server must cut it once ReadHeaderTimeout has passed, however
// steadily it trickles.
func TestSlowlorisIsCut(t *testing.T) {
	timeout := New(nil).ReadHeaderTimeout
	conn, err := net.Dial("tcp", serve(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /webhooks/wochit HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}

	cut := make(chan time.Duration, 1)
	go func() {
		// The server closing the connection ends this read.
		_, _ = conn.Read(make([]byte, 1))
		cut <- time.Since(start)
	}()
	tick := time.NewTicker(100 * time.Millisecond) // the client's pace, not synchronization
	defer tick.Stop()
	limit := time.After(timeout + 5*time.Second)
	for {
		select {
		case took := <-cut:
			if took < timeout-time.Second {
				t.Fatalf("cut after %s, before the %s header timeout: something else closed it", took, timeout)
			}
			return
		case <-tick.C:
			_, _ = conn.Write([]byte("a")) // fails once the server has closed it
		case <-limit:
			t.Fatalf("a client trickling headers still holds its connection after %s (ReadHeaderTimeout %s)", timeout+5*time.Second, timeout)
		}
	}
}

func TestOversizedHeadersAreRefused(t *testing.T) {
	conn, err := net.Dial("tcp", serve(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	// Over MaxHeaderBytes plus the server's 4 KiB of slack, yet small enough
	// to be written whole before the server answers.
	huge := strings.Repeat("a", 24<<10)
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+huge+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status = %d, want 431", resp.StatusCode)
	}
}

// The limits that keep slow or greedy clients from holding connections.
func TestServerLimits(t *testing.T) {
	s := New(nil)
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout,
	} {
		if d <= 0 || d > time.Minute {
			t.Errorf("%s = %s, want a bound of at most a minute", name, d)
		}
	}
	if s.MaxHeaderBytes <= 0 || s.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d, want at most 64 KiB", s.MaxHeaderBytes)
	}
}
