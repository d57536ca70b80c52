package transfer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

func TestPartedTransfer(t *testing.T) {
	e := newEnv(t)
	e.opts.PartSize = 256 << 10
	e.opts.PartConcurrency = 3
	// 40 parts: the final compose needs two rounds (at most 32 sources each).
	body := mediaorigin.Video("parts", 40*256<<10-17)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", SendHashes: true})

	res, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "parts"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != 40 {
		t.Fatalf("parts = %d, want 40", res.Parts)
	}
	e.assertStored(t, res.Object.Name, body)
	attrs := e.objectAttrs(t, res.Object.Name)
	if res.Object.CRC32C != crc32cOf(body) || res.Object.MD5 != "" || res.Object.Size != int64(len(body)) {
		t.Fatalf("result = %+v; want the whole file's CRC32C, its size, and no MD5 (composite)", res.Object)
	}
	if attrs.Metadata["crc32c"] != crc32cOf(body) || attrs.Metadata["wochitVideoId"] != "parts" || attrs.ContentType != "video/mp4" {
		t.Fatalf("final object attrs = %+v", attrs)
	}
	if parts := e.objects(t, "videos/.parts/"); len(parts) != 0 {
		t.Fatalf("temporary parts remain: %v", parts)
	}
}

// A retried attempt keeps the parts an earlier attempt verified and fetches
// only the rest; an unverified or corrupt leftover is fetched again. It
// continues in the earlier attempt's part size, of the version its last progress
// names, and so probes only a few bytes instead of the first part again.
func TestPartedTransferResumes(t *testing.T) {
	e := newEnv(t)
	e.opts.PartSize = 256 << 10
	e.opts.PartConcurrency = 1
	body := mediaorigin.Video("resume", 8*256<<10)
	// The first attempt is cut in the middle of part 3.
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	in := e.input(contract.KindVideo, "/v.mp4", "resume")
	// Cut as often as an attempt tries a part, so the attempt fails.
	cutter := &cutOnRange{origin: e.origin, cutRange: "bytes=786432-1048575", times: 3}
	srv := httptest.NewServer(cutter)
	defer srv.Close()
	in.url = srv.URL + "/v.mp4"

	if _, err := e.copyFile(in); err == nil {
		t.Fatal("the first attempt succeeded although part 3 was cut")
	}
	if cutter.cuts != 3 {
		t.Fatalf("the origin cut part 3 %d times, want 3", cutter.cuts)
	}
	// Parts 0-2 are stored and verified. The emulator may also keep what
	// the cut attempt had sent of part 3 as an object of its own; it is
	// never marked verified (the retry replaces it).
	var parts []string
	for _, name := range e.objects(t, "videos/.parts/resume/") {
		if a := e.objectAttrs(t, name); a.Size == 256<<10 && a.Metadata["crc32c"] != "" {
			parts = append(parts, name)
		} else if !strings.HasSuffix(name, "/000003") {
			t.Fatalf("an unverified leftover %s (%d bytes) other than the cut part 3", name, a.Size)
		}
	}
	if len(parts) != 3 || !strings.HasSuffix(parts[2], "/000002") {
		t.Fatalf("after the cut attempt %d verified parts are stored, want parts 0-2: %v", len(parts), parts)
	}
	// Corrupt the record of part 1: the retry must not trust it.
	p1 := e.bucket.Object(parts[1])
	if _, err := p1.Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: map[string]string{"crc32c": "AAAAAA=="}}); err != nil {
		t.Fatal(err)
	}

	// The failed attempt's last progress lists the finished parts with their
	// CRC32C. Falsify part 2's entry: the retry must not trust part 2 either.
	last := e.lastProgress(t)
	if len(last.Parts) != 3 || last.Parts[2].Index != 2 || last.Parts[2].CRC32C != crc32cOf(body[2*256<<10:3*256<<10]) {
		t.Fatalf("last progress lists parts %+v, want parts 0-2 with their CRC32C", last.Parts)
	}
	etag := e.origin.Requests("/v.mp4")[1].IfRange
	if last.PartSize != 256<<10 || last.Validator == "" || last.Validator != etag {
		t.Fatalf("last progress names part size %d and validator %q; want 256 KiB and the ETag %q sent as If-Range", last.PartSize, last.Validator, etag)
	}
	last.Parts[2].CRC32C = "AAAAAA=="
	e.opts.Resume = last
	// The worker that retries is configured differently: the parts of the
	// earlier attempt still count.
	e.opts.PartSize = 512 << 10

	before := len(e.origin.Requests("/v.mp4"))
	res, err := e.copyFile(in)
	if err != nil {
		t.Fatal(err)
	}
	e.assertStored(t, res.Object.Name, body)
	var fetched []string
	for i, r := range e.origin.Requests("/v.mp4")[before:] {
		fetched = append(fetched, r.Range)
		if i > 0 && r.IfRange != etag {
			t.Errorf("part request %s came with If-Range %q, want %q", r.Range, r.IfRange, etag)
		}
	}
	// The probe asks for 512 bytes, then part 1 (its record was corrupted),
	// part 2 (its entry in the progress did not match) and parts 3-7, all in the
	// first attempt's part size.
	want := []string{"bytes=0-511", "bytes=262144-524287", "bytes=524288-786431", "bytes=786432-1048575", "bytes=1048576-1310719",
		"bytes=1310720-1572863", "bytes=1572864-1835007", "bytes=1835008-2097151"}
	if strings.Join(fetched, " ") != strings.Join(want, " ") {
		t.Fatalf("the retry fetched\n  %v\nwant\n  %v", fetched, want)
	}
	if left := e.objects(t, "videos/.parts/"); len(left) != 0 {
		t.Fatalf("temporary parts remain: %v", left)
	}
}

