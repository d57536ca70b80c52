package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

const storedName = "videos/v1/video.mp4"

// plant stores data under the final name as an earlier attempt (or anyone)
// might have left it, with the given metadata.
func (e *env) plant(t *testing.T, data []byte, meta map[string]string) *storage.ObjectAttrs {
	t.Helper()
	w := e.bucket.Object(storedName).NewWriter(context.Background())
	w.ChunkSize = 0
	w.ContentType = "video/mp4"
	w.Metadata = meta
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Attrs()
}

// ours is the metadata an attempt at /clip.mp4 for video v1 writes.
func (e *env) ours() map[string]string {
	return map[string]string{"wochitVideoId": "v1", "sourceUrl": e.originURL + "/clip.mp4", "kind": "video"}
}

// verifiedMark is the mark the engine adds once it proved an object whole.
func verifiedMark(meta map[string]string, data []byte) map[string]string {
	out := map[string]string{"size": fmt.Sprint(len(data)), "crc32c": crc32c.Encode(crc32c.Checksum(data))}
	for k, v := range meta {
		out[k] = v
	}
	return out
}

func (e *env) copyVideo(opts transfer.Options) (transfer.Result, error) {
	return transfer.Copy(context.Background(),
		transfer.Source{URL: e.originURL + "/clip.mp4", HTTP: e.http, Attempt: 1},
		transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "v1", Kind: contract.KindVideo},
		opts)
}

func (e *env) attrs(t *testing.T) *storage.ObjectAttrs {
	t.Helper()
	a, err := e.bucket.Object(storedName).Attrs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) read(t *testing.T) []byte {
	t.Helper()
	r, err := e.bucket.Object(storedName).NewReader(context.Background())
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

// flipped is data with one byte changed: what a faulty write stored.
func flipped(data []byte) []byte {
	out := append([]byte(nil), data...)
	out[len(out)/2] ^= 0xFF
	return out
}

func reasonOf(t *testing.T, err error) (contract.Reason, bool) {
	t.Helper()
	var terr *transfer.Error
	if !errors.As(err, &terr) {
		t.Fatalf("error %v (%T) is not a *transfer.Error", err, err)
	}
	return terr.Reason, terr.Final
}

// An object under the final name that an earlier attempt stored but never
// verified — no mark, or a mark GCS's own checksums contradict — is never
// stamped and reused: while the link lives it is replaced with the origin's
// bytes, and a reuse-only run (the link expired) fails with a clear reason
// and leaves it as it is. (Mutation: take such an object as verified in
// findStored, as the engine used to: the live run reports the planted
// bytes Reused, and the reuse-only run succeeds.)
func TestUnverifiedObjectIsNeverReused(t *testing.T) {
	body := mediaorigin.Video("unverified", 300<<10)
	for _, tt := range []struct {
		name string
		data []byte
		mark bool // a mark with the file's checksums, whatever the bytes
	}{
		{"other bytes, no mark", flipped(body), false},
		{"other bytes, a mark that is not GCS's", flipped(body), true},
		{"the right bytes, no mark (the attempt died before comparing)", body, false},
	} {
		meta := func(e *env) map[string]string {
			if tt.mark {
				return verifiedMark(e.ours(), body)
			}
			return e.ours()
		}
		t.Run(tt.name+": replaced while the link lives", func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/clip.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
			planted := e.plant(t, tt.data, meta(e))

			res, err := e.copyVideo(transfer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := e.attrs(t)
			if res.Reused || got.Generation == planted.Generation || e.origin.Stats("/clip.mp4").Requests != 1 {
				t.Fatalf("result %+v, generation %d (planted %d); want a new copy from the origin", res, got.Generation, planted.Generation)
			}
			if string(e.read(t)) != string(body) || got.Metadata["crc32c"] != crc32c.Encode(crc32c.Checksum(body)) ||
				res.Object.CRC32C != got.Metadata["crc32c"] {
				t.Fatalf("stored %+v; want the origin's bytes, marked verified", got)
			}
		})
		t.Run(tt.name+": refused on a reuse-only run", func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/clip.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
			planted := e.plant(t, tt.data, meta(e))

			_, err := e.copyVideo(transfer.Options{ReuseOnly: true})
			if reason, final := reasonOf(t, err); reason != contract.LinkExpired || !final || !strings.Contains(err.Error(), "never verified") {
				t.Fatalf("error = %v; want a final %s saying the object was never verified", err, contract.LinkExpired)
			}
			got := e.attrs(t)
			if got.Generation != planted.Generation || got.Metageneration != planted.Metageneration || got.Metadata["crc32c"] != planted.Metadata["crc32c"] {
				t.Fatalf("the object changed: %+v, planted %+v", got, planted)
			}
			if n := e.origin.Stats("/clip.mp4").Requests; n != 0 {
				t.Fatalf("the origin saw %d requests on a reuse-only run", n)
			}
		})
	}
}

