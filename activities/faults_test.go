package activities_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/workflows"
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

func TestLimitsAndContentChecks(t *testing.T) {
	big := mediaorigin.Video("big", 16<<20)
	html := []byte("<!DOCTYPE html><html><body>Your session expired</body></html>")
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
		{"HTML error page", contract.KindVideo, mediaorigin.File{Body: html, ContentType: "text/html"}, contract.UnsupportedContentType, 1 << 20},
		{"HTML labelled video/mp4", contract.KindVideo, mediaorigin.File{Body: html, ContentType: "video/mp4"}, contract.UnsupportedContentType, 1 << 20},
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
	t.Run("single stream: the attempt fails and leaves nothing", func(t *testing.T) {
		f := newFixture(t)
		f.acts.Metrics = activities.NewMetrics(prometheus.NewRegistry())
		body := mediaorigin.Video("crc", 600<<10)
		f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
		f.gcsProxy.tamperCRC = 1

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
		f.assertNothingStored("crc")
		res, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "crc"))
		if err != nil {
			t.Fatal(err)
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

func TestPartedTransfer(t *testing.T) {
	f := newFixture(t)
	f.acts.Transfer.PartSize = 256 << 10
	f.acts.Transfer.PartConcurrency = 3
	// 40 parts: the final compose needs two rounds (at most 32 sources each).
	body := mediaorigin.Video("parts", 40*256<<10-17)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", SendHashes: true})

	res, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "parts"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != 40 {
		t.Fatalf("parts = %d, want 40", res.Parts)
	}
	f.assertStored(res.Object.Name, body)
	attrs := f.attrs(res.Object.Name)
	if res.Object.CRC32C != crc32cOf(body) || res.Object.MD5 != "" || res.Object.Size != int64(len(body)) {
		t.Fatalf("result = %+v; want the whole file's CRC32C, its size, and no MD5 (composite)", res.Object)
	}
	if attrs.Metadata["crc32c"] != crc32cOf(body) || attrs.Metadata["wochitVideoId"] != "parts" || attrs.ContentType != "video/mp4" {
		t.Fatalf("final object attrs = %+v", attrs)
	}
	if parts := f.objects("videos/.parts/"); len(parts) != 0 {
		t.Fatalf("temporary parts remain: %v", parts)
	}
}

// A retried attempt keeps the parts an earlier attempt verified and fetches
// only the rest; an unverified or corrupt leftover is fetched again. It
// continues in the earlier attempt's part size, of the version its heartbeat
// names, and so probes only a few bytes instead of the first part again.
func TestPartedTransferResumes(t *testing.T) {
	f := newFixture(t)
	f.acts.Transfer.PartSize = 256 << 10
	f.acts.Transfer.PartConcurrency = 1
	body := mediaorigin.Video("resume", 8*256<<10)
	// The first attempt is cut in the middle of part 3.
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	in := f.input(contract.KindVideo, "/v.mp4", "resume")
	// Cut as often as an attempt tries a part, so the attempt fails.
	cutter := &cutOnRange{origin: f.origin, cutRange: "bytes=786432-1048575", times: 3}
	srv := httptest.NewServer(cutter)
	defer srv.Close()
	in.SourceURL = srv.URL + "/v.mp4"

	if _, err := f.transfer(in); err == nil {
		t.Fatal("the first attempt succeeded although part 3 was cut")
	}
	if cutter.cuts != 3 {
		t.Fatalf("the origin cut part 3 %d times, want 3", cutter.cuts)
	}
	parts := f.objects("videos/.parts/resume/")
	if len(parts) != 3 {
		t.Fatalf("after the cut attempt %d parts are stored, want parts 0-2: %v", len(parts), parts)
	}
	// Corrupt the record of part 1: the retry must not trust it.
	p1 := f.gcs.Bucket(testBucket).Object(parts[1])
	if _, err := p1.Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: map[string]string{"crc32c": "AAAAAA=="}}); err != nil {
		t.Fatal(err)
	}

	// The failed attempt's last heartbeat lists the finished parts with their
	// CRC32C. Falsify part 2's entry: the retry must not trust part 2 either.
	var last activities.TransferProgress
	if err := f.lastHeartbeat.Get(&last); err != nil {
		t.Fatal(err)
	}
	if len(last.Parts) != 3 || last.Parts[2].Index != 2 || last.Parts[2].CRC32C != crc32cOf(body[2*256<<10:3*256<<10]) {
		t.Fatalf("last heartbeat lists parts %+v, want parts 0-2 with their CRC32C", last.Parts)
	}
	etag := f.origin.Requests("/v.mp4")[1].IfRange
	if last.PartSize != 256<<10 || last.Validator == "" || last.Validator != etag {
		t.Fatalf("last heartbeat names part size %d and validator %q; want 256 KiB and the ETag %q sent as If-Range", last.PartSize, last.Validator, etag)
	}
	last.Parts[2].CRC32C = "AAAAAA=="
	f.env.SetHeartbeatDetails(last)
	// The worker that retries is configured differently: the parts of the
	// earlier attempt still count.
	f.acts.Transfer.PartSize = 512 << 10

	before := len(f.origin.Requests("/v.mp4"))
	res, err := f.transfer(in)
	if err != nil {
		t.Fatal(err)
	}
	f.assertStored(res.Object.Name, body)
	var fetched []string
	for i, r := range f.origin.Requests("/v.mp4")[before:] {
		fetched = append(fetched, r.Range)
		if i > 0 && r.IfRange != etag {
			t.Errorf("part request %s came with If-Range %q, want %q", r.Range, r.IfRange, etag)
		}
	}
	// The probe asks for 512 bytes, then part 1 (its record was corrupted),
	// part 2 (its heartbeat entry did not match) and parts 3-7, all in the
	// first attempt's part size.
	want := []string{"bytes=0-511", "bytes=262144-524287", "bytes=524288-786431", "bytes=786432-1048575", "bytes=1048576-1310719",
		"bytes=1310720-1572863", "bytes=1572864-1835007", "bytes=1835008-2097151"}
	if strings.Join(fetched, " ") != strings.Join(want, " ") {
		t.Fatalf("the retry fetched\n  %v\nwant\n  %v", fetched, want)
	}
	if left := f.objects("videos/.parts/"); len(left) != 0 {
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
	f := newFixture(t)
	f.acts.Transfer.PartSize = 256 << 10
	f.acts.Transfer.PartConcurrency = 1
	body := mediaorigin.Video("race-parts", 4*256<<10)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	const name = "videos/race-p/video.mp4"
	var concurrentGen int64
	// When the last part is requested, a concurrent attempt finishes first.
	racing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == "bytes=786432-1048575" && concurrentGen == 0 {
			cw := f.gcs.Bucket(testBucket).Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(r.Context())
			cw.ContentType = "video/mp4"
			cw.Metadata = map[string]string{"wochitVideoId": "race-p", "sourceUrl": "http://" + r.Host + r.URL.Path}
			cw.Write(body)
			if err := cw.Close(); err != nil {
				t.Errorf("concurrent writer: %v", err)
			}
			concurrentGen = cw.Attrs().Generation
		}
		f.origin.ServeHTTP(w, r)
	}))
	defer racing.Close()

	res, err := f.transfer(activities.TransferInput{Kind: contract.KindVideo, SourceURL: racing.URL + "/v.mp4", WochitVideoID: "race-p"})
	if err != nil {
		t.Fatal(err)
	}
	if concurrentGen == 0 || !res.Reused {
		t.Fatalf("result = %+v; want the concurrent object reused through the 412 path", res)
	}
	if got := f.attrs(name).Generation; got != concurrentGen {
		t.Fatalf("generation = %d, want the concurrent writer's %d", got, concurrentGen)
	}
	f.assertStored(name, body)
	if left := f.objects("videos/.parts/"); len(left) != 0 {
		t.Fatalf("temporary parts remain: %v", left)
	}
}

