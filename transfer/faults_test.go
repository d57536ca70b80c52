package transfer_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

func TestServerErrorsAreRetriedThenSucceed(t *testing.T) {
	e := newEnv(t)
	body := mediaorigin.Video("500", 300<<10)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", Statuses: []int{500, 500, 500}})

	res, errs := e.attempts(e.input(contract.KindVideo, "/v.mp4", "e500"), 10)
	if len(errs) != 3 {
		t.Fatalf("failed attempts = %d (%v), want 3", len(errs), errs)
	}
	for _, err := range errs {
		if typ, final := reasonOf(t, err); typ != contract.OriginUnavailable || final {
			t.Fatalf("error %v is not a retryable %s", err, contract.OriginUnavailable)
		}
	}
	e.assertStored(t, res.Object.Name, body)
}

// Bodies that are cut, longer or shorter than announced, or do not match the
// origin's own checksum never become an object; the next attempt, against an
// honest origin, stores exactly the file.
func TestMisbehavingBodiesNeverStoreWrongBytes(t *testing.T) {
	body := mediaorigin.Video("lies", 700<<10)
	// MPEG-TS has no structure to check: only the origin's checksum tells a
	// short copy from the file.
	ts := make([]byte, len(body))
	for i := 0; i < len(ts); i += 188 {
		ts[i] = 0x47
	}
	tests := []struct {
		name     string
		file     mediaorigin.File
		wantType contract.Reason
	}{
		{"declares more than it sends", mediaorigin.File{DeclaredLength: int64(len(body)) + 1000, NoRanges: true}, contract.IncompleteBody},
		{"declares less than the file (ranges)", mediaorigin.File{DeclaredLength: int64(len(body)) - 1000}, contract.OriginMisbehaved},
		{"declares less than the file: its structure is cut", mediaorigin.File{DeclaredLength: int64(len(body)) - 1000, NoRanges: true}, contract.IncompleteMedia},
		{"declares less than the file, checksum sent", mediaorigin.File{Body: ts, ContentType: "video/mp2t", DeclaredLength: int64(len(body)) - 1000, NoRanges: true, SendHashes: true}, contract.IntegrityMismatch},
		{"cut, with length", mediaorigin.File{CutAfter: 100 << 10, CutTimes: 1, NoRanges: true}, contract.IncompleteBody},
		{"cut, chunked", mediaorigin.File{CutAfter: 100 << 10, CutTimes: 1, NoLength: true, NoRanges: true}, contract.IncompleteBody},
		{"wrong Content-Range", mediaorigin.File{WrongContentRange: 1}, contract.OriginMisbehaved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = 256 << 10
			file := tt.file
			if file.Body == nil {
				file.Body, file.ContentType = body, "video/mp4"
			}
			e.origin.Put("/v.mp4", file)
			in := e.input(contract.KindVideo, "/v.mp4", "lie")

			_, err := e.copyFile(in)
			if typ, final := reasonOf(t, err); typ != tt.wantType || final {
				t.Fatalf("error = %v, want a retryable %s", err, tt.wantType)
			}
			e.assertNothingLeft(t, "lie")

			e.origin.Put("/v.mp4", mediaorigin.File{Body: file.Body, ContentType: file.ContentType})
			res, err := e.copyFile(in)
			if err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, file.Body)
		})
	}
}

// An HTML page is retried a couple of times first: transfer's
// TestHTMLPageIsRetriedTwice.
func TestLimitsAndContentChecks(t *testing.T) {
	big := mediaorigin.Video("big", 16<<20)
	tests := []struct {
		name     string
		kind     contract.AssetKind
		file     mediaorigin.File
		wantType contract.Reason
		maxSent  int64 // the origin must not have sent more than this
	}{
		{"too large by Content-Length", contract.KindVideo, mediaorigin.File{Body: big, ContentType: "video/mp4", NoRanges: true}, contract.TooLarge, 8 << 20},
		{"too large by Content-Range", contract.KindVideo, mediaorigin.File{Body: big, ContentType: "video/mp4"}, contract.TooLarge, 8 << 20},
		{"too large while streaming", contract.KindVideo, mediaorigin.File{Body: big, ContentType: "video/mp4", NoLength: true, NoRanges: true}, contract.TooLarge, 8 << 20},
		{"video as thumbnail", contract.KindThumbnail, mediaorigin.File{Body: mediaorigin.Video("x", 1000), ContentType: "image/png"}, contract.UnsupportedContentType, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.kind == contract.KindVideo {
				e.opts.MaxBytes = 1 << 20 // the worker's limit for videos
			}
			e.origin.Put("/f", tt.file)
			_, err := e.copyFile(e.input(tt.kind, "/f", "lim"))
			if typ, final := reasonOf(t, err); typ != tt.wantType || !final {
				t.Fatalf("error = %v, want a non-retryable %s", err, tt.wantType)
			}
			e.assertNothingLeft(t, "lim")
			if sent := e.origin.Stats("/f").BytesSent; sent > tt.maxSent {
				t.Fatalf("the origin sent %d bytes; reading should have stopped at the limit", sent)
			}
		})
	}
}