// When the unverified object cannot be removed (a retention policy or an
// object hold answers 403), the new copy meets it at its finalize (412) and
// compares: the right bytes are marked verified and reused, other bytes
// fail the attempt and are left unmarked. (Mutation: accept after a 412
// without comparing, in acceptExisting: the other bytes are reused.)
func TestUnremovableUnverifiedObjectIsComparedWithANewCopy(t *testing.T) {
	body := mediaorigin.Video("held", 300<<10)
	for _, tt := range []struct {
		name     string
		data     []byte
		accepted bool
	}{
		{"the right bytes", body, true},
		{"other bytes", flipped(body), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/"+storedName) {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusForbidden)
						fmt.Fprint(w, `{"error":{"code":403,"message":"object is under active hold"}}`)
						return
					}
					next.ServeHTTP(w, r)
				})
			})
			e.origin.Put("/clip.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
			planted := e.plant(t, tt.data, e.ours())

			res, err := e.copyVideo(transfer.Options{})
			got := e.attrs(t)
			if got.Generation != planted.Generation {
				t.Fatalf("generation %d, want the held one %d", got.Generation, planted.Generation)
			}
			if tt.accepted {
				if err != nil || !res.Reused || got.Metadata["crc32c"] != crc32c.Encode(crc32c.Checksum(body)) {
					t.Fatalf("result %+v, %v, metadata %v; want the held object verified by the new copy and reused", res, err, got.Metadata)
				}
				return
			}
			if reason, final := reasonOf(t, err); reason != contract.IntegrityMismatch || final {
				t.Fatalf("error = %v; want a retryable %s", err, contract.IntegrityMismatch)
			}
			if got.Metadata["crc32c"] != "" {
				t.Fatalf("the held object with other bytes was marked verified: %v", got.Metadata)
			}
		})
	}
}

// An object another attempt stored while this one copied (its finalize
// fails 412) is taken only if GCS's checksums of it are those of the bytes
// this attempt read, on every copy path; otherwise it is removed, the
// attempt fails retryably, and the next one stores the file. (Mutation:
// accept without comparing in acceptExisting: the other bytes are reused.)
func TestPreconditionFailureComparesDigests(t *testing.T) {
	body := mediaorigin.Video("race", 700<<10)
	noMemory := func(int64) (func(), bool) { return func() {}, false }
	for _, path := range []struct {
		name   string
		file   mediaorigin.File
		opts   transfer.Options
		parted bool
	}{
		{"small file", mediaorigin.File{NoRanges: true}, transfer.Options{ChunkSize: 1 << 20}, false},
		{"single stream in chunks", mediaorigin.File{NoRanges: true}, transfer.Options{ChunkSize: 256 << 10}, false},
		{"single stream unbuffered", mediaorigin.File{NoRanges: true}, transfer.Options{ChunkSize: 1 << 20, ReserveMemory: noMemory}, false},
		{"parts", mediaorigin.File{}, transfer.Options{PartSize: 256 << 10}, true},
	} {
		for _, same := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, the same bytes %v", path.name, same), func(t *testing.T) {
				e := newEnv(t)
				file := path.file
				file.Body, file.ContentType = body, "video/mp4"
				e.origin.Put("/clip.mp4", file)
				concurrent := body
				if !same {
					concurrent = flipped(body)
				}
				// The other attempt stores its copy once this one has looked
				// for a stored one and asked the origin.
				var once sync.Once
				var planted *storage.ObjectAttrs
				racing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					once.Do(func() { planted = e.plant(t, concurrent, e.ours()) })
					e.origin.ServeHTTP(w, r)
				}))
				defer racing.Close()
				e.originURL = racing.URL

				res, err := e.copyVideo(path.opts)
				if planted == nil {
					t.Fatal("the concurrent copy was not stored")
				}
				if same {
					got := e.attrs(t)
					if err != nil || !res.Reused || got.Generation != planted.Generation || got.Metadata["crc32c"] != crc32c.Encode(crc32c.Checksum(body)) {
						t.Fatalf("result %+v, %v, attrs %+v; want the concurrent copy verified and reused", res, err, got)
					}
					return
				}
				if reason, final := reasonOf(t, err); reason != contract.IntegrityMismatch || final {
					t.Fatalf("error = %v; want a retryable %s", err, contract.IntegrityMismatch)
				}
				if _, err := e.bucket.Object(storedName).Attrs(context.Background()); !errors.Is(err, storage.ErrObjectNotExist) {
					t.Fatalf("the concurrent copy with other bytes is still there: %v", err)
				}
				res, err = e.copyVideo(path.opts)
				if err != nil || res.Reused || string(e.read(t)) != string(body) || (res.Parts > 0) != path.parted {
					t.Fatalf("the next attempt: %+v, %v; want the origin's bytes stored", res, err)
				}
			})
		}
	}
}

// The delete of an unverified object matches the generation and the
// metageneration that were looked at: if another attempt marks the object
// verified in between, it survives, and the new copy's compare takes it.
// (Mutation: match only the generation in findStored's delete: the
// verified object is deleted and stored again under a new generation.)
func TestUnverifiedObjectVerifiedMeanwhileSurvives(t *testing.T) {
	body := mediaorigin.Video("meanwhile", 300<<10)
	var e *env
	var once sync.Once
	e = newEnvWith(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/"+storedName) {
				once.Do(func() {
					a := e.attrs(t)
					if _, err := e.bucket.Object(storedName).Update(context.Background(),
						storage.ObjectAttrsToUpdate{Metadata: verifiedMark(a.Metadata, body)}); err != nil {
						t.Errorf("marking the object verified: %v", err)
					}
				})
			}
			next.ServeHTTP(w, r)
		})
	})
	e.origin.Put("/clip.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
	planted := e.plant(t, body, e.ours())

	res, err := e.copyVideo(transfer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.attrs(t); !res.Reused || got.Generation != planted.Generation || got.Metageneration != planted.Metageneration+1 {
		t.Fatalf("result %+v, generation %d metageneration %d; want the object verified meanwhile (generation %d) reused",
			res, got.Generation, got.Metageneration, planted.Generation)
	}
}
