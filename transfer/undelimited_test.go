package transfer_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// rawOrigin is an HTTP/1.1 server on loopback that answers every request
// with exactly the bytes it was given — status line, headers, body — and
// then closes the connection. net/http's server cannot be made to do that
// (it adds a Content-Length or chunks the body): a body with neither ends
// only where the connection closes, and a cut one looks exactly like a
// whole one.
type rawOrigin struct {
	url      string
	mu       sync.Mutex
	head     string // status line and headers, without the blank line
	body     []byte // written after the headers; then the connection closes
	requests atomic.Int64
	written  atomic.Int64   // body bytes written, over all requests
	answers  sync.WaitGroup // answers being written
}

func newRawOrigin(t *testing.T) *rawOrigin {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{url: "http://" + l.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			o.answers.Add(1)
			go func() {
				defer wg.Done()
				defer o.answers.Done()
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				o.requests.Add(1)
				o.mu.Lock()
				head, body := o.head, o.body
				o.mu.Unlock()
				if _, err := io.WriteString(conn, head+"\r\n\r\n"); err != nil {
					return
				}
				n, _ := conn.Write(body)
				o.written.Add(int64(n))
			}()
		}
	}()
	return o
}

// settled waits until every answer was written (or its connection was
// closed by the client): the counters then hold.
func (o *rawOrigin) settled() { o.answers.Wait() }

// serve makes every answer head, then body, then the end of the connection.
func (o *rawOrigin) serve(head string, body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.head, o.body = head, body
}