// cutOnRange serves from origin but cuts the connection in the middle of
// one range, the first few times it is asked for.
type cutOnRange struct {
	origin   *mediaorigin.Origin
	cutRange string
	times    int
	cuts     int
}

func (c *cutOnRange) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.cuts < c.times && r.Header.Get("Range") == c.cutRange {
		c.cuts++
		// The origin's own answer, headers and all, cut after 1000 bytes.
		w = &cutAfter{ResponseWriter: w, left: 1000}
	}
	c.origin.ServeHTTP(w, r)
}

// cutAfter passes a response through until left bytes were written, then
// closes the connection.
type cutAfter struct {
	http.ResponseWriter
	left int
}

func (c *cutAfter) Write(p []byte) (int, error) {
	if len(p) >= c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

func TestComposeIntoExistingObjectTakesThePreconditionPath(t *testing.T) {
	e := newEnv(t)
	e.opts.PartSize = 256 << 10
	e.opts.PartConcurrency = 1
	body := mediaorigin.Video("race-parts", 4*256<<10)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	const name = "videos/race-p/video.mp4"
	var concurrentGen int64
	// When the last part is requested, a concurrent attempt finishes first.
	racing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == "bytes=786432-1048575" && concurrentGen == 0 {
			cw := e.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(r.Context())
			cw.ContentType = "video/mp4"
			cw.Metadata = map[string]string{"wochitVideoId": "race-p", "sourceUrl": "http://" + r.Host + r.URL.Path}
			cw.Write(body)
			if err := cw.Close(); err != nil {
				t.Errorf("concurrent writer: %v", err)
			}
			concurrentGen = cw.Attrs().Generation
		}
		e.origin.ServeHTTP(w, r)
	}))
	defer racing.Close()

	res, err := e.copyFile(input{kind: contract.KindVideo, url: racing.URL + "/v.mp4", id: "race-p"})
	if err != nil {
		t.Fatal(err)
	}
	if concurrentGen == 0 || !res.Reused {
		t.Fatalf("result = %+v; want the concurrent object reused through the 412 path", res)
	}
	if got := e.objectAttrs(t, name).Generation; got != concurrentGen {
		t.Fatalf("generation = %d, want the concurrent writer's %d", got, concurrentGen)
	}
	e.assertStored(t, name, body)
	if left := e.objects(t, "videos/.parts/"); len(left) != 0 {
		t.Fatalf("temporary parts remain: %v", left)
	}
}
