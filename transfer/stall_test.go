package transfer_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// trickler serves the origin's file, except the range that starts at
// trickleAt, which it answers with the right headers and then one byte of
// the body every interval — each just under the idle timeout — for as long
// as the client listens. It records when the client hung up.
type trickler struct {
	next      http.Handler
	trickleAt int64
	interval  time.Duration

	mu      sync.Mutex
	on      bool
	started time.Time     // when the trickled answer began
	gone    chan struct{} // closed when the client hung up on it
	ranges  []string      // the Range of every request
}

func (tr *trickler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	tr.ranges = append(tr.ranges, r.Header.Get("Range"))
	on := tr.on && strings.HasPrefix(r.Header.Get("Range"), fmt.Sprintf("bytes=%d-", tr.trickleAt))
	if on {
		tr.started = time.Now()
	}
	tr.mu.Unlock()
	if !on {
		tr.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	tr.next.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	body := rec.Body.Bytes()
	t := time.NewTicker(tr.interval)
	defer t.Stop()
	for i := 0; i < len(body); i++ {
		if _, err := w.Write(body[i : i+1]); err != nil {
			break
		}
		w.(http.Flusher).Flush()
		select {
		case <-t.C:
			continue
		case <-r.Context().Done():
		}
		break
	}
	<-r.Context().Done() // the client hung up (the server noticed the closed connection)
	close(tr.gone)
}

func (tr *trickler) requests() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.ranges...)
}

// An origin that sends one byte just before every idle timeout keeps the
// idle watchdog quiet for ever; the progress watchdog cuts the attempt once
// a window has passed with less than the minimum, the origin sees the
// worker hang up, and the next attempt keeps the parts verified before the
// cut and fetches only the rest.
//
// Mutation: step() in stall.go never cuts → the copy trickles on until the
// test's deadline ("error = context deadline exceeded").
func TestTricklingOriginIsCutAndItsPartsKept(t *testing.T) {
	e := newEnv(t)
	const part = 256 << 10
	body := mediaorigin.Video("trickle", 4*part)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	tr := &trickler{next: e.origin, trickleAt: 2 * part, interval: 1500 * time.Millisecond, on: true, gone: make(chan struct{})}
	srv := httptest.NewServer(tr)
	t.Cleanup(srv.Close)

	const window = 3 * time.Second
	var log progressLog
	opts := transfer.Options{ChunkSize: 256 << 10, PartSize: part, PartConcurrency: 1,
		IdleTimeout: 2 * time.Second, MinProgress: 64 << 10, ProgressWindow: window,
		Progress: log.add, ProgressInterval: 50 * time.Millisecond}
	src := transfer.Source{URL: srv.URL + "/v.mp4", HTTP: e.http, Attempt: 1}
	dst := transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "slow", Kind: contract.KindVideo}

	ctx, cancel := context.WithTimeout(context.Background(), 4*window)
	defer cancel()
	_, err := transfer.Copy(ctx, src, dst, opts)
	var terr *transfer.Error
	if !errors.As(err, &terr) || terr.Reason != contract.OriginUnavailable || terr.Final || !strings.Contains(err.Error(), "cut the attempt") {
		t.Fatalf("error = %v, want the progress watchdog's retryable %s", err, contract.OriginUnavailable)
	}
	select {
	case <-tr.gone:
	case <-time.After(window):
		t.Fatal("the origin never saw the worker hang up")
	}
	tr.mu.Lock()
	held := time.Since(tr.started)
	tr.on = false
	tr.mu.Unlock()
	// One window, one step of it, and room for a loaded machine; the idle
	// timeout alone would never have ended it.
	if held > window+window/8+time.Second {
		t.Fatalf("the trickling answer was held for %s; the window is %s", held, window)
	}

	reports := log.reports()
	last := reports[len(reports)-1]
	if len(last.Parts) != 2 || last.Parts[0].Index != 0 || last.Parts[1].Index != 1 {
		t.Fatalf("the cut attempt's last progress records parts %+v, want parts 0 and 1", last.Parts)
	}
	before := len(tr.requests())
	opts.Resume = last
	res, err := transfer.Copy(context.Background(), src, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Object.CRC32C != crc32c.Encode(crc32c.Checksum(body)) || res.Object.Size != int64(len(body)) {
		t.Fatalf("stored %+v, not the origin's file", res.Object)
	}
	got := tr.requests()[before:]
	want := []string{"bytes=0-511", fmt.Sprintf("bytes=%d-%d", 2*part, 3*part-1), fmt.Sprintf("bytes=%d-%d", 3*part, 4*part-1)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the second attempt asked for %q, want the probe and the two parts not verified before the cut: %q", got, want)
	}
}

