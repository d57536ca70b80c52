package gcssink_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/bench/gcssink"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

// The sink must behave like GCS for every call the storage client makes in
// our transfers, or the benchmarks would measure something else.
func TestSinkSpeaksTheStorageClientsAPI(t *testing.T) {
	sink := gcssink.New()
	srv := httptest.NewServer(sink)
	defer srv.Close()
	ctx := context.Background()
	client, err := gcsemu.NewClient(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	bucket := client.Bucket("b")

	data := make([]byte, 3<<20+7)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	write := func(name string, body []byte, chunk int) *storage.ObjectAttrs {
		w := bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		w.ChunkSize = chunk
		w.ContentType = "video/mp4"
		w.Metadata = map[string]string{"k": "v"}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("writing %s: %v", name, err)
		}
		return w.Attrs()
	}
	for _, tt := range []struct {
		name  string
		chunk int
	}{{"single request", 0}, {"multipart", 8 << 20}, {"resumable chunks", 256 << 10}} {
		attrs := write(tt.name, data, tt.chunk)
		if attrs.Size != int64(len(data)) || attrs.CRC32C != crc32c.Checksum(data) || attrs.Metadata["k"] != "v" {
			t.Fatalf("%s: attrs = %+v", tt.name, attrs)
		}
	}

	// DoesNotExist is enforced.
	w := bucket.Object("multipart").If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.Write([]byte("x"))
	var gerr *googleapi.Error
	if err := w.Close(); !errors.As(err, &gerr) || gerr.Code != http.StatusPreconditionFailed {
		t.Fatalf("second write = %v, want 412", err)
	}

	// Compose combines the CRC32C.
	a, b := write("parts/a", data[:512<<10], 0), write("parts/b", data[512<<10:], 0)
	c := bucket.Object("composed").If(storage.Conditions{DoesNotExist: true}).ComposerFrom(bucket.Object(a.Name), bucket.Object(b.Name))
	attrs, err := c.Run(ctx)
	if err != nil || attrs.CRC32C != crc32c.Checksum(data) || attrs.Size != int64(len(data)) {
		t.Fatalf("compose = %+v, %v", attrs, err)
	}

	// Ranged reads are served from the first and last KeptBytes, across
	// the composed parts' boundary too; the bytes in between are gone.
	readRange := func(name string, off, n int64) ([]byte, error) {
		rd, err := bucket.Object(name).NewRangeReader(ctx, off, n)
		if err != nil {
			return nil, err
		}
		defer rd.Close()
		return io.ReadAll(rd)
	}
	end := int64(len(data))
	for _, tt := range []struct {
		name   string
		off, n int64
	}{
		{"composed", 0, 64}, {"composed", gcssink.KeptBytes - 100, 100}, {"composed", end - 5000, 5000},
		{"composed", end - 10, -1}, {"multipart", 1000, 200}, {"resumable chunks", end - gcssink.KeptBytes, gcssink.KeptBytes},
	} {
		got, err := readRange(tt.name, tt.off, tt.n)
		want := data[tt.off:]
		if tt.n >= 0 {
			want = want[:tt.n]
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: bytes %d+%d: %d bytes, %v; want the %d written", tt.name, tt.off, tt.n, len(got), err, len(want))
		}
	}
	// Parts a and b meet at 512 KiB, inside the composed object's first
	// KeptBytes: a read across them is whole.
	if got, err := readRange("composed", 512<<10-10, 20); err != nil || !bytes.Equal(got, data[512<<10-10:512<<10+10]) {
		t.Fatalf("across the parts: %q, %v", got, err)
	}
	if _, err := readRange("composed", gcssink.KeptBytes+10, 10); err == nil {
		t.Fatal("a read of discarded bytes succeeded")
	}

	// Metadata updates, listing with a delimiter, deletion.
	if _, err := bucket.Object("composed").If(storage.Conditions{MetagenerationMatch: 1}).Update(ctx, storage.ObjectAttrsToUpdate{Metadata: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := bucket.Object("composed").Attrs(ctx); got.Metadata["x"] != "y" || got.Metageneration != 2 {
		t.Fatalf("after update: %+v", got)
	}
	it := bucket.Objects(ctx, &storage.Query{Prefix: "parts/"})
	n := 0
	for {
		_, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("listed %d objects under parts/, want 2", n)
	}
	if err := bucket.Object("parts/a").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.Object("parts/a").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatalf("after delete: %v", err)
	}
}
