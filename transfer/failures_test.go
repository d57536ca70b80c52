package transfer_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// attempt runs one attempt at /f the way the activity does: resuming from
// the previous attempt's last progress, which it returns with the error.
func (e *env) attempt(t *testing.T, dst transfer.Destination, resume transfer.Progress, attempt int) (transfer.Progress, *transfer.Error) {
	t.Helper()
	var log progressLog
	_, err := transfer.Copy(context.Background(),
		transfer.Source{URL: e.originURL + "/f", HTTP: e.http, Attempt: attempt},
		dst, transfer.Options{ChunkSize: 256 << 10, PartSize: 256 << 10, Resume: resume, Progress: log.add, ProgressInterval: time.Hour})
	var terr *transfer.Error
	if !errors.As(err, &terr) {
		t.Fatalf("attempt %d: error %v (%T), want a *transfer.Error", attempt, err, err)
	}
	reports := log.reports()
	return reports[len(reports)-1], terr
}

func (e *env) videoDestination(id string) transfer.Destination {
	return transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: id, Kind: contract.KindVideo}
}

// serveOrigin serves the origin's files through h from now on.
func (e *env) serveOrigin(t *testing.T, h http.Handler) {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.originURL = srv.URL
}

// withHeader sets a response header before the origin answers.
type withHeader struct {
	next        http.Handler
	name, value string
}

func (h withHeader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(h.name, h.value)
	h.next.ServeHTTP(w, r)
}

// A failure that the next attempt repeats exactly — the file's bytes do not
// match the checksum the origin declares, the body always ends at the same
// byte short of its length, the origin's Content-Range is malformed — waits
// at least 30 minutes before the attempt after (instead of being retried at
// the backoff's 5 minutes, with a full download, until the deadline). A
// different second failure, or an origin that is merely unavailable, does
// not.
//
// Mutation: settle's `if fp == f.Last` never true → "attempt 2: retry
// after 0s, want at least 30m0s".
func TestRepeatedFailuresWaitBeforeTheNextAttempt(t *testing.T) {
	body := mediaorigin.Video("rep", 300<<10)
	wrongMD5 := md5.Sum([]byte("another file"))
	for _, tt := range []struct {
		name   string
		file   mediaorigin.File
		header [2]string
		reason contract.Reason
	}{
		{"a wrong declared checksum", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true},
			[2]string{"Content-MD5", base64.StdEncoding.EncodeToString(wrongMD5[:])}, contract.IntegrityMismatch},
		{"a body shorter than its length", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10}, [2]string{}, contract.IncompleteBody},
		{"a malformed Content-Range", mediaorigin.File{Body: body, ContentType: "video/mp4", WrongContentRange: 1000}, [2]string{}, contract.OriginMisbehaved},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/f", tt.file)
			if tt.header[0] != "" {
				e.serveOrigin(t, withHeader{e.origin, tt.header[0], tt.header[1]})
			}
			dst := e.videoDestination("rep")
			p, err := e.attempt(t, dst, transfer.Progress{}, 1)
			if err.Reason != tt.reason || err.Final || err.RetryAfter >= 30*time.Minute {
				t.Fatalf("attempt 1: %v (%s, final %v, retry after %s); want a retryable %s at the usual backoff", err, err.Reason, err.Final, err.RetryAfter, tt.reason)
			}
			for attempt := 2; attempt <= 3; attempt++ {
				p, err = e.attempt(t, dst, p, attempt)
				if err.Reason != tt.reason || err.Final || err.RetryAfter < 30*time.Minute {
					t.Fatalf("attempt %d: %v (%s, final %v); retry after %s, want at least 30m0s", attempt, err, err.Reason, err.Final, err.RetryAfter)
				}
			}
			if p.Failures.Repeats != 3 || !strings.HasPrefix(p.Failures.Last, string(tt.reason)+":") {
				t.Fatalf("progress records failures %+v, want 3 repeats of a %s", p.Failures, tt.reason)
			}
		})
	}

	t.Run("a different failure", func(t *testing.T) {
		e := newEnv(t)
		e.origin.Put("/f", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10})
		dst := e.videoDestination("diff")
		p, _ := e.attempt(t, dst, transfer.Progress{}, 1)
		e.origin.Put("/f", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 200 << 10})
		if _, err := e.attempt(t, dst, p, 2); err.RetryAfter != 0 {
			t.Fatalf("attempt 2, cut elsewhere: retry after %s, want the usual backoff", err.RetryAfter)
		}
	})
	t.Run("an unavailable origin", func(t *testing.T) {
		e := newEnv(t)
		e.origin.Put("/f", mediaorigin.File{Statuses: []int{503, 503, 503}})
		dst := e.videoDestination("busy")
		p, _ := e.attempt(t, dst, transfer.Progress{}, 1)
		if _, err := e.attempt(t, dst, p, 2); err.Reason != contract.OriginUnavailable || err.RetryAfter != 0 {
			t.Fatalf("attempt 2: %v, retry after %s; want %s at the usual backoff", err, err.RetryAfter, contract.OriginUnavailable)
		}
	})
}

// A 401/403 before the link's expiry, or another refusing 4xx, is final on
// the transfer's third, however many attempts failed otherwise before: a
// long transfer's first hiccup is retried.
//
// Mutation (today's main): final when the attempt number is 3 or more →
// "attempt 5: final on the transfer's first 403".
func TestRefusalsAreCountedPerTransfer(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusBadRequest} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/f", mediaorigin.File{Statuses: []int{status, status, status}})
			dst := e.videoDestination("deny")
			// Attempts 1–4 failed otherwise (their record carries no refusal).
			p := transfer.Progress{Kind: contract.KindVideo, Total: -1}
			for attempt := 5; attempt <= 7; attempt++ {
				var err *transfer.Error
				p, err = e.attempt(t, dst, p, attempt)
				if final := attempt == 7; err.Final != final {
					t.Fatalf("attempt %d: %v, final %v; want final only on the transfer's third %d", attempt, err, err.Final, status)
				}
			}
		})
	}
}

