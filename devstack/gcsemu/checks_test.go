package gcsemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

// testEmulator is an emulator on loopback with a storage client for it.
type testEmulator struct {
	url    string
	client *storage.Client
}

// bothEmulators are the in-memory emulator the tests use, where
// fake-gcs-server takes the writes, and the disk-backed one of `dev`.
func bothEmulators(t *testing.T) map[string]testEmulator {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "http://" + srv.Listener.Addr().String()
	emu, err := New("", url, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = emu.Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); emu.Stop() })
	client, err := NewClient(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	disk := newDiskEmulator(t, t.TempDir())
	return map[string]testEmulator{"in memory": {url, client}, "on disk": {disk.url, disk.client}}
}

// A resumable upload whose final chunk declares, in X-Goog-Hash, a CRC32C
// other than that of the bytes received is refused and creates nothing;
// the storage client's own uploads, which declare the right one, pass.
// (Mutation: drop the X-Goog-Hash check in checks.uploadChunk or
// diskWrites.uploadChunk: the refused upload creates the object.)
func TestFinalChunkChecksumIsVerified(t *testing.T) {
	for mode, e := range bothEmulators(t) {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			const chunk = 256 << 10
			data := testData(2*chunk + 1000)
			w := e.client.Bucket(testBucket).Object("client.mp4").NewWriter(ctx)
			w.ChunkSize = chunk
			w.Write(data)
			if err := w.Close(); err != nil {
				t.Fatalf("the storage client's chunked upload: %v", err)
			}

			crc, md5 := crc32c.Encode(crc32c.Checksum(data)), base64.StdEncoding.EncodeToString(md5Of(data))
			for _, tt := range []struct {
				name     string
				declared string
				status   int
				diskOnly bool // in memory only the CRC32C is checked: the storage client sends no MD5
			}{
				{"wrong.mp4", "crc32c=" + crc32c.Encode(crc32c.Checksum(data)+1), http.StatusBadRequest, false},
				{"right.mp4", "crc32c=" + crc + ",md5=" + md5, http.StatusOK, false},
				{"wrong-md5.mp4", "crc32c=" + crc + ",md5=" + base64.StdEncoding.EncodeToString(md5Of(data[1:])), http.StatusBadRequest, true},
			} {
				if tt.diskOnly && mode != "on disk" {
					continue
				}
				loc := startUpload(t, e.url, tt.name)
				put(t, loc, fmt.Sprintf("bytes 0-%d/*", chunk-1), data[:chunk], "", http.StatusOK) // 308 as 200 with an override
				put(t, loc, fmt.Sprintf("bytes %d-%d/%d", chunk, len(data)-1, len(data)), data[chunk:], tt.declared, tt.status)
				_, err := e.client.Bucket(testBucket).Object(tt.name).Attrs(ctx)
				if exists := err == nil; exists != (tt.status == http.StatusOK) {
					t.Fatalf("%s: object exists %v (%v) after a final chunk answered %d", tt.name, exists, err, tt.status)
				}
			}
		})
	}
}

// Deletes and patches hold to their preconditions, generation and
// metageneration, which count as GCS counts them: a patch adds one to the
// metageneration. (Mutation: forward deletes or patches without checking
// them in checks.delete / checks.patch: the stale delete removes the object.)
func TestDeletesAndPatchesHoldToPreconditions(t *testing.T) {
	for mode, e := range bothEmulators(t) {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			obj := e.client.Bucket(testBucket).Object("p/o")
			w := obj.NewWriter(ctx)
			w.Write([]byte("first"))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			first := w.Attrs()
			if first.Metageneration != 1 {
				t.Fatalf("a new object's metageneration is %d, want 1", first.Metageneration)
			}
			patched, err := obj.If(storage.Conditions{GenerationMatch: first.Generation, MetagenerationMatch: 1}).
				Update(ctx, storage.ObjectAttrsToUpdate{Metadata: map[string]string{"k": "v"}})
			if err != nil || patched.Metageneration != 2 || patched.Generation != first.Generation {
				t.Fatalf("patch: %v, metageneration %d generation %d; want 2 and the same generation", err, patched.Metageneration, patched.Generation)
			}
			if _, err := obj.If(storage.Conditions{MetagenerationMatch: 1}).
				Update(ctx, storage.ObjectAttrsToUpdate{Metadata: map[string]string{"k": "w"}}); httpStatus(err) != http.StatusPreconditionFailed {
				t.Fatalf("patch at a stale metageneration: %v, want 412", err)
			}
			if err := obj.If(storage.Conditions{GenerationMatch: first.Generation, MetagenerationMatch: 1}).Delete(ctx); httpStatus(err) != http.StatusPreconditionFailed {
				t.Fatalf("delete at a stale metageneration: %v, want 412", err)
			}
			if err := obj.If(storage.Conditions{GenerationMatch: first.Generation + 1}).Delete(ctx); httpStatus(err) != http.StatusPreconditionFailed {
				t.Fatalf("delete of another generation: %v, want 412", err)
			}
			listed := list(t, e.client, "p/")
			if len(listed) != 1 || listed[0].Metageneration != 2 || listed[0].Metadata["k"] != "v" {
				t.Fatalf("listing %+v; want the object at metageneration 2, unchanged by the refused patch", listed)
			}
			if err := obj.If(storage.Conditions{GenerationMatch: first.Generation, MetagenerationMatch: 2}).Delete(ctx); err != nil {
				t.Fatalf("delete at the live generation and metageneration: %v", err)
			}
			if _, err := obj.Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
				t.Fatalf("after the delete: %v, want no object", err)
			}
		})
	}
}