// A body whose end nobody declared (HTTP/1.1 200, neither Content-Length
// nor chunked) is stored only when the file's format proves where it ends;
// cut short, it is retried as a cut body; in a format that cannot prove its
// end, it fails for good with UndelimitedBody, without being read through.
// On main every cut file here was stored (issue 17, item 3).
func TestCloseDelimitedBodyNeedsItsFormatToProveItsEnd(t *testing.T) {
	jpg, gifFile := jpegFile(200, 120), gifWithTrailerBytes(3)
	mp4 := mediaorigin.Video("undelimited", 300<<10)
	// Files that cannot prove their end are large: the origin cannot write
	// them into the connection's buffers before the engine hangs up.
	ts := mpegTS(16 << 20 / 188)
	openMP4 := mp4EndingInSizeZeroBox(t, 16<<20)
	openWebM := webmOfUnknownSize(16 << 20)
	const (
		cut     = "cut"
		whole   = "whole"
		chunked = "chunked"
		undelim = "undelimited"
	)
	for _, tt := range []struct {
		name        string
		kind        contract.AssetKind
		contentType string
		file        []byte
		send        int    // body bytes the origin sends before it closes
		framing     string // "" close-delimited, chunked
		want        string
	}{
		{"jpeg, whole", contract.KindThumbnail, "image/jpeg", jpg, len(jpg), "", whole},
		{"jpeg, cut in its scan", contract.KindThumbnail, "image/jpeg", jpg, len(jpg) * 2 / 3, "", cut},
		{"jpeg, cut before its EOI", contract.KindThumbnail, "image/jpeg", jpg, len(jpg) - 2, "", cut},
		{"gif, whole", contract.KindThumbnail, "image/gif", gifFile, len(gifFile), "", whole},
		{"gif, cut after a 0x3B in its data", contract.KindThumbnail, "image/gif", gifFile, bytes.IndexByte(gifFile[20:], 0x3B) + 21, "", cut},
		{"gif, cut before its trailer", contract.KindThumbnail, "image/gif", gifFile, len(gifFile) - 1, "", cut},
		{"mp4, whole", contract.KindVideo, "video/mp4", mp4, len(mp4), "", whole},
		{"mp4, cut in its mdat", contract.KindVideo, "video/mp4", mp4, len(mp4) / 2, "", cut},
		{"mp4 ending in a box of size 0", contract.KindVideo, "video/mp4", openMP4, len(openMP4), "", undelim},
		{"webm of unknown segment size", contract.KindVideo, "video/webm", openWebM, len(openWebM), "", undelim},
		{"mpeg-ts", contract.KindVideo, "video/mp2t", ts, len(ts), "", undelim},
		{"mpeg-ts, chunked", contract.KindVideo, "video/mp2t", ts[:400*188], 400 * 188, chunked, whole},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			o := newRawOrigin(t)
			head := "HTTP/1.1 200 OK\r\nContent-Type: " + tt.contentType + "\r\nConnection: close"
			body := tt.file[:tt.send]
			if tt.framing == chunked {
				head += "\r\nTransfer-Encoding: chunked"
				var b bytes.Buffer
				w := httputil.NewChunkedWriter(&b)
				w.Write(body)
				w.Close()
				b.WriteString("\r\n")
				body = b.Bytes()
			}
			o.serve(head, body)
			var read atomic.Int64
			res, err := transfer.Copy(context.Background(),
				transfer.Source{URL: o.url + "/f", HTTP: e.http, Attempt: 1},
				transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "u1", Kind: tt.kind},
				transfer.Options{ChunkSize: 256 << 10, PartSize: 1 << 20, CountBytes: func(n int64) { read.Add(n) }})

			// The cut really happened: the origin wrote that much and closed
			// (or, for a format refused from its first bytes, was hung up on).
			o.settled()
			if got := o.written.Load(); o.requests.Load() != 1 || (got != int64(len(body))) != (tt.want == undelim) {
				t.Fatalf("the origin wrote %d of %d body bytes in %d answers", got, len(body), o.requests.Load())
			}
			var terr *transfer.Error
			switch tt.want {
			case whole:
				if err != nil {
					t.Fatal(err)
				}
				if got := readObject(t, e.bucket, res.Object.Name); !bytes.Equal(got, tt.file) {
					t.Fatalf("stored %d bytes, not the file's %d", len(got), len(tt.file))
				}
				return
			case cut:
				if !errors.As(err, &terr) || terr.Reason != contract.IncompleteBody || terr.Final ||
					!strings.Contains(err.Error(), fmt.Sprintf("closed the connection after %d bytes", tt.send)) {
					t.Fatalf("error = %v; want a retryable %s saying the connection closed after %d bytes", err, contract.IncompleteBody, tt.send)
				}
				if read.Load() != int64(tt.send) {
					t.Fatalf("%d bytes read, want the %d sent", read.Load(), tt.send)
				}
			case undelim:
				if !errors.As(err, &terr) || terr.Reason != contract.UndelimitedBody || !terr.Final {
					t.Fatalf("error = %v; want a final %s", err, contract.UndelimitedBody)
				}

			}
			assertNothingStored(t, e.bucket)
		})
	}
}

// A file whose length was declared is held to its format's end marker on
// every copy path a thumbnail takes: read whole (small), streamed, and
// streamed from an origin with ranges (a thumbnail is never copied in parts).
func TestJPEGWithoutItsEOIIsNotWhole(t *testing.T) {
	jpg := jpegFile(600, 400)
	noEOI := jpg[:len(jpg)-2]
	if len(noEOI) < 128<<10 {
		t.Fatalf("the test JPEG has %d bytes; it must span several 32 KiB parts", len(noEOI))
	}
	for _, tt := range []struct {
		name string
		file mediaorigin.File
		opts transfer.Options
	}{
		{"small", mediaorigin.File{NoRanges: true}, transfer.Options{ChunkSize: 1 << 20}},
		{"streamed", mediaorigin.File{NoRanges: true}, transfer.Options{ChunkSize: 256 << 10}},
		{"ranged origin", mediaorigin.File{}, transfer.Options{ChunkSize: 256 << 10, PartSize: 32 << 10, MinPartSize: 32 << 10}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := tt.file
			f.Body, f.ContentType = noEOI, "image/jpeg"
			e.origin.Put("/t.jpg", f)
			_, err := transfer.Copy(context.Background(),
				transfer.Source{URL: e.originURL + "/t.jpg", HTTP: e.http, Attempt: 1},
				transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "j1", Kind: contract.KindThumbnail}, tt.opts)
			var terr *transfer.Error
			if !errors.As(err, &terr) || terr.Reason != contract.IncompleteMedia || !strings.Contains(err.Error(), "no EOI marker") {
				t.Fatalf("error = %v; want %s: no EOI marker", err, contract.IncompleteMedia)
			}
			assertNothingStored(t, e.bucket)

			// The whole file is stored on the same path.
			f.Body = jpg
			e.origin.Put("/t.jpg", f)
			res, err := transfer.Copy(context.Background(),
				transfer.Source{URL: e.originURL + "/t.jpg", HTTP: e.http, Attempt: 1},
				transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "j1", Kind: contract.KindThumbnail}, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := readObject(t, e.bucket, res.Object.Name); !bytes.Equal(got, jpg) {
				t.Fatalf("stored %d bytes, not the JPEG's %d", len(got), len(jpg))
			}
			if res.Parts > 0 {
				t.Fatalf("copied in %d parts; a thumbnail is copied in one piece", res.Parts)
			}
		})
	}
}

