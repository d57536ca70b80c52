package transfer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// Two attempts of one transfer can run at once: one whose heartbeat timed
// out keeps going until it next heartbeats. When our upload of a part meets
// a part the other attempt wrote (a 412 on DoesNotExist), a part the other
// attempt verified for the same plan is kept — deleting it would let two
// attempts delete each other's work forever — and an unverified one is
// removed by its generation only, then fetched again.
func TestConcurrentlyWrittenParts(t *testing.T) {
	const partSize = 256 << 10
	body := mediaorigin.Video("race-part", 4*partSize)
	part1 := body[partSize : 2*partSize]
	const part1Range = "bytes=262144-524287"
	const part1Name = "videos/.parts/racep/video/000001"
	for _, verified := range []bool{true, false} {
		name := "verified by the other attempt: kept"
		if !verified {
			name = "not verified: deleted by generation and fetched again"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = partSize
			e.opts.PartConcurrency = 1
			e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
			etag := etagOf(t, e, "/v.mp4")

			var once sync.Once
			var otherGen int64
			// When part 1 is first asked for, the other attempt stores it.
			racing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Range") == part1Range {
					once.Do(func() {
						otherGen = writeOtherAttemptsPart(t, e, part1Name, part1, "http://"+r.Host+r.URL.Path, etag, verified)
					})
				}
				e.origin.ServeHTTP(w, r)
			}))
			defer racing.Close()

			res, err := e.copyFile(input{kind: contract.KindVideo, url: racing.URL + "/v.mp4", id: "racep"})
			if otherGen == 0 {
				t.Fatal("the other attempt did not store part 1")
			}
			if err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, body)

			log := e.proxy.log()
			composed := slices.IndexFunc(log, func(entry string) bool { return strings.Contains(entry, "/compose") })
			if composed < 0 {
				t.Fatalf("no compose request among %v", log)
			}
			var deletes []string
			preconditionFailed := 0
			for _, entry := range log[:composed] {
				if strings.HasPrefix(entry, "DELETE ") && strings.Contains(entry, "000001") {
					request, _, _ := strings.Cut(entry, " → ")
					deletes = append(deletes, request)
				}
				if strings.HasPrefix(entry, "POST /upload/") && strings.HasSuffix(entry, " → 412") {
					preconditionFailed++
				}
			}
			if preconditionFailed != 1 {
				t.Fatalf("%d part uploads failed their DoesNotExist precondition, want 1 (part 1's): %v", preconditionFailed, log)
			}
			fetches := 0
			for _, r := range e.origin.Requests("/v.mp4") {
				if r.Range == part1Range {
					fetches++
				}
			}
			if verified {
				if len(deletes) != 0 || fetches != 1 {
					t.Fatalf("before composing, part 1 was deleted by %v and fetched %d times; want it kept and fetched once", deletes, fetches)
				}
				return
			}
			want := fmt.Sprintf("ifGenerationMatch=%d", otherGen)
			if len(deletes) != 1 || !strings.HasSuffix(deletes[0], want) || fetches != 2 {
				t.Fatalf("before composing, part 1 was deleted by %v and fetched %d times; want one delete with %s and a second fetch", deletes, fetches, want)
			}
		})
	}
}

// writeOtherAttemptsPart stores part as the other attempt would, marked
// verified or not, and returns its generation.
func writeOtherAttemptsPart(t *testing.T, e *env, name string, part []byte, source, etag string, verified bool) int64 {
	w := e.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(context.Background())
	w.ChunkSize = 0
	w.Metadata = map[string]string{
		"wochitVideoId": "racep", "sourceUrl": source, "sourceValidator": etag,
		"sourceSize": itoa(4 * len(part)), "partOffset": itoa(len(part)), "partLength": itoa(len(part)),
	}
	if verified {
		w.Metadata["crc32c"] = crc32cOf(part)
	}
	if _, err := w.Write(part); err != nil {
		t.Errorf("the other attempt's write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("the other attempt's write: %v", err)
		return 0
	}
	return w.Attrs().Generation
}
