package transfer

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
)

func TestSniff(t *testing.T) {
	tests := map[string]string{
		"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00":     "video/mp4",
		"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00":     "video/quicktime",
		"\x00\x00\x00\x08wide\x00\x00\x00\x00":         "video/quicktime",
		"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm":     "video/webm",
		"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska": "video/x-matroska",
		"RIFF\x00\x00\x00\x00AVI LIST":                 "video/x-msvideo",
		"RIFF\x00\x00\x00\x00WEBPVP8 ":                 "image/webp",
		"\xff\xd8\xff\xe0\x00\x10JFIF":                 "image/jpeg",
		"\x89PNG\r\n\x1a\n\x00\x00":                    "image/png",
		"GIF89a\x01\x00":                               "image/gif",
		"<!DOCTYPE html><html>":                        "",
		"":                                             "",
	}
	for in, want := range tests {
		if got := sniff([]byte(in)); got != want {
			t.Errorf("sniff(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContentTypeOf(t *testing.T) {
	mp4 := []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00")
	html := []byte("<html><body>Access denied</body></html>")
	tests := []struct {
		kind   contract.AssetKind
		header string
		head   []byte
		want   string // "" means an error
	}{
		{contract.KindVideo, "video/mp4", mp4, "video/mp4"},
		{contract.KindVideo, "video/quicktime", mp4, "video/quicktime"},
		{contract.KindVideo, "application/octet-stream", mp4, "video/mp4"},
		{contract.KindVideo, "", mp4, "video/mp4"},
		{contract.KindVideo, "text/html; charset=utf-8", html, ""},
		{contract.KindVideo, "video/mp4", html, ""},
		{contract.KindVideo, "image/png", mp4, ""},
		{contract.KindThumbnail, "image/png", mp4, ""},
		{contract.KindThumbnail, "image/jpeg", []byte("\xff\xd8\xff\xe0"), "image/jpeg"},
	}
	for _, tt := range tests {
		got, err := contentTypeOf(tt.kind, tt.header, tt.head)
		if (err != nil) != (tt.want == "") || got != tt.want {
			t.Errorf("contentTypeOf(%s, %q, %q) = %q, %v; want %q", tt.kind, tt.header, tt.head, got, err, tt.want)
		}
	}
}

// partsReader reads across part boundaries and ends with io.EOF at the end
// of the file.
// newEmulatorClient serves an in-process GCS emulator with the bucket "b"
// on loopback and returns a storage client for it.
func newEmulatorClient(t *testing.T) *storage.Client {
	t.Helper()
	return newEmulatorClientWith(t, nil)
}

// newEmulatorClientWith serves the emulator through wrap, when not nil:
// where a test steps in between the engine and GCS.
func newEmulatorClientWith(t *testing.T, wrap func(http.Handler) http.Handler) *storage.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	emu, err := gcsemu.New("", url, "b")
	if err != nil {
		t.Fatal(err)
	}
	handler := emu.Handler()
	if wrap != nil {
		handler = wrap(handler)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); emu.Stop() })
	gcs, err := gcsemu.NewClient(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gcs.Close() })
	return gcs
}

func TestPartsReader(t *testing.T) {
	gcs := newEmulatorClient(t)

	file := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	plan := partPlan{total: int64(len(file)), size: 10, dir: "parts/"}
	bucket := gcs.Bucket("b")
	for i := range plan.count() {
		offset, length := plan.bounds(i)
		w := bucket.Object(plan.name(i)).NewWriter(context.Background())
		w.Write(file[offset : offset+length])
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r := partsReader{ctx: context.Background(), bucket: bucket, plan: plan}
	got := make([]byte, 22)
	if n, err := r.ReadAt(got, 5); n != 22 || err != nil || string(got) != string(file[5:27]) {
		t.Fatalf("ReadAt(22 bytes at 5) = %d, %v, %q", n, err, got[:n])
	}
	if n, err := r.ReadAt(got, 30); n != 6 || err != io.EOF || string(got[:n]) != "uvwxyz" {
		t.Fatalf("ReadAt at 30 = %d, %v, %q; want the last 6 bytes and io.EOF", n, err, got[:n])
	}
}

// The describe reader serves small reads from a cached block and large
// ones directly, and an object shorter than the size it was described with
// is an error, never a silent short read taken for the end of the file.
func TestObjectReaderAt(t *testing.T) {
	gcs := newEmulatorClient(t)

	file := make([]byte, 3*readBlock+100)
	for i := range file {
		file[i] = byte(i * 7)
	}
	obj := gcs.Bucket("b").Object("v.mp4")
	w := obj.NewWriter(context.Background())
	w.Write(file)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := &objectReaderAt{ctx: context.Background(), obj: obj, size: int64(len(file))}
	small := make([]byte, 16)
	for _, off := range []int64{0, 8, readBlock - 8, int64(len(file)) - 16} {
		if n, err := r.ReadAt(small, off); n != 16 || err != nil || string(small) != string(file[off:off+16]) {
			t.Fatalf("ReadAt(16 bytes at %d) = %d, %v", off, n, err)
		}
	}
	if n, err := r.ReadAt(small, int64(len(file))-4); n != 4 || err != io.EOF {
		t.Fatalf("ReadAt past the end = %d, %v; want the last 4 bytes and io.EOF", n, err)
	}
	large := make([]byte, 2*readBlock)
	if n, err := r.ReadAt(large, 50); n != len(large) || err != nil || string(large) != string(file[50:50+len(large)]) {
		t.Fatalf("large ReadAt = %d, %v", n, err)
	}
	if r.reads != 5 {
		t.Fatalf("%d requests, want 5 (two blocks for the small reads at the start, one near the end, one at the end, one large)", r.reads)
	}

	// Described as longer than it is: reads into the missing bytes fail.
	short := &objectReaderAt{ctx: context.Background(), obj: obj, size: int64(len(file)) + 1000}
	if n, err := short.ReadAt(small, int64(len(file))-8); err == nil || err == io.EOF {
		t.Fatalf("small ReadAt across the real end = %d, %v; want an error other than io.EOF", n, err)
	}
	if n, err := short.ReadAt(large, int64(len(file))-readBlock); err == nil || err == io.EOF {
		t.Fatalf("large ReadAt across the real end = %d, %v; want an error other than io.EOF", n, err)
	}
}

// Object metadata stays inside the stores' limits whatever the notification
// or the origin sends, and long values that differ only at the end differ.
func TestFitMetadata(t *testing.T) {
	long := strings.Repeat("\u2028", 2048)
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\x00b\tc\x7f\u0085", "a\uFFFDb\uFFFDc\uFFFD\uFFFD"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	} {
		if got := fitMetadata(tt.in, maxMetadataText); got != tt.want {
			t.Errorf("fitMetadata(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	a, b := fitMetadata(long+"a", maxMetadataText), fitMetadata(long+"b", maxMetadataText)
	if len(a) > maxMetadataText || !utf8.ValidString(a) || a == b || !strings.HasPrefix(a, "\u2028\u2028") {
		t.Fatalf("fitted long values: %d bytes, valid UTF-8 %v, distinct %v", len(a), utf8.ValidString(a), a != b)
	}
}
