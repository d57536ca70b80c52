package activities_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// attempts runs the activity the way the workflow's retry policy would:
// again after every retryable failure, up to max attempts.
func (f *fixture) attempts(in activities.TransferInput, max int) (activities.TransferResult, []error) {
	f.t.Helper()
	var errs []error
	for range max {
		res, err := f.transfer(in)
		if err == nil {
			return res, errs
		}
		errs = append(errs, err)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.NonRetryable() {
			break
		}
	}
	return activities.TransferResult{}, errs
}

func (f *fixture) input(kind contract.AssetKind, path, id string) activities.TransferInput {
	return activities.TransferInput{Kind: kind, SourceURL: f.originURL + path, WochitVideoID: id, VideoContext: "ctx"}
}

func (f *fixture) assertStored(name string, want []byte) {
	f.t.Helper()
	if got := f.read(name); sha(got) != sha(want) {
		f.t.Fatalf("%s holds %d bytes that differ from the origin's %d", name, len(got), len(want))
	}
}

func (f *fixture) assertNothingStored(id string) {
	f.t.Helper()
	if objs := f.objects("videos/" + id + "/"); len(objs) != 0 {
		f.t.Fatalf("objects were stored: %v", objs)
	}
	if parts := f.objects("videos/.parts/" + id + "/"); len(parts) != 0 {
		f.t.Fatalf("temporary parts remain: %v", parts)
	}
}

func TestServerErrorsAreRetriedThenSucceed(t *testing.T) {
	f := newFixture(t)
	body := mediaorigin.Video("500", 300<<10)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", Statuses: []int{500, 500, 500}})

	res, errs := f.attempts(f.input(contract.KindVideo, "/v.mp4", "e500"), 10)
	if len(errs) != 3 {
		t.Fatalf("failed attempts = %d (%v), want 3", len(errs), errs)
	}
	for _, err := range errs {
		if typ, final := failure(t, err); typ != contract.OriginUnavailable || final {
			t.Fatalf("error %v is not a retryable %s", err, contract.OriginUnavailable)
		}
	}
	f.assertStored(res.Object.Name, body)
}

func TestRetryAfterSetsTheNextRetryDelay(t *testing.T) {
	f := newFixture(t)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: []int{503}, RetryAfter: "120"})
	_, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "ra"))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NextRetryDelay() != 2*time.Minute || appErr.NonRetryable() {
		t.Fatalf("error = %v, want a retryable error with NextRetryDelay 2m", err)
	}
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
			f := newFixture(t)
			f.acts.Transfer.PartSize = 256 << 10
			file := tt.file
			if file.Body == nil {
				file.Body, file.ContentType = body, "video/mp4"
			}
			f.origin.Put("/v.mp4", file)
			in := f.input(contract.KindVideo, "/v.mp4", "lie")

			_, err := f.transfer(in)
			if typ, final := failure(t, err); typ != tt.wantType || final {
				t.Fatalf("error = %v, want a retryable %s", err, tt.wantType)
			}
			f.assertNothingStored("lie")

			f.origin.Put("/v.mp4", mediaorigin.File{Body: file.Body, ContentType: file.ContentType})
			res, err := f.transfer(in)
			if err != nil {
				t.Fatal(err)
			}
			f.assertStored(res.Object.Name, file.Body)
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
			f := newFixture(t)
			f.acts.Transfer.MaxVideoBytes = 1 << 20
			f.origin.Put("/f", tt.file)
			_, err := f.transfer(f.input(tt.kind, "/f", "lim"))
			if typ, final := failure(t, err); typ != tt.wantType || !final {
				t.Fatalf("error = %v, want a non-retryable %s", err, tt.wantType)
			}
			f.assertNothingStored("lim")
			if sent := f.origin.Stats("/f").BytesSent; sent > tt.maxSent {
				t.Fatalf("the origin sent %d bytes; reading should have stopped at the limit", sent)
			}
		})
	}
}

