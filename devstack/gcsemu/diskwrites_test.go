package gcsemu

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

const testBucket = "videos"

// diskEmulator is a disk-backed emulator on loopback, as `dev` runs it, with
// a storage client for it. Every resumable-upload request it finishes is
// reported on done, for tests that drive the protocol by hand.
type diskEmulator struct {
	emu    *Emulator
	url    string
	root   string
	client *storage.Client
	done   chan finished
}

type finished struct {
	method string
	query  string
	status int
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func newDiskEmulator(t *testing.T, root string) *diskEmulator {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	d := &diskEmulator{url: "http://" + srv.Listener.Addr().String(), root: root, done: make(chan finished, 100)}
	emu, err := New(root, d.url, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	if emu.disk == nil {
		t.Fatalf("the disk-backed emulator at %s does not stream writes (does its filesystem have user extended attributes?)", root)
	}
	d.emu = emu
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		emu.Handler().ServeHTTP(rec, r)
		if !strings.Contains(r.URL.RawQuery, "uploadType=resumable") {
			return
		}
		select {
		case d.done <- finished{r.Method, r.URL.RawQuery, rec.status}:
		default:
		}
	})
	srv.Start()
	t.Cleanup(func() { srv.Close(); emu.Stop() })
	d.client, err = NewClient(context.Background(), d.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.client.Close() })
	return d
}

func (d *diskEmulator) object(name string) *storage.ObjectHandle {
	return d.client.Bucket(testBucket).Object(name)
}

// upload writes data with the given chunk size (0: one multipart request).
func (d *diskEmulator) upload(t *testing.T, name string, data []byte, chunk int, conds storage.Conditions) (*storage.ObjectAttrs, error) {
	t.Helper()
	obj := d.object(name)
	if conds != (storage.Conditions{}) {
		obj = obj.If(conds)
	}
	w := obj.NewWriter(context.Background())
	w.ChunkSize = chunk
	w.ContentType = "video/mp4"
	w.Metadata = map[string]string{"kind": "video"}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return w.Attrs(), nil
}

func (d *diskEmulator) read(t *testing.T, name string) []byte {
	t.Helper()
	r, err := d.object(name).NewReader(context.Background())
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

// assertNoUploadsLeft checks that no temporary file outlived its request.
func (d *diskEmulator) assertNoUploadsLeft(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(d.root + ".uploads")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("%d temporary files left behind, first %s", len(entries), entries[0].Name())
	}
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func md5Of(b []byte) []byte { s := md5.Sum(b); return s[:] }

func httpStatus(err error) int {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code
	}
	return 0
}

// TestDiskWritesReadByFake writes objects the ways the storage client does —
// one multipart request, resumable chunks — and reads them back through
// fake-gcs-server's own reads: bytes, checksums, content type and metadata
// must match what was written.
func TestDiskWritesReadByFake(t *testing.T) {
	d := newDiskEmulator(t, t.TempDir())
	for _, tt := range []struct {
		name  string
		size  int
		chunk int
	}{
		{"multipart", 100_000, 0},
		{"multipart-empty", 0, 0},
		{"resumable-one-chunk", 100_000, 256 << 10},
		{"resumable-many-chunks", 4<<20 + 12_345, 256 << 10},
		{"resumable-exact-chunks", 1 << 20, 256 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := testData(tt.size)
			name := "dir/" + tt.name + ".mp4"
			attrs, err := d.upload(t, name, data, tt.chunk, storage.Conditions{DoesNotExist: true})
			if err != nil {
				t.Fatal(err)
			}
			if attrs.Size != int64(tt.size) || attrs.CRC32C != crc32c.Checksum(data) || !bytes.Equal(attrs.MD5, md5Of(data)) {
				t.Fatalf("upload answered size %d crc32c %08x md5 %x; want %d %08x %x",
					attrs.Size, attrs.CRC32C, attrs.MD5, tt.size, crc32c.Checksum(data), md5Of(data))
			}
			got, err := d.object(name).Attrs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Generation != attrs.Generation || got.CRC32C != attrs.CRC32C || got.ContentType != "video/mp4" || got.Metadata["kind"] != "video" {
				t.Fatalf("fake-gcs-server reads %+v, upload answered %+v", got, attrs)
			}
			if !bytes.Equal(d.read(t, name), data) {
				t.Fatal("downloaded bytes differ from the uploaded ones")
			}
			// fake-gcs-server's Go API sees the same object.
			obj, err := d.emu.fake.GetObject(testBucket, name)
			if err != nil || !bytes.Equal(obj.Content, data) {
				t.Fatalf("fake-gcs-server's GetObject: %v, equal content %v", err, bytes.Equal(obj.Content, data))
			}
		})
	}
	// Listing sees the objects and nothing of the uploads in progress.
	it := d.client.Bucket(testBucket).Objects(context.Background(), &storage.Query{Prefix: "dir/"})
	n := 0
	for {
		_, err := it.Next()
		if err != nil {
			break
		}
		n++
	}
	if n != 5 {
		t.Fatalf("listing found %d objects, want 5", n)
	}
	d.assertNoUploadsLeft(t)
}

