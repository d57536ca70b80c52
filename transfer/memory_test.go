package activities_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// A small file is read whole before its upload, but into a buffer that
// grows as bytes arrive: an origin that declares 32 MiB and sends 64 KiB
// costs about 64 KiB, not 32 MiB.
func TestSmallFileBufferGrowsAsBytesArrive(t *testing.T) {
	f := newFixture(t)
	f.acts.Transfer.ChunkSize = 40 << 20
	f.acts.Transfer.PartSize = 64 << 20 // the probe asks for the whole file
	declared := mediaorigin.PaddedThumbnail("big", 32<<20)
	f.origin.Put("/t.png", mediaorigin.File{Body: declared, ContentType: "image/png", CutAfter: 64 << 10, CutTimes: 1})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := f.transfer(f.input(contract.KindThumbnail, "/t.png", "grow"))
	runtime.ReadMemStats(&after)
	if s := f.origin.Stats("/t.png"); s.Cut != 1 || s.BytesSent != 64<<10 {
		t.Fatalf("origin stats %+v; want one body cut after 64 KiB", s)
	}
	if typ, final := failure(t, err); typ != contract.IncompleteBody || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.IncompleteBody)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 8<<20 {
		t.Fatalf("the attempt allocated %d MiB for 64 KiB received; the buffer did not grow with the bytes", allocated>>20)
	}
}

// In-memory buffers come from a per-process budget. A transfer that does not
// fit does not wait for it: it streams its upload unbuffered, while the
// origin is still sending.
func TestTransfersBeyondTheMemoryBudgetStreamUnbuffered(t *testing.T) {
	body := mediaorigin.PaddedThumbnail("budget", 600<<10)
	tests := []struct {
		name  string
		chunk int // 1 MiB: the file is read whole first; 256 KiB: streamed in chunks
	}{
		{"small file that would be read whole", 1 << 20},
		{"thumbnail that would be streamed in buffered chunks", 256 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.acts.Transfer.ChunkSize = tt.chunk
			f.acts.Transfer.MemoryBudget = 128 << 10
			pause := make(chan struct{})
			release := sync.OnceFunc(func() { close(pause) })
			defer release()
			f.origin.Put("/t.png", mediaorigin.File{Body: body, ContentType: "image/png", Pause: pause, PauseAfter: 300 << 10})

			done := make(chan error, 1)
			var res activities.TransferResult
			go func() {
				var err error
				res, err = f.transfer(f.input(contract.KindThumbnail, "/t.png", "budget"))
				done <- err
			}()
			// The upload begins while the origin still holds the rest.
			waitFor(t, 10*time.Second, "the upload to begin while the origin pauses", func() bool {
				uploads, _, _ := f.gcsProxy.counts()
				return uploads > 0
			})
			if sent := f.origin.Stats("/t.png").BytesSent; sent != 300<<10 {
				t.Fatalf("the origin sent %d bytes, want the 300 KiB before its pause", sent)
			}
			release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			f.assertStored(res.Object.Name, body)
			if res.Object.MD5 != md5Of(body) || res.Object.CRC32C != crc32cOf(body) {
				t.Fatalf("result %+v lacks the file's checksums", res.Object)
			}
			var uploads []string
			for _, e := range f.gcsProxy.log() {
				if strings.HasPrefix(e, "POST /upload/") {
					uploads = append(uploads, e)
				}
			}
			if len(uploads) != 1 || !strings.Contains(uploads[0], "uploadType=multipart") {
				t.Fatalf("uploads %v; want one unbuffered (multipart) upload", uploads)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
