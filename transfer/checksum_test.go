package transfer_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsapi"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// resumableChecks stands in front of the emulator and does with resumable
// uploads what GCS does and the emulator does not: a finalizing request that
// carries "X-Goog-Hash: crc32c=…" creates the object only if the bytes the
// session received have that CRC32C, and is answered 400 otherwise. It can
// also flip a bit of the upload at one offset (a corruption between the
// worker and GCS), and records each finalizing request.
type resumableChecks struct {
	next     http.Handler
	flipAt   int64 // -1: none
	mu       sync.Mutex
	received map[string]uint32 // upload_id → CRC32C of the bytes so far
	finals   []finalRequest
}

type finalRequest struct {
	crc32c string // what X-Goog-Hash declared; "" none
	status int
}

func (p *resumableChecks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("upload_id")
	if !strings.HasPrefix(r.URL.Path, "/upload/") || id == "" {
		p.next.ServeHTTP(w, r)
		return
	}
	first, total, err := gcsapi.ParseContentRange(r.Header.Get("Content-Range"))
	body, rerr := io.ReadAll(r.Body)
	if err != nil || rerr != nil {
		http.Error(w, "bad chunk", http.StatusBadRequest)
		return
	}
	if at := p.flipAt - first; first >= 0 && p.flipAt >= 0 && at >= 0 && at < int64(len(body)) {
		body[at] ^= 0x10
	}
	p.mu.Lock()
	crc := crc32.Update(p.received[id], crc32c.Table, body)
	p.received[id] = crc
	p.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if total < 0 {
		p.next.ServeHTTP(w, r)
		return
	}
	declared, _ := strings.CutPrefix(r.Header.Get("X-Goog-Hash"), "crc32c=")
	final := finalRequest{crc32c: declared, status: http.StatusOK}
	if declared != "" && declared != crc32c.Encode(crc) {
		final.status = http.StatusBadRequest
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(final.status)
		fmt.Fprintf(w, `{"error":{"code":400,"message":"Provided CRC32C %q doesn't match calculated %q."}}`, declared, crc32c.Encode(crc))
	} else {
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		p.next.ServeHTTP(sw, r)
		final.status = sw.status
	}
	p.mu.Lock()
	p.finals = append(p.finals, final)
	p.mu.Unlock()
}

func (p *resumableChecks) finalRequests() []finalRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]finalRequest(nil), p.finals...)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// A single stream with an upload chunk computes no MD5 of its own (issue 17,
// item 14): its object exists only once GCS has checked the CRC32C of the
// bytes read from the origin, which the finalizing request carries, and the
// MD5 it reports is the one GCS computed of that object. A bit flipped on
// the way to GCS is refused by GCS itself: the object never exists.
//
// Mutation: DisableAutoChecksum = true for the chunked upload in stream.go
// fails both cases ("the finalizing request carried crc32c \"\"" and "a
// finalizing request with the flipped bit created the object").
func TestSingleStreamIsCheckedByGCSWithItsCRC32C(t *testing.T) {
	body := mediaorigin.Video("checked", 1<<20+333)
	for _, tt := range []struct {
		name   string
		flipAt int64
	}{
		{"as read", -1},
		{"a bit flipped on the way to GCS", 700 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checks := &resumableChecks{flipAt: tt.flipAt, received: map[string]uint32{}}
			e := newEnvBehind(t, func(next http.Handler) http.Handler { checks.next = next; return checks })
			e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
			res, err := transfer.Copy(context.Background(),
				transfer.Source{URL: e.originURL + "/v.mp4", HTTP: e.http, Attempt: 1},
				transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "c1", Kind: contract.KindVideo},
				transfer.Options{ChunkSize: 256 << 10})
			finals := checks.finalRequests()
			if len(finals) != 1 {
				t.Fatalf("%d finalizing requests, want 1: %+v", len(finals), finals)
			}
			if tt.flipAt < 0 {
				if err != nil {
					t.Fatal(err)
				}
				if want := crc32c.Encode(crc32c.Checksum(body)); finals[0].crc32c != want {
					t.Fatalf("the finalizing request carried crc32c %q, want %q (the origin's bytes)", finals[0].crc32c, want)
				}
				sum := md5.Sum(body)
				if want := base64.StdEncoding.EncodeToString(sum[:]); res.Object.MD5 != want || res.Parts != 0 {
					t.Fatalf("stored %+v in %d parts; want one stream with GCS's MD5 %s", res.Object, res.Parts, want)
				}
				return
			}
			if finals[0].status != http.StatusBadRequest {
				t.Fatalf("a finalizing request with the flipped bit created the object (status %d, crc32c %q)", finals[0].status, finals[0].crc32c)
			}
			var terr *transfer.Error
			if !errors.As(err, &terr) || terr.Final {
				t.Fatalf("Copy = %v; want an error another attempt may retry", err)
			}
			if _, err := e.bucket.Object("videos/c1/video.mp4").Attrs(context.Background()); !errors.Is(err, storage.ErrObjectNotExist) {
				t.Fatalf("looking up the object: %v; want none", err)
			}
		})
	}
}
