// Package activities holds the work that touches the outside world: copying a
// media file from its origin into Google Cloud Storage (TransferToGCS, which
// runs the copy engine of package transfer) and telling the customer's
// backend about it (DeliverCallback). Here the engine meets Temporal:
// heartbeats, attempts, and failures as ApplicationErrors.
//
// Activities is a struct of ready-made dependencies, built once by the worker
// and registered with w.RegisterActivity; adding an activity means adding a
// method here and a test next to it. Media bytes never leave an activity:
// workflows see only object names, sizes and checksums.
package activities

import (
	"cmp"
	"net/http"
	"sync"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/semaphore"

	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// Activities carries the clients and settings every activity needs.
type Activities struct {
	// Origin fetches media. It must be SSRF-safe (internal/safehttp), follow at
	// most a few redirects and have no overall timeout: a transfer may stream
	// for a long time and is bounded by the activity's own timeouts instead.
	Origin *http.Client
	// Callback posts callbacks. It must be SSRF-safe and not follow redirects.
	Callback *http.Client
	// Storage is the GCS client (real GCS, or the emulator in dev and tests).
	Storage *storage.Client
	// Bucket and Prefix locate the objects: <Prefix><wochitVideoId>/<kind><.ext>.
	Bucket string
	Prefix string
	// CallbackURL receives video.stored / video.failed events, signed by Signer.
	CallbackURL string
	Signer      *webhook.Signer
	// Transfer tunes TransferToGCS.
	Transfer TransferSettings
	// Metrics records transfer figures; nil records nothing.
	Metrics *Metrics
	// Now is the clock; tests may replace it.
	Now func() time.Time

	memoryOnce sync.Once
	memory     *semaphore.Weighted // Transfer.MemoryBudget, created on first use

	hostsMu sync.Mutex
	hosts   map[hostKey]int // transfers running per origin host and kind
}

// TransferSettings are the knobs of TransferToGCS.
type TransferSettings struct {
	// ChunkSize is the GCS upload chunk size of a single-stream transfer:
	// the upload buffers one chunk in memory so it can resend it.
	ChunkSize int
	// PartSize is the size of the ranged parts a large file is copied in
	// when the origin supports ranges; a crash costs at most the parts in
	// flight (PartSize × PartConcurrency). Part uploads are unbuffered (a
	// failed part is fetched again).
	PartSize int64
	// PartConcurrency is how many parts of one file are copied at once.
	PartConcurrency int
	// MinPartSize is the shortest range an origin that caps its ranges may
	// serve for the file still to be copied in parts of that size; shorter,
	// it is copied in one stream.
	MinPartSize int64
	// MemoryBudget bounds the bytes all transfers of the process hold in
	// memory for files read whole before their upload and for thumbnails'
	// upload chunks. A transfer that does not fit streams unbuffered.
	MemoryBudget int64
	// MaxVideoBytes and MaxThumbnailBytes reject larger files.
	MaxVideoBytes     int64
	MaxThumbnailBytes int64
	// IdleTimeout fails an attempt whose origin sends no byte for this long.
	IdleTimeout time.Duration
	// MinProgress and ProgressWindow cut an attempt that receives fewer than
	// MinProgress bytes from its origin in any ProgressWindow.
	MinProgress    int64
	ProgressWindow time.Duration
	// VideoHostSlots and ThumbnailHostSlots are how many video and
	// thumbnail transfers from one origin host the process runs at once
	// (0: no limit), so that one slow host cannot take every slot.
	VideoHostSlots     int
	ThumbnailHostSlots int
	// HeartbeatInterval is how often progress is reported to Temporal.
	HeartbeatInterval time.Duration
}

// DefaultTransferSettings are used for zero fields of TransferSettings.
var DefaultTransferSettings = TransferSettings{
	ChunkSize:         transfer.DefaultOptions.ChunkSize,
	PartSize:          transfer.DefaultOptions.PartSize,
	PartConcurrency:   transfer.DefaultOptions.PartConcurrency,
	MinPartSize:       transfer.DefaultOptions.MinPartSize,
	MemoryBudget:      256 << 20,
	MaxVideoBytes:     10 << 30,
	MaxThumbnailBytes: 50 << 20,
	IdleTimeout:       transfer.DefaultOptions.IdleTimeout,
	MinProgress:       transfer.DefaultOptions.MinProgress,
	ProgressWindow:    transfer.DefaultOptions.ProgressWindow,
	HeartbeatInterval: 2 * time.Second,
}

func (a *Activities) transferSettings() TransferSettings {
	s, d := a.Transfer, DefaultTransferSettings
	s.ChunkSize = cmp.Or(s.ChunkSize, d.ChunkSize)
	s.PartSize = cmp.Or(s.PartSize, d.PartSize)
	s.PartConcurrency = cmp.Or(s.PartConcurrency, d.PartConcurrency)
	s.MinPartSize = cmp.Or(s.MinPartSize, d.MinPartSize)
	s.MemoryBudget = cmp.Or(s.MemoryBudget, d.MemoryBudget)
	s.MaxVideoBytes = cmp.Or(s.MaxVideoBytes, d.MaxVideoBytes)
	s.MaxThumbnailBytes = cmp.Or(s.MaxThumbnailBytes, d.MaxThumbnailBytes)
	s.IdleTimeout = cmp.Or(s.IdleTimeout, d.IdleTimeout)
	s.MinProgress = cmp.Or(s.MinProgress, d.MinProgress)
	s.ProgressWindow = cmp.Or(s.ProgressWindow, d.ProgressWindow)
	s.HeartbeatInterval = cmp.Or(s.HeartbeatInterval, d.HeartbeatInterval)
	return s
}

func (s TransferSettings) maxBytes(kind contract.AssetKind) int64 {
	if kind == contract.KindThumbnail {
		return s.MaxThumbnailBytes
	}
	return s.MaxVideoBytes
}

// reserveMemory takes n bytes of the memory budget if they are free right
// now. It never waits: a transfer that does not fit takes the unbuffered
// path instead, so a burst of large declared sizes can neither exhaust
// memory nor hold transfers in a queue.
func (a *Activities) reserveMemory(n int64) (release func(), ok bool) {
	a.memoryOnce.Do(func() { a.memory = semaphore.NewWeighted(a.transferSettings().MemoryBudget) })
	if n <= 0 {
		return func() {}, true
	}
	if !a.memory.TryAcquire(n) {
		return func() {}, false
	}
	return func() { a.memory.Release(n) }, true
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
