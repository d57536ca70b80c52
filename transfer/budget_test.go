package transfer_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// budget is a memory budget that records what was reserved from it.
type budget struct {
	mu       sync.Mutex
	reserved []int64
	held     int64
}

func (b *budget) reserve(n int64) (func(), bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved = append(b.reserved, n)
	b.held += n
	return func() {
		b.mu.Lock()
		b.held -= n
		b.mu.Unlock()
	}, true
}

// A thumbnail larger than the part size, from an origin that serves
// ranges, is still copied in one stream (issue 17, item 8): thumbnails run
// by the hundred on the light queue, and each part in flight would hold
// copy buffers the worker's memory budget never counted. It is asked for
// whole in one plain GET, and its upload chunk comes from the budget.
//
// Mutation: partable() returning true for thumbnails fails it ("copied in 4
// parts with requests [… Range:bytes=0-1048575 …]"), as main does.
func TestThumbnailIsNeverCopiedInParts(t *testing.T) {
	e := newEnv(t)
	thumb := mediaorigin.PaddedThumbnail("large", 3<<20+5)
	e.origin.Put("/t.png", mediaorigin.File{Body: thumb, ContentType: "image/png"})
	var mem budget
	res, err := transfer.Copy(context.Background(),
		transfer.Source{URL: e.originURL + "/t.png", HTTP: e.http, Attempt: 1},
		transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "t1", Kind: contract.KindThumbnail},
		transfer.Options{ChunkSize: 1 << 20, PartSize: 1 << 20, MinPartSize: 1 << 20, ReserveMemory: mem.reserve})
	if err != nil {
		t.Fatal(err)
	}
	requests := e.origin.Requests("/t.png")
	if res.Parts != 0 || len(requests) != 1 || requests[0].Range != "" {
		t.Fatalf("copied in %d parts with requests %+v; want one stream from one plain GET", res.Parts, requests)
	}
	if len(mem.reserved) != 1 || mem.reserved[0] != 1<<20 || mem.held != 0 {
		t.Fatalf("reserved %v from the budget, %d still held; want one upload chunk (1 MiB), released", mem.reserved, mem.held)
	}
	r, err := e.bucket.Object(res.Object.Name).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); !bytes.Equal(got, thumb) {
		t.Fatalf("stored %d bytes that differ from the thumbnail's %d", len(got), len(thumb))
	}
}

// objectReads counts the requests for objects' bytes that reach the
// emulator (the storage client's media reads, XML or JSON API), not its
// metadata lookups, listings or uploads.
type objectReads struct {
	next http.Handler
	mu   sync.Mutex
	n    int
}

func (o *objectReads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if r.Method == http.MethodGet && (r.URL.Query().Get("alt") == "media" ||
		!strings.HasPrefix(p, "/storage/") && !strings.HasPrefix(p, "/upload/")) {
		o.mu.Lock()
		o.n++
		o.mu.Unlock()
	}
	o.next.ServeHTTP(w, r)
}

