package transfer_test

import (
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// Whatever path copies a file, the final object is only ever created by a
// request that declares the CRC32C of the bytes read from the origin, for
// GCS to check. So when the bytes GCS receives are not those (the proxy
// flips one byte of the first upload), nothing is stored under the final
// name: the attempt fails and is retried (a part is fetched again), and the
// file is stored whole.
//
// Mutations that fail it: SendCRC32C=false and DisableAutoChecksum=true in
// transfer/small.go (the small file's upload declares no CRC32C);
// DisableAutoChecksum=true for the chunked stream in transfer/stream.go (the
// corrupted bytes are finalized under the final name); writing the
// unbuffered upload under the final name instead of a temporary object
// (stream.go's target); SendCRC32C=false on the final compose in
// transfer/partstore.go.
func TestUploadsCarryAChecksumGCSVerifies(t *testing.T) {
	for _, tt := range []struct {
		name      string
		size      int
		opts      transfer.Options
		ranges    bool
		wantParts int
	}{
		{"small file, one request", 300 << 10, transfer.Options{ChunkSize: 1 << 20}, false, 0},
		{"single stream in chunks", 700 << 10, transfer.Options{ChunkSize: 256 << 10}, false, 0},
		{"single stream unbuffered", 300 << 10, transfer.Options{ChunkSize: 1 << 20, ReserveMemory: memoryBudget(128 << 10)}, false, 0},
		{"parts and compose", 700 << 10, transfer.Options{ChunkSize: 256 << 10, PartSize: 256 << 10, PartConcurrency: 1}, true, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts = tt.opts
			body := mediaorigin.Video("corrupt", tt.size)
			e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: !tt.ranges})
			e.proxy.corruptUploads = 1

			res, errs := e.attempts(e.input(contract.KindVideo, "/v.mp4", "corrupt"), 3)
			e.proxy.mu.Lock()
			corrupted := e.proxy.corrupted
			e.proxy.mu.Unlock()
			if corrupted != 1 {
				t.Fatalf("the proxy corrupted %d uploads, want 1", corrupted)
			}
			wantErrs := 1
			if tt.wantParts > 0 {
				wantErrs = 0 // the part is fetched again within the attempt
			}
			if len(errs) != wantErrs {
				t.Fatalf("failed attempts: %v; want %d", errs, wantErrs)
			}
			for _, err := range errs {
				if typ, final := reasonOf(t, err); final || (typ != contract.StorageError && typ != contract.IntegrityMismatch) {
					t.Fatalf("error = %v, want a retryable %s or %s", err, contract.StorageError, contract.IntegrityMismatch)
				}
			}
			const name = "videos/corrupt/video.mp4"
			created := e.proxy.creations(name)
			if len(created) != 1 {
				t.Fatalf("%s was created %d times (%+v), want once", name, len(created), created)
			}
			if c := created[0]; c.declared != crc32cOf(body) || c.crc32c != crc32cOf(body) {
				t.Fatalf("%s was created with crc32c %q by a request that declared %q; want both %q, the file's",
					name, c.crc32c, c.declared, crc32cOf(body))
			}
			if res.Parts != tt.wantParts {
				t.Fatalf("copied in %d parts, want %d", res.Parts, tt.wantParts)
			}
			if tt.wantParts > 0 {
				if n := e.origin.Stats("/v.mp4").Requests; n != tt.wantParts+1 {
					t.Fatalf("origin saw %d requests, want %d (the corrupted part twice)", n, tt.wantParts+1)
				}
			}
			e.assertStored(t, res.Object.Name, body)
			if left := e.objects(t, "videos/.parts/"); len(left) != 0 {
				t.Fatalf("temporary objects remain: %v", left)
			}
		})
	}
}