func TestGCSFailuresMidUploadAreRetried(t *testing.T) {
	t.Run("single stream: the client resends the chunk", func(t *testing.T) {
		f := newFixture(t)
		body := mediaorigin.Video("503", 2<<20)
		f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
		f.gcsProxy.failUploads[3] = http.StatusServiceUnavailable
		res, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "g503"))
		if _, failed, _ := f.gcsProxy.counts(); failed != 1 {
			t.Fatalf("the proxy injected %d faults, want 1", failed)
		}
		if err != nil {
			t.Fatal(err)
		}
		f.assertStored(res.Object.Name, body)
	})
	t.Run("parts: the part is fetched again", func(t *testing.T) {
		f := newFixture(t)
		f.acts.Transfer.PartSize = 256 << 10
		body := mediaorigin.Video("503p", 1<<20+5)
		f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
		f.gcsProxy.failUploads[2] = http.StatusServiceUnavailable
		res, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "g503p"))
		if _, failed, _ := f.gcsProxy.counts(); failed != 1 {
			t.Fatalf("the proxy injected %d faults, want 1", failed)
		}
		if err != nil {
			t.Fatal(err)
		}
		if res.Parts != 5 {
			t.Fatalf("parts = %d, want 5", res.Parts)
		}
		f.assertStored(res.Object.Name, body)
		f.assertNothingStored("none") // no parts left anywhere for this prefix
		if parts := f.objects("videos/.parts/"); len(parts) != 0 {
			t.Fatalf("temporary parts remain: %v", parts)
		}
	})
}

func TestIntegrityMismatchDeletesTheObject(t *testing.T) {
	t.Run("single stream: the attempt fails, and a later correct generation survives", func(t *testing.T) {
		f := newFixture(t)
		f.acts.Metrics = activities.NewMetrics(prometheus.NewRegistry())
		body := mediaorigin.Video("crc", 600<<10)
		f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
		f.gcsProxy.tamperCRC = 1
		// Between the compare and the delete, a concurrent attempt stores
		// the file again, verified: the delete must remove only the
		// generation the attempt compared. (Mutation: drop the generation
		// precondition of the delete in transfer/copy.go — the concurrent
		// copy vanishes and "no object survived" fails this test.)
		const name = "videos/crc/video.mp4"
		var laterGen int64
		f.gcsProxy.beforeDelete = func(deleted string) {
			if deleted != name || laterGen != 0 {
				return
			}
			w := f.gcs.Bucket(testBucket).Object(name).NewWriter(context.Background())
			w.ChunkSize = 0
			w.ContentType = "video/mp4"
			w.Metadata = map[string]string{"wochitVideoId": "crc", "sourceUrl": f.originURL + "/v.mp4", "kind": "video",
				"size": itoa(len(body)), "crc32c": crc32cOf(body), "md5": md5Of(body)}
			w.Write(body)
			if err := w.Close(); err != nil {
				t.Errorf("concurrent writer: %v", err)
				return
			}
			laterGen = w.Attrs().Generation
		}

		_, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "crc"))
		if _, _, tampered := f.gcsProxy.counts(); tampered != 1 {
			t.Fatalf("the proxy falsified %d responses, want 1", tampered)
		}
		if typ, final := failure(t, err); typ != contract.IntegrityMismatch || final {
			t.Fatalf("error = %v, want a retryable %s", err, contract.IntegrityMismatch)
		}
		if n := testutil.ToFloat64(f.acts.Metrics.IntegrityFailures.WithLabelValues("video")); n != 1 {
			t.Fatalf("integrity failures metric = %v, want 1", n)
		}
		if laterGen == 0 {
			t.Fatal("the attempt deleted nothing")
		}
		if objs := f.objects("videos/crc/"); len(objs) != 1 {
			t.Fatalf("objects %v; want the concurrent attempt's copy to have survived the delete", objs)
		}
		if got := f.attrs(name).Generation; got != laterGen {
			t.Fatalf("generation %d survived, want the concurrent attempt's %d", got, laterGen)
		}
		res, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "crc"))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Reused || f.attrs(name).Generation != laterGen || f.origin.Stats("/v.mp4").Requests != 1 {
			t.Fatalf("result %+v; want the surviving copy reused without contacting the origin again", res)
		}
		f.assertStored(res.Object.Name, body)
	})
	t.Run("parts: the part is deleted and fetched again", func(t *testing.T) {
		f := newFixture(t)
		f.acts.Metrics = activities.NewMetrics(prometheus.NewRegistry())
		f.acts.Transfer.PartSize = 256 << 10
		f.acts.Transfer.PartConcurrency = 1
		body := mediaorigin.Video("crcp", 600<<10)
		f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
		f.gcsProxy.tamperCRC = 1

		res, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "crcp"))
		if _, _, tampered := f.gcsProxy.counts(); tampered != 1 {
			t.Fatalf("the proxy falsified %d responses, want 1", tampered)
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := testutil.ToFloat64(f.acts.Metrics.IntegrityFailures.WithLabelValues("video")); n != 1 {
			t.Fatalf("integrity failures metric = %v, want 1", n)
		}
		f.assertStored(res.Object.Name, body)
		// Part 0 was stored twice: once falsified and deleted, once verified.
		if n := len(f.origin.Requests("/v.mp4")); n != 4 {
			t.Fatalf("origin saw %d requests, want 4 (3 parts, part 0 twice)", n)
		}
	})
}