func TestAccessDeniedAfterTheLinkExpiredIsFinal(t *testing.T) {
	f := newFixture(t)
	body := mediaorigin.Video("exp", 500<<10)
	// The first request is cut mid-way; afterwards the link is expired and
	// the origin answers 403.
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10, CutTimes: 1,
		Statuses: []int{0, 403, 403, 403}})
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.acts.Now = func() time.Time { return now }
	in := f.input(contract.KindVideo, "/v.mp4", "exp")
	in.LinkExpiresAt = now.Add(time.Minute)

	_, err := f.transfer(in)
	if typ, final := failure(t, err); typ != contract.IncompleteBody || final {
		t.Fatalf("first attempt: %v, want a retryable %s", err, contract.IncompleteBody)
	}
	now = now.Add(2 * time.Minute) // the link has expired
	_, errs := f.attempts(in, 10)
	if len(errs) != 1 {
		t.Fatalf("after expiry %d attempts ran (%v), want 1", len(errs), errs)
	}
	if typ, final := failure(t, errs[0]); typ != contract.LinkExpired || !final {
		t.Fatalf("error = %v, want a non-retryable %s", errs[0], contract.LinkExpired)
	}
	if n := f.origin.Stats("/v.mp4").Requests; n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (no retry storm)", n)
	}
	f.assertNothingStored("exp")
}

func TestAccessDeniedBeforeExpiryIsRetried(t *testing.T) {
	f := newFixture(t)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: []int{403}})
	in := f.input(contract.KindVideo, "/v.mp4", "deny")
	in.LinkExpiresAt = time.Now().Add(time.Hour)
	_, err := f.transfer(in)
	if typ, final := failure(t, err); typ != contract.OriginDenied || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.OriginDenied)
	}
}

// The whole workflow with the real activities: a 401/403 before the link's
// expiry is retried, but only a few times.
func TestAccessDeniedIsRetriedOnlyAFewTimes(t *testing.T) {
	f := newFixture(t)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: []int{403, 403, 403, 403, 403, 403}})
	f.origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("t", 8, 8), ContentType: "image/png"})
	callbacks, requests := recorder(t, http.StatusNoContent, nil)
	f.acts.CallbackURL = callbacks.URL

	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.RegisterActivity(f.acts)
	env.RegisterWorkflow(workflows.IngestVideo)
	env.ExecuteWorkflow(workflows.IngestVideo, workflows.IngestInput{
		Notification: contract.Notification{WochitVideoID: "deny3", VideoContext: "c", VideoURL: f.originURL + "/v.mp4", ThumbnailURL: f.originURL + "/t.png"},
		ReceivedAt:   time.Now(),
	})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != string(contract.OriginDenied) {
		t.Fatalf("workflow error = %v, want %s", err, contract.OriginDenied)
	}
	if n := f.origin.Stats("/v.mp4").Requests; n != 3 {
		t.Fatalf("origin saw %d requests for the video, want 3", n)
	}
	if got := requests(); len(got) != 1 || !strings.Contains(string(got[0].body), `"reason":"OriginDenied"`) {
		t.Fatalf("callbacks = %d, want one video.failed with reason OriginDenied", len(got))
	}
}
