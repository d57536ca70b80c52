package transfer_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

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