// TestDiskWritesPreconditions: a second write under DoesNotExist fails with
// 412 and leaves the first object as it was, and so does a patch for a
// generation that is not the live one.
func TestDiskWritesPreconditions(t *testing.T) {
	d := newDiskEmulator(t, t.TempDir())
	first := testData(300_000)
	for _, chunk := range []int{0, 256 << 10} {
		name := fmt.Sprintf("race-%d.mp4", chunk)
		attrs, err := d.upload(t, name, first, chunk, storage.Conditions{DoesNotExist: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.upload(t, name, testData(1000), chunk, storage.Conditions{DoesNotExist: true})
		if httpStatus(err) != http.StatusPreconditionFailed {
			t.Fatalf("chunk %d: second upload under DoesNotExist: %v, want 412", chunk, err)
		}
		_, err = d.object(name).If(storage.Conditions{GenerationMatch: attrs.Generation + 1}).
			Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: map[string]string{"x": "y"}})
		if httpStatus(err) != http.StatusPreconditionFailed {
			t.Fatalf("patch of another generation: %v, want 412", err)
		}
		got, err := d.object(name).Attrs(context.Background())
		if err != nil || got.Generation != attrs.Generation || got.Metadata["x"] != "" || !bytes.Equal(d.read(t, name), first) {
			t.Fatalf("the first object changed: %+v, %v", got, err)
		}
	}
	// Names that would leave the bucket's directory are refused.
	for _, name := range []string{"../escape", "a/../../escape", "a//b"} {
		if _, err := d.upload(t, name, testData(10), 0, storage.Conditions{}); httpStatus(err) != http.StatusBadRequest {
			t.Fatalf("upload of %q: %v, want 400", name, err)
		}
	}
	for _, bucket := range []string{"..", ".", ""} {
		if _, err := d.emu.disk.objectPath(bucket, "escape"); !errors.Is(err, errNoBucket) {
			t.Fatalf("bucket %q: %v, want no such bucket", bucket, err)
		}
	}
	d.assertNoUploadsLeft(t)
}

// TestDiskWritesPatchKeepsBytesAndGeneration: patching metadata merges it,
// as GCS does, without rewriting the object or changing its generation.
func TestDiskWritesPatchKeepsBytesAndGeneration(t *testing.T) {
	d := newDiskEmulator(t, t.TempDir())
	data := testData(500_000)
	attrs, err := d.upload(t, "p.mp4", data, 0, storage.Conditions{DoesNotExist: true})
	if err != nil {
		t.Fatal(err)
	}
	updated, err := d.object("p.mp4").If(storage.Conditions{GenerationMatch: attrs.Generation, MetagenerationMatch: attrs.Metageneration}).
		Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: map[string]string{"verified": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Generation != attrs.Generation || updated.Metadata["verified"] != "yes" || updated.Metadata["kind"] != "video" ||
		updated.CRC32C != attrs.CRC32C || updated.ContentType != "video/mp4" {
		t.Fatalf("after the patch: %+v; before: %+v", updated, attrs)
	}
	if !bytes.Equal(d.read(t, "p.mp4"), data) {
		t.Fatal("the patch changed the bytes")
	}
	_, err = d.object("missing.mp4").Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: map[string]string{"a": "b"}})
	if !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatalf("patching a missing object: %v, want not found", err)
	}
}