// A compose holds to its destination's preconditions and its sources'
// generations, and is refused when the CRC32C it declares is not that of
// the result. (Mutation: forward composes without checks.compose: the
// compose with a wrong CRC32C creates its object.)
func TestComposeIsChecked(t *testing.T) {
	for mode, e := range bothEmulators(t) {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			b := e.client.Bucket(testBucket)
			var whole []byte
			var srcs []*storage.ObjectHandle
			var gens []int64
			for i := range 3 {
				data := testData(1000 + i)
				whole = append(whole, data...)
				w := b.Object(fmt.Sprintf("c/%d", i)).NewWriter(ctx)
				w.Write(data)
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				srcs = append(srcs, b.Object(fmt.Sprintf("c/%d", i)))
				gens = append(gens, w.Attrs().Generation)
			}
			compose := func(name string, crc uint32, srcs ...*storage.ObjectHandle) error {
				c := b.Object(name).If(storage.Conditions{DoesNotExist: true}).ComposerFrom(srcs...)
				c.CRC32C, c.SendCRC32C = crc, true
				_, err := c.Run(ctx)
				return err
			}
			if err := compose("bad", crc32c.Checksum(whole)+1, srcs...); httpStatus(err) != http.StatusBadRequest {
				t.Fatalf("compose with a wrong CRC32C: %v, want 400", err)
			}
			if _, err := b.Object("bad").Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
				t.Fatalf("the refused compose created its object: %v", err)
			}
			stale := srcs[1].If(storage.Conditions{GenerationMatch: gens[1] + 1})
			if err := compose("stale", crc32c.Checksum(whole), srcs[0], stale, srcs[2]); httpStatus(err) != http.StatusPreconditionFailed {
				t.Fatalf("compose of a source at another generation: %v, want 412", err)
			}
			if err := compose("good", crc32c.Checksum(whole), srcs...); err != nil {
				t.Fatal(err)
			}
			if err := compose("good", crc32c.Checksum(whole), srcs...); httpStatus(err) != http.StatusPreconditionFailed {
				t.Fatalf("compose onto an existing object under DoesNotExist: %v, want 412", err)
			}
		})
	}
}

func startUpload(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Post(base+"/upload/storage/v1/b/"+testBucket+"/o?uploadType=resumable&name="+name, "application/json",
		strings.NewReader(`{"contentType":"video/mp4"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") == "" {
		t.Fatalf("starting an upload: %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

func put(t *testing.T, loc, contentRange string, body []byte, googHash string, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, loc, bytes.NewReader(body))
	req.Header.Set("Content-Range", contentRange)
	req.Header.Set("X-Guploader-No-308", "yes")
	if googHash != "" {
		req.Header.Set("X-Goog-Hash", googHash)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("chunk %s: %s, want %d", contentRange, resp.Status, want)
	}
}

func list(t *testing.T, client *storage.Client, prefix string) []*storage.ObjectAttrs {
	t.Helper()
	var out []*storage.ObjectAttrs
	it := client.Bucket(testBucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, attrs)
	}
}
