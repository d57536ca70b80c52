package httpserver

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T) string {
	t.Helper()
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	s, err := Start("127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(time.Second) })
	return s.Addr()
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

// The limits that keep slow or greedy clients from holding connections are
// the ones docs/design.md documents (Security, "Load": "request headers 5 s,
// whole request 15 s, response 30 s, idle keep-alive 60 s) and 16 KiB of
// headers"). The figures are read from docs/design.md, so changing either
// side alone fails here.
func TestServerLimits(t *testing.T) {
	doc, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(strings.ReplaceAll(`request headers (\d+) s, whole request (\d+) s, response (\d+) s, idle keep-alive (\d+) s\) and (\d+) KiB of headers`, " ", `\s+`)).FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatal("docs/design.md no longer states the server limits in the sentence this test reads (Security, Load)")
	}
	documented := func(i int) int {
		n, err := strconv.Atoi(m[i])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	s := New(nil)
	for _, tt := range []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"ReadHeaderTimeout (request headers)", s.ReadHeaderTimeout, time.Duration(documented(1)) * time.Second},
		{"ReadTimeout (whole request)", s.ReadTimeout, time.Duration(documented(2)) * time.Second},
		{"WriteTimeout (response)", s.WriteTimeout, time.Duration(documented(3)) * time.Second},
		{"IdleTimeout (idle keep-alive)", s.IdleTimeout, time.Duration(documented(4)) * time.Second},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %s, docs/design.md says %s", tt.name, tt.got, tt.want)
		}
	}
	if want := documented(5) << 10; s.MaxHeaderBytes != want {
		t.Errorf("MaxHeaderBytes = %d, docs/design.md says %d", s.MaxHeaderBytes, want)
	}
}