// TestDiskWritesCompose: the composed object is the sources' bytes in order
// with their CRC32C and, as in GCS, no MD5; a declared CRC32C that does not
// match, a destination that exists under DoesNotExist and a source at
// another generation are refused without creating anything.
func TestDiskWritesCompose(t *testing.T) {
	d := newDiskEmulator(t, t.TempDir())
	ctx := context.Background()
	var whole []byte
	var parts []*storage.ObjectHandle
	var gens []int64
	for i := range 3 {
		data := testData(200_000 + i)
		whole = append(whole, data...)
		name := fmt.Sprintf("parts/%d", i)
		attrs, err := d.upload(t, name, data, 0, storage.Conditions{DoesNotExist: true})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, d.object(name))
		gens = append(gens, attrs.Generation)
	}

	c := d.object("bad.mp4").If(storage.Conditions{DoesNotExist: true}).ComposerFrom(parts...)
	c.CRC32C, c.SendCRC32C = crc32c.Checksum(whole)+1, true
	if _, err := c.Run(ctx); httpStatus(err) != http.StatusBadRequest {
		t.Fatalf("compose with a wrong CRC32C: %v, want 400", err)
	}
	if _, err := d.object("bad.mp4").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatalf("a refused compose left an object: %v", err)
	}

	stale := parts[1].If(storage.Conditions{GenerationMatch: gens[1] + 1})
	c = d.object("stale.mp4").ComposerFrom(parts[0], stale, parts[2])
	if _, err := c.Run(ctx); httpStatus(err) != http.StatusPreconditionFailed {
		t.Fatalf("compose of a source at another generation: %v, want 412", err)
	}

	c = d.object("whole.mp4").If(storage.Conditions{DoesNotExist: true}).ComposerFrom(parts...)
	c.ContentType = "video/mp4"
	c.CRC32C, c.SendCRC32C = crc32c.Checksum(whole), true
	attrs, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Size != int64(len(whole)) || attrs.CRC32C != crc32c.Checksum(whole) || len(attrs.MD5) != 0 || attrs.ContentType != "video/mp4" {
		t.Fatalf("composed %+v; want %d bytes, crc32c %08x, no MD5", attrs, len(whole), crc32c.Checksum(whole))
	}
	if !bytes.Equal(d.read(t, "whole.mp4"), whole) {
		t.Fatal("composed bytes differ from the parts in order")
	}
	if _, err := c.Run(ctx); httpStatus(err) != http.StatusPreconditionFailed {
		t.Fatalf("composing onto an existing object under DoesNotExist: %v, want 412", err)
	}
	d.assertNoUploadsLeft(t)
}

// resumable drives the resumable protocol by hand, to cut chunks.
type resumable struct {
	t   *testing.T
	d   *diskEmulator
	loc string
}