// An HTML page served with 200 — a CDN's error or maintenance page — is
// retried twice before the content type is called wrong; a real file after
// one is stored.
//
// Mutation (today's main): contentTypeOf refuses HTML at once → "attempt 1:
// the origin served ... final true".
func TestHTMLPageIsRetriedTwice(t *testing.T) {
	html := mediaorigin.File{Body: []byte("<!DOCTYPE html><html><body>Down for maintenance</body></html>"), ContentType: "text/html"}
	e := newEnv(t)
	e.origin.Put("/f", html)
	dst := e.videoDestination("html")
	var p transfer.Progress
	for attempt := 1; attempt <= 3; attempt++ {
		var err *transfer.Error
		p, err = e.attempt(t, dst, p, attempt)
		want, final := contract.OriginMisbehaved, false
		if attempt == 3 {
			want, final = contract.UnsupportedContentType, true
		}
		if err.Reason != want || err.Final != final {
			t.Fatalf("attempt %d: %v (%s, final %v); want %s, final %v", attempt, err, err.Reason, err.Final, want, final)
		}
	}

	body := mediaorigin.Video("after", 100<<10)
	e.origin.Put("/f", html)
	p, _ = e.attempt(t, e.videoDestination("page"), transfer.Progress{}, 1)
	e.origin.Put("/f", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	if _, err := transfer.Copy(context.Background(), transfer.Source{URL: e.originURL + "/f", HTTP: e.http, Attempt: 2},
		e.videoDestination("page"), transfer.Options{Resume: p}); err != nil {
		t.Fatalf("the file after an HTML page: %v", err)
	}
}

// gcsDenier answers every request with a GCS error, before the emulator.
type gcsDenier struct {
	next    http.Handler
	status  int
	message string
	only    string // a path prefix to answer; "" for all
}

func (d gcsDenier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, d.only) {
		d.next.ServeHTTP(w, r)
		return
	}
	reason := map[int]string{http.StatusUnauthorized: "required", http.StatusForbidden: "forbidden", http.StatusNotFound: "notFound"}[d.status]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(d.status)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":%q,"errors":[{"message":%q,"domain":"global","reason":%q}]}}`, d.status, d.message, d.message, reason)
}

// emulatorBehind serves the GCS emulator (bucket "b") behind wrap, on
// loopback, and returns the real storage client's handle on bucket.
func emulatorBehind(t *testing.T, wrap func(http.Handler) http.Handler, bucket string) *storage.BucketHandle {
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
	srv := &http.Server{Handler: wrap(emu.Handler())}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); emu.Stop() })
	gcs, err := gcsemu.NewClient(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gcs.Close() })
	return gcs.Bucket(bucket)
}

// GCS refusing the bucket — 401/403, or 404 for the bucket itself — fails
// the transfer at once with BucketInaccessible, a configuration reason,
// without contacting the origin when the first lookup shows it; a missing
// object is not a missing bucket.
//
// Mutation: bucketInaccessible always false → "error = ... (StorageError,
// final false), want a final BucketInaccessible".
func TestInaccessibleBucketFailsAtOnce(t *testing.T) {
	same := func(h http.Handler) http.Handler { return h }
	for _, tt := range []struct {
		name   string
		bucket func(t *testing.T) *storage.BucketHandle
		path   string
		probed bool // whether the origin is contacted before GCS refuses
	}{
		{"403 on every request", func(t *testing.T) *storage.BucketHandle {
			return emulatorBehind(t, func(h http.Handler) http.Handler {
				return gcsDenier{next: h, status: http.StatusForbidden, message: "sa@p.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage object."}
			}, "b")
		}, "/v.mp4", false},
		{"401 on listing", func(t *testing.T) *storage.BucketHandle {
			return emulatorBehind(t, func(h http.Handler) http.Handler {
				return gcsDenier{next: h, status: http.StatusUnauthorized, message: "Anonymous caller does not have storage.objects.list access."}
			}, "b")
		}, "/f", false},
		{"a bucket that does not exist", func(t *testing.T) *storage.BucketHandle { return emulatorBehind(t, same, "missing") }, "/f", false},
		{"404 for the bucket on upload", func(t *testing.T) *storage.BucketHandle {
			return emulatorBehind(t, func(h http.Handler) http.Handler {
				return gcsDenier{next: h, status: http.StatusNotFound, message: "The specified bucket does not exist.", only: "/upload/"}
			}, "b")
		}, "/v.mp4", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put(tt.path, mediaorigin.File{Body: mediaorigin.Video("b", 100<<10), ContentType: "video/mp4", NoRanges: true})
			_, err := transfer.Copy(context.Background(), transfer.Source{URL: e.originURL + tt.path, HTTP: e.http, Attempt: 1},
				transfer.Destination{Bucket: tt.bucket(t), Prefix: "videos/", WochitVideoID: "bkt", Kind: contract.KindVideo}, transfer.Options{})
			var terr *transfer.Error
			if !errors.As(err, &terr) || terr.Reason != contract.BucketInaccessible || !terr.Final {
				t.Fatalf("error = %v, want a final %s", err, contract.BucketInaccessible)
			}
			if n := e.origin.Stats(tt.path).Requests; (n > 0) != tt.probed {
				t.Fatalf("the origin saw %d requests; contacted before GCS refused: %v", n, tt.probed)
			}
		})
	}
}