func readObject(t *testing.T, bucket *storage.BucketHandle, name string) []byte {
	t.Helper()
	r, err := bucket.Object(name).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNothingStored fails if any object exists outside the parts prefix.
func assertNothingStored(t *testing.T, bucket *storage.BucketHandle) {
	t.Helper()
	it := bucket.Objects(context.Background(), &storage.Query{Prefix: "videos/"})
	for {
		attrs, err := it.Next()
		if err != nil {
			return
		}
		if !strings.HasPrefix(attrs.Name, "videos/.parts/") {
			t.Fatalf("%s was stored", attrs.Name)
		}
	}
}

// jpegFile is a noisy w×h baseline JPEG: large for its size, with many
// 0xFF bytes in its scan data.
func jpegFile(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	x := uint32(1)
	for i := range img.Pix {
		x = x*1664525 + 1013904223
		img.Pix[i] = byte(x >> 24)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// gifWithTrailerBytes is an animated GIF whose image data holds 0x3B bytes
// (the trailer's value) well before its end.
func gifWithTrailerBytes(frames int) []byte {
	pal := color.Palette{}
	for i := range 256 {
		pal = append(pal, color.RGBA{byte(i), byte(i * 7), 0x3B, 0xFF})
	}
	g := &gif.GIF{}
	for f := range frames {
		img := image.NewPaletted(image.Rect(0, 0, 64, 48), pal)
		for i := range img.Pix {
			img.Pix[i] = byte(i*13 + f)
		}
		g.Image, g.Delay = append(g.Image, img), append(g.Delay, 5)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// mpegTS is n transport stream packets: sync byte 0x47 every 188 bytes.
func mpegTS(n int) []byte {
	b := make([]byte, 188*n)
	for i := range n {
		b[i*188] = 0x47
		b[i*188+1] = 0x40
		b[i*188+3] = 0x10 | byte(i&15)
	}
	return b
}

// mp4EndingInSizeZeroBox is a fast-start MP4 (ftyp, moov, mdat) whose mdat
// says size 0: it runs to the end of the file, wherever that is.
func mp4EndingInSizeZeroBox(t *testing.T, size int) []byte {
	b := mediaorigin.VideoWith("open", size, mediaorigin.VideoOptions{FastStart: true})
	st, err := mediacheck.Check(bytes.NewReader(b), int64(len(b)))
	mdat, ok := st.Find("mdat")
	if err != nil || !ok || mdat.Offset+mdat.Size != int64(len(b)) {
		t.Fatalf("the fast-start video's structure: %+v, %v", st, err)
	}
	copy(b[mdat.Offset:], []byte{0, 0, 0, 0})
	return b
}

// webmOfUnknownSize is a WebM whose Segment declares an unknown size, as
// live encoders write it.
func webmOfUnknownSize(size int) []byte {
	b := mediaorigin.WebM("open", size)
	i := bytes.Index(b, []byte{0x18, 0x53, 0x80, 0x67}) + 4
	copy(b[i:], []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	return b
}