func TestGCSFailuresMidUploadAreRetried(t *testing.T) {
	t.Run("single stream: the client resends the chunk", func(t *testing.T) {
		e := newEnv(t)
		body := mediaorigin.Video("503", 2<<20)
		e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
		e.proxy.failUploads[3] = http.StatusServiceUnavailable
		res, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "g503"))
		if _, failed, _ := e.proxy.counts(); failed != 1 {
			t.Fatalf("the proxy injected %d faults, want 1", failed)
		}
		if err != nil {
			t.Fatal(err)
		}
		e.assertStored(t, res.Object.Name, body)
	})
	t.Run("parts: the part is fetched again", func(t *testing.T) {
		e := newEnv(t)
		e.opts.PartSize = 256 << 10
		body := mediaorigin.Video("503p", 1<<20+5)
		e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
		e.proxy.failUploads[2] = http.StatusServiceUnavailable
		res, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "g503p"))
		if _, failed, _ := e.proxy.counts(); failed != 1 {
			t.Fatalf("the proxy injected %d faults, want 1", failed)
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.Parts != 5 {
			t.Fatalf("parts = %d, want 5", res.Parts)
		}
		e.assertStored(t, res.Object.Name, body)
		e.assertNothingLeft(t, "none") // no parts left anywhere for this prefix
		if parts := e.objects(t, "videos/.parts/"); len(parts) != 0 {
			t.Fatalf("temporary parts remain: %v", parts)
		}
	})
}

func TestIntegrityMismatchDeletesTheObject(t *testing.T) {
	t.Run("single stream: the attempt fails, and a later correct generation survives", func(t *testing.T) {
		e := newEnv(t)
		var integrityFailures atomic.Int64
		e.opts.IntegrityFailure = func() { integrityFailures.Add(1) }
		body := mediaorigin.Video("crc", 600<<10)
		e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
		e.proxy.tamperCRC = 1
		// Between the compare and the delete, a concurrent attempt stores
		// the file again, verified: the delete must remove only the
		// generation the attempt compared. (Mutation: drop the generation
		// precondition of deleteExact in transfer/stored.go — the concurrent
		// copy vanishes and "no object survived" fails this test.)
		const name = "videos/crc/video.mp4"
		var laterGen int64
		e.proxy.beforeDelete = func(deleted string) {
			if deleted != name || laterGen != 0 {
				return
			}
			w := e.bucket.Object(name).NewWriter(context.Background())
			w.ChunkSize = 0
			w.ContentType = "video/mp4"
			w.Metadata = map[string]string{"wochitVideoId": "crc", "sourceUrl": e.originURL + "/v.mp4", "kind": "video",
				"size": itoa(len(body)), "crc32c": crc32cOf(body), "md5": md5Of(body)}
			w.Write(body)
			if err := w.Close(); err != nil {
				t.Errorf("concurrent writer: %v", err)
				return
			}
			laterGen = w.Attrs().Generation
		}

		_, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "crc"))
		if _, _, tampered := e.proxy.counts(); tampered != 1 {
			t.Fatalf("the proxy falsified %d responses, want 1", tampered)
		}
		if typ, final := reasonOf(t, err); typ != contract.IntegrityMismatch || final {
			t.Fatalf("error = %v, want a retryable %s", err, contract.IntegrityMismatch)
		}
		if n := integrityFailures.Load(); n != 1 {
			t.Fatalf("integrity failures reported = %d, want 1", n)
		}
		if laterGen == 0 {
			t.Fatal("the attempt deleted nothing")
		}
		if objs := e.objects(t, "videos/crc/"); len(objs) != 1 {
			t.Fatalf("objects %v; want the concurrent attempt's copy to have survived the delete", objs)
		}
		if got := e.objectAttrs(t, name).Generation; got != laterGen {
			t.Fatalf("generation %d survived, want the concurrent attempt's %d", got, laterGen)
		}
		res, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "crc"))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Reused || e.objectAttrs(t, name).Generation != laterGen || e.origin.Stats("/v.mp4").Requests != 1 {
			t.Fatalf("result %+v; want the surviving copy reused without contacting the origin again", res)
		}
		e.assertStored(t, res.Object.Name, body)
	})
	t.Run("parts: the part is deleted and fetched again", func(t *testing.T) {
		e := newEnv(t)
		var integrityFailures atomic.Int64
		e.opts.IntegrityFailure = func() { integrityFailures.Add(1) }
		e.opts.PartSize = 256 << 10
		e.opts.PartConcurrency = 1
		body := mediaorigin.Video("crcp", 600<<10)
		e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
		e.proxy.tamperCRC = 1

		res, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "crcp"))
		if _, _, tampered := e.proxy.counts(); tampered != 1 {
			t.Fatalf("the proxy falsified %d responses, want 1", tampered)
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := integrityFailures.Load(); n != 1 {
			t.Fatalf("integrity failures reported = %d, want 1", n)
		}
		e.assertStored(t, res.Object.Name, body)
		// Part 0 was stored twice: once falsified and deleted, once verified.
		if n := len(e.origin.Requests("/v.mp4")); n != 4 {
			t.Fatalf("origin saw %d requests, want 4 (3 parts, part 0 twice)", n)
		}
	})
}