func (o *objectReads) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// A video's media metadata are read once, when it is stored, and recorded
// in the object's metadata: a reuse-only run — on the light queue, whose
// memory a moov of up to 16 MiB per run would not fit — reports them
// without reading one byte of the object, whichever path stored it
// (issue 17, item 8).
//
// Mutation: Copy describing every video it returns (c.media ignoring
// res.Object.Media) fails it ("the reuse-only run read the object 3
// times"), as main does.
func TestReuseOnlyReportsMediaWithoutReadingTheObject(t *testing.T) {
	video := mediaorigin.VideoWith("reused", 3<<20, mediaorigin.VideoOptions{Width: 640, Height: 360, Duration: 3 * time.Second, MoovPadding: 256 << 10})
	for _, tt := range []struct {
		name string
		file mediaorigin.File
		opts transfer.Options
	}{
		{"read whole", mediaorigin.File{Body: video, ContentType: "video/mp4", NoRanges: true}, transfer.Options{ChunkSize: 4 << 20}},
		{"one stream", mediaorigin.File{Body: video, ContentType: "video/mp4", NoRanges: true}, transfer.Options{ChunkSize: 1 << 20}},
		{"in parts", mediaorigin.File{Body: video, ContentType: "video/mp4"}, transfer.Options{PartSize: 1 << 20, MinPartSize: 1 << 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reads := &objectReads{}
			e := newEnvWith(t, func(next http.Handler) http.Handler { reads.next = next; return reads })
			e.origin.Put("/v.mp4", tt.file)
			run := func(opts transfer.Options) transfer.Result {
				t.Helper()
				res, err := transfer.Copy(context.Background(),
					transfer.Source{URL: e.originURL + "/v.mp4", HTTP: e.http, Attempt: 1},
					transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "r1", Kind: contract.KindVideo},
					opts)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			stored := run(tt.opts)
			if stored.Object.Media == nil || stored.Object.Media.Width != 640 || stored.Object.Media.DurationMillis != 3000 {
				t.Fatalf("stored with media %+v; want 640 pixels wide, 3 s", stored.Object.Media)
			}
			readsBefore, requestsBefore := reads.count(), len(e.origin.Requests("/v.mp4"))
			opts := tt.opts
			opts.ReuseOnly = true
			reused := run(opts)
			if n := reads.count() - readsBefore; n != 0 {
				t.Fatalf("the reuse-only run read the object %d times; want none", n)
			}
			if !reused.Reused || len(e.origin.Requests("/v.mp4")) != requestsBefore {
				t.Fatalf("reused %v, origin requests %d → %d; want the stored object, the origin untouched", reused.Reused, requestsBefore, len(e.origin.Requests("/v.mp4")))
			}
			if got, want := *reused.Object.Media, *stored.Object.Media; got.DurationMillis != want.DurationMillis || got.Width != want.Width ||
				got.Height != want.Height || got.Codec != want.Codec || *got.FastStart != *want.FastStart {
				t.Fatalf("reused media %+v, want %+v", got, want)
			}
		})
	}
}

// A video stored without its media recorded (by an earlier version, or a
// run that stopped before recording them) is read when a run reuses it,
// but its moov only with memory from the worker's budget: when the budget
// has none to spare, the callback goes without the media rather than the
// light queue holding a moov per run outside it.
//
// Mutation: describe ignoring reserve fails it ("reused media … with the
// budget spent; want none", and no reservation asked for).
func TestReuseReadsAnUnrecordedMoovWithinTheBudget(t *testing.T) {
	e := newEnv(t)
	video := mediaorigin.VideoWith("unrecorded", 3<<20, mediaorigin.VideoOptions{Duration: 3 * time.Second, MoovPadding: 256 << 10})
	e.origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4", NoRanges: true})
	run := func(reserve func(int64) (func(), bool)) transfer.Result {
		t.Helper()
		res, err := transfer.Copy(context.Background(),
			transfer.Source{URL: e.originURL + "/v.mp4", HTTP: e.http, Attempt: 1},
			transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "u1", Kind: contract.KindVideo},
			transfer.Options{ChunkSize: 1 << 20, ReuseOnly: reserve != nil, ReserveMemory: reserve})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	stored := run(nil)
	obj := e.bucket.Object(stored.Object.Name)
	if _, err := obj.Update(context.Background(), storage.ObjectAttrsToUpdate{Metadata: map[string]string{"media": "unreadable"}}); err != nil {
		t.Fatal(err)
	}

	var asked []int64
	spent := func(n int64) (func(), bool) { asked = append(asked, n); return nil, false }
	if res := run(spent); res.Object.Media != nil || len(asked) != 1 || asked[0] < 256<<10 {
		t.Fatalf("reused media %+v with the budget spent, after asking it for %v; want none, after asking for the moov (over 256 KiB)", res.Object.Media, asked)
	}

	var mem budget
	res := run(mem.reserve)
	if res.Object.Media == nil || res.Object.Media.DurationMillis != 3000 || len(mem.reserved) != 1 || mem.reserved[0] != asked[0] || mem.held != 0 {
		t.Fatalf("reused media %+v after reserving %v (%d still held); want 3 s, with the moov's %d bytes reserved and released",
			res.Object.Media, mem.reserved, mem.held, asked[0])
	}
}
