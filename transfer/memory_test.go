package transfer_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"golang.org/x/sync/semaphore"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// A small file is read whole before its upload, but into a buffer that
// grows as bytes arrive: an origin that declares 32 MiB and sends 64 KiB
// costs about 64 KiB, not 32 MiB.
func TestSmallFileBufferGrowsAsBytesArrive(t *testing.T) {
	e := newEnv(t)
	e.opts.ChunkSize = 40 << 20
	e.opts.PartSize = 64 << 20 // the probe asks for the whole file
	declared := mediaorigin.PaddedThumbnail("big", 32<<20)
	e.origin.Put("/t.png", mediaorigin.File{Body: declared, ContentType: "image/png", CutAfter: 64 << 10, CutTimes: 1})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := e.copyFile(e.input(contract.KindThumbnail, "/t.png", "grow"))
	runtime.ReadMemStats(&after)
	if s := e.origin.Stats("/t.png"); s.Cut != 1 || s.BytesSent != 64<<10 {
		t.Fatalf("origin stats %+v; want one body cut after 64 KiB", s)
	}
	if typ, final := reasonOf(t, err); typ != contract.IncompleteBody || final {
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
			e := newEnv(t)
			e.opts.ChunkSize = tt.chunk
			e.opts.ReserveMemory = memoryBudget(128 << 10)
			pause := make(chan struct{})
			release := sync.OnceFunc(func() { close(pause) })
			defer release()
			e.origin.Put("/t.png", mediaorigin.File{Body: body, ContentType: "image/png", Pause: pause, PauseAfter: 300 << 10})

			done := make(chan error, 1)
			var res transfer.Result
			go func() {
				var err error
				res, err = e.copyFile(e.input(contract.KindThumbnail, "/t.png", "budget"))
				done <- err
			}()
			// The upload begins while the origin still holds the rest. The
			// upload may start before the origin's count of the first 300 KiB
			// is final, so both are awaited together; a count past 300 KiB
			// (the origin not held back) never satisfies it.
			waitFor(t, 10*time.Second, "the upload to begin while the origin pauses after 300 KiB", func() bool {
				uploads, _, _ := e.proxy.counts()
				return uploads > 0 && e.origin.Stats("/t.png").BytesSent == 300<<10
			})
			release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, body)
			if res.Object.MD5 != md5Of(body) || res.Object.CRC32C != crc32cOf(body) {
				t.Fatalf("result %+v lacks the file's checksums", res.Object)
			}
			var uploads []string
			for _, entry := range e.proxy.log() {
				if strings.HasPrefix(entry, "POST /upload/") {
					uploads = append(uploads, entry)
				}
			}
			if len(uploads) != 1 || !strings.Contains(uploads[0], "uploadType=multipart") {
				t.Fatalf("uploads %v; want one unbuffered (multipart) upload", uploads)
			}
		})
	}
}

// memoryBudget is a worker's memory budget of size bytes, taken from as
// activities.reserveMemory takes from it: at once, or not at all.
func memoryBudget(size int64) func(int64) (func(), bool) {
	sem := semaphore.NewWeighted(size)
	return func(n int64) (func(), bool) {
		if n <= 0 {
			return func() {}, true
		}
		if !sem.TryAcquire(n) {
			return func() {}, false
		}
		return func() { sem.Release(n) }, true
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