func (d *diskEmulator) startResumable(t *testing.T, name string) *resumable {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.url+"/upload/storage/v1/b/"+testBucket+"/o?uploadType=resumable&ifGenerationMatch=0",
		strings.NewReader(`{"name":"`+name+`","contentType":"video/mp4"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-d.done
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") == "" {
		t.Fatalf("starting an upload: %s", resp.Status)
	}
	return &resumable{t: t, d: d, loc: resp.Header.Get("Location")}
}

// put sends body as the chunk with the given Content-Range and returns the
// status the emulator answered, as it recorded it.
func (u *resumable) put(contentRange string, body io.Reader, length int64) (finished, error) {
	req, _ := http.NewRequest(http.MethodPut, u.loc, body)
	req.ContentLength = length
	req.Header.Set("Content-Range", contentRange)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return <-u.d.done, err
}

// cutReader fails after n bytes, as a connection that drops.
type cutReader struct {
	r io.Reader
	n int
}

var errCut = errors.New("connection cut")

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errCut
	}
	p = p[:min(len(p), c.n)]
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// TestDiskWritesResumableSurvivesCutAndRepeatedChunks: a chunk cut half-way
// is rolled back (file and MD5 state) and sent again; a chunk sent twice,
// as after a lost response, is taken once. The object is byte-identical,
// with the right checksums.
func TestDiskWritesResumableSurvivesCutAndRepeatedChunks(t *testing.T) {
	d := newDiskEmulator(t, t.TempDir())
	const chunk = 256 << 10
	data := testData(3*chunk + 999)
	u := d.startResumable(t, "cut.mp4")

	rangeOf := func(from, to int, total string) string { return fmt.Sprintf("bytes %d-%d/%s", from, to-1, total) }
	got, err := u.put(rangeOf(0, chunk, "*"), bytes.NewReader(data[:chunk]), chunk)
	if err != nil || got.status != http.StatusPermanentRedirect {
		t.Fatalf("first chunk: %v %d", err, got.status)
	}
	// The second chunk drops after 1000 bytes.
	got, err = u.put(rangeOf(chunk, 2*chunk, "*"), &cutReader{bytes.NewReader(data[chunk : 2*chunk]), 1000}, chunk)
	if !errors.Is(err, errCut) || got.status != http.StatusBadRequest {
		t.Fatalf("cut chunk: client saw %v, emulator answered %d; want the cut and 400", err, got.status)
	}
	// Sent again whole, then again (a retry after a lost response).
	for range 2 {
		got, err = u.put(rangeOf(chunk, 2*chunk, "*"), bytes.NewReader(data[chunk:2*chunk]), chunk)
		if err != nil || got.status != http.StatusPermanentRedirect {
			t.Fatalf("second chunk: %v %d", err, got.status)
		}
	}
	got, err = u.put(rangeOf(2*chunk, len(data), fmt.Sprint(len(data))), bytes.NewReader(data[2*chunk:]), int64(len(data)-2*chunk))
	if err != nil || got.status != http.StatusOK {
		t.Fatalf("last chunk: %v %d", err, got.status)
	}
	attrs, err := d.object("cut.mp4").Attrs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if attrs.Size != int64(len(data)) || attrs.CRC32C != crc32c.Checksum(data) || !bytes.Equal(attrs.MD5, md5Of(data)) {
		t.Fatalf("stored %d bytes crc32c %08x md5 %x; want %d %08x %x", attrs.Size, attrs.CRC32C, attrs.MD5, len(data), crc32c.Checksum(data), md5Of(data))
	}
	if !bytes.Equal(d.read(t, "cut.mp4"), data) {
		t.Fatal("stored bytes differ")
	}
	d.assertNoUploadsLeft(t)
}

// TestDiskWritesAbandonedUploads: an upload the client cancels creates no
// object and leaves no file; a restart clears what a crash left.
func TestDiskWritesAbandonedUploads(t *testing.T) {
	root := t.TempDir()
	d := newDiskEmulator(t, root)
	u := d.startResumable(t, "gone.mp4")
	if got, err := u.put("bytes 0-999/*", bytes.NewReader(testData(1000)), 1000); err != nil || got.status != http.StatusPermanentRedirect {
		t.Fatalf("chunk: %v %d", err, got.status)
	}
	req, _ := http.NewRequest(http.MethodDelete, u.loc, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-d.done
	if resp.StatusCode != 499 {
		t.Fatalf("cancelling: %s, want 499", resp.Status)
	}
	if _, err := d.object("gone.mp4").Attrs(context.Background()); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatalf("a cancelled upload left an object: %v", err)
	}
	d.assertNoUploadsLeft(t)

	// A crash mid-upload leaves a file; the next start removes it and keeps
	// the objects.
	if _, err := d.upload(t, "kept.mp4", testData(1000), 0, storage.Conditions{}); err != nil {
		t.Fatal(err)
	}
	d.startResumable(t, "crashed.mp4")
	if entries, _ := os.ReadDir(root + ".uploads"); len(entries) != 1 {
		t.Fatalf("%d files for the upload in progress, want 1", len(entries))
	}
	again := newDiskEmulator(t, root)
	again.assertNoUploadsLeft(t)
	if !bytes.Equal(again.read(t, "kept.mp4"), testData(1000)) {
		t.Fatal("an object did not survive the restart")
	}
}

// Object attributes live in an extended attribute, and ext4 holds about
// 4 KiB of them per file. Metadata full of characters JSON would HTML-escape
// (6 bytes each) still fits, since attributes are stored unescaped; metadata
// that cannot fit is refused with 400 at once — never a 500, which the
// storage client retries for ever (an upload that never ends).
func TestLargeMetadataFitsOrIsRefused(t *testing.T) {
	d := newDiskEmulator(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	write := func(name string, meta map[string]string) error {
		w := d.client.Bucket(testBucket).Object(name).NewWriter(ctx)
		w.Metadata = meta
		if _, err := w.Write([]byte("payload")); err != nil {
			return err
		}
		return w.Close()
	}

	escaped := strings.Repeat("<&>", 1000) // 3000 bytes, 18000 if HTML-escaped
	if err := write("escaped", map[string]string{"k": escaped}); err != nil {
		t.Fatalf("metadata of 3000 HTML-sensitive bytes: %v", err)
	}
	attrs, err := d.client.Bucket(testBucket).Object("escaped").Attrs(ctx)
	if err != nil || attrs.Metadata["k"] != escaped {
		t.Fatalf("read back %v, %d bytes of metadata; want the value as written", err, len(attrs.Metadata["k"]))
	}

	err = write("huge", map[string]string{"k": strings.Repeat("x", 8000)})
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != http.StatusBadRequest {
		t.Fatalf("metadata that cannot fit: %v, want a 400", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the refused upload was retried until the deadline")
	}
}