// The same from the first byte, for an origin copied in one stream: the
// attempt is cut while it still waits for the file's first 4 KiB.
//
// Mutation: step() in stall.go never cuts → "error = context deadline
// exceeded".
func TestTricklingStreamIsCut(t *testing.T) {
	e := newEnv(t)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("stream", 300<<10), ContentType: "video/mp4", NoRanges: true})
	tr := &trickler{next: e.origin, trickleAt: 0, interval: 1500 * time.Millisecond, on: true, gone: make(chan struct{})}
	srv := httptest.NewServer(tr)
	t.Cleanup(srv.Close)

	const window = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 4*window)
	defer cancel()
	start := time.Now()
	_, err := transfer.Copy(ctx, transfer.Source{URL: srv.URL + "/v.mp4", HTTP: e.http, Attempt: 1},
		transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "stream", Kind: contract.KindVideo},
		transfer.Options{IdleTimeout: 2 * time.Second, MinProgress: 64 << 10, ProgressWindow: window})
	var terr *transfer.Error
	if !errors.As(err, &terr) || terr.Reason != contract.OriginUnavailable || !strings.Contains(err.Error(), "cut the attempt") {
		t.Fatalf("error = %v, want the progress watchdog's retryable %s", err, contract.OriginUnavailable)
	}
	select {
	case <-tr.gone:
	case <-time.After(window):
		t.Fatal("the origin never saw the worker hang up")
	}
	if took := time.Since(start); took > window+window/8+time.Second {
		t.Fatalf("the attempt was cut after %s; the window is %s", took, window)
	}
}

// An origin whose response headers never end is refused after 64 KiB of
// them (safehttp's transport cap), not after net/http's own 10 MiB: the
// origin sees the worker hang up before it could send a tenth of them.
//
// Mutation: drop MaxResponseHeaderBytes from safehttp.NewTransport/NewClient
// → "the origin wrote 10485xxx bytes of headers before the worker hung up".
func TestHugeResponseHeadersAreRefusedQuickly(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	written := make(chan int64, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.(*net.TCPConn).SetWriteBuffer(16 << 10)
		http.ReadRequest(bufio.NewReader(conn))
		var n int64
		line := "X-Padding: " + strings.Repeat("a", 4083) + "\r\n" // 4 KiB
		k, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n"))
		n += int64(k)
		for n < 10<<20 && err == nil {
			k, err = conn.Write([]byte(line))
			n += int64(k)
		}
		written <- n
	}()

	start := time.Now()
	_, err = transfer.Copy(context.Background(),
		transfer.Source{URL: "http://" + l.Addr().String() + "/v.mp4", HTTP: e.http, Attempt: 1},
		transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "hdr", Kind: contract.KindVideo},
		transfer.Options{IdleTimeout: 10 * time.Second})
	var terr *transfer.Error
	if !errors.As(err, &terr) || terr.Reason != contract.OriginMisbehaved || terr.Final {
		t.Fatalf("error = %v, want a retryable %s for the headers", err, contract.OriginMisbehaved)
	}
	if n := <-written; n > 1<<20 {
		t.Fatalf("the origin wrote %d bytes of headers before the worker hung up; want the cap of 64 KiB (and socket buffers)", n)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("refusing the headers took %s", took)
	}
}
