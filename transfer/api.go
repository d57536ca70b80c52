package transfer

import (
	"cmp"
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
)

// Source is the file to copy.
type Source struct {
	// URL is the file's (signed) http(s) URL.
	URL string
	// HTTP fetches it. It must be SSRF-safe (internal/safehttp), follow at
	// most a few redirects and have no overall timeout: a copy may stream
	// for a long time and is bounded by its context and Options.IdleTimeout.
	HTTP *http.Client
	// LinkExpiresAt is when URL stops working; a 401/403 after it means the
	// link expired (final), before it a hiccup (retried). Zero: unknown.
	LinkExpiresAt time.Time
	// Attempt is which attempt at this file this copy is (1-based), for
	// logs: refusals are counted per transfer (Progress.Failures).
	Attempt int
}

// Destination is where the file goes: <Prefix><WochitVideoID>/<Kind><.ext>,
// with its temporary parts under <Prefix>.parts/.
type Destination struct {
	Bucket        *storage.BucketHandle
	Prefix        string
	WochitVideoID string
	Kind          contract.AssetKind
	// VideoContext is recorded in the object's metadata.
	VideoContext string
}

// Options tune one copy. Zero fields take DefaultOptions' values.
type Options struct {
	// ChunkSize is the GCS upload chunk size of a single stream: the upload
	// buffers one chunk in memory so it can resend it. A file that fits in
	// one chunk is read whole and stored in one request.
	ChunkSize int
	// PartSize is the size of the ranged parts a file is copied in when the
	// origin supports ranges; a crash costs at most the parts in flight
	// (PartSize × PartConcurrency).
	PartSize int64
	// PartConcurrency is how many parts are copied at once.
	PartConcurrency int
	// MinPartSize is the shortest range an origin that caps its ranges may
	// serve for the file still to be copied in parts of that size.
	MinPartSize int64
	// MaxBytes rejects a larger file (TooLarge); 0: no limit.
	MaxBytes int64
	// IdleTimeout fails a copy whose origin sends no byte for this long.
	IdleTimeout time.Duration
	// MinProgress and ProgressWindow cut a copy that, while it waits on its
	// origin, receives fewer than MinProgress bytes in any ProgressWindow
	// (OriginUnavailable, retried; the verified parts are kept).
	MinProgress    int64
	ProgressWindow time.Duration

	// Resume is the last Progress an earlier attempt at the same file
	// reported: its finished parts are kept when they are still good, and
	// when it first found the file unfinished counts on.
	Resume Progress
	// ReuseOnly accepts only an object an earlier copy stored and never
	// contacts the origin (whose link expired).
	ReuseOnly bool

	// Progress, when set, is called with the copy's progress when it
	// starts, every ProgressInterval, and once more before Copy returns
	// (what a later attempt passes as Resume). It must not block.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// ReserveMemory takes n bytes of a memory budget if they are free right
	// now, for a file read whole before its upload or a thumbnail's upload
	// chunk (videos' chunks are bounded by the worker's transfer slots); a
	// copy that gets none streams its upload unbuffered. Nil: no budget.
	ReserveMemory func(n int64) (release func(), ok bool)
	// CountBytes is told of every byte read from the origin;
	// IntegrityFailure of every object or part GCS stored other bytes of
	// than were read, or whose bytes do not match what the origin declared.
	CountBytes       func(n int64)
	IntegrityFailure func()
	// Logger hears what the copy decided and what it retried; nil: nothing.
	Logger Logger
	// Now is the clock (link expiry, Retry-After, how long a file has been
	// unfinished); nil is time.Now.
	Now func() time.Time
}

// Logger is what Copy logs to: a Temporal activity logger or a *slog.Logger.
type Logger interface {
	Info(msg string, keyvals ...any)
	Warn(msg string, keyvals ...any)
}

// DefaultOptions are used for zero fields of Options.
var DefaultOptions = Options{
	ChunkSize:        16 << 20,
	PartSize:         16 << 20,
	PartConcurrency:  4,
	MinPartSize:      8 << 20,
	IdleTimeout:      60 * time.Second,
	MinProgress:      64 << 10,
	ProgressWindow:   2 * time.Minute,
	ProgressInterval: time.Second,
}

func (o Options) withDefaults() Options {
	d := DefaultOptions
	o.ChunkSize = cmp.Or(o.ChunkSize, d.ChunkSize)
	o.PartSize = cmp.Or(o.PartSize, d.PartSize)
	o.PartConcurrency = cmp.Or(o.PartConcurrency, d.PartConcurrency)
	o.MinPartSize = cmp.Or(o.MinPartSize, d.MinPartSize)
	o.IdleTimeout = cmp.Or(o.IdleTimeout, d.IdleTimeout)
	o.MinProgress = cmp.Or(o.MinProgress, d.MinProgress)
	o.ProgressWindow = cmp.Or(o.ProgressWindow, d.ProgressWindow)
	o.ProgressInterval = cmp.Or(o.ProgressInterval, d.ProgressInterval)
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 62 // no limit, and limit+1 does not overflow
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = nopLogger{}
	}
	return o
}

type nopLogger struct{}

func (nopLogger) Info(string, ...any) {}
func (nopLogger) Warn(string, ...any) {}

// Result describes the stored object.
type Result struct {
	Object     contract.StoredObject
	SourceETag string
	// Parts is how many ranged parts the file was copied in (0: one stream).
	Parts int
	// Reused is true when an earlier copy had stored the object already,
	// and this one only checked it.
	Reused bool
}

// Progress is how far a copy got. A later attempt at the same file passes
// the last one as Options.Resume, to keep the parts already copied, of the
// same version of the file in the same part size.
type Progress struct {
	Kind  contract.AssetKind
	Bytes int64
	Total int64 // -1 while the size is unknown
	// PartSize and Validator are set while the file is copied in parts:
	// Validator is the strong ETag or Last-Modified of the version the
	// parts are of (sent as If-Range with every part request).
	PartSize  int64
	Validator string
	Parts     []PartRecord // finished parts
	// IncompleteSince is when an attempt first found the file unfinished;
	// later attempts give up maxIncompleteWait after it.
	IncompleteSince time.Time
	// Failures is what the earlier attempts failed with (failures.go).
	Failures Failures
	// RangeCap is the longest range the origin served when it cut a
	// part's range short in mid-transfer: later attempts plan parts no
	// longer than that (or copy in one stream when it is too short). 0:
	// none seen.
	RangeCap int64
}

// PartRecord is one finished part: its index and the CRC32C of its bytes.
type PartRecord struct {
	Index  int
	CRC32C string
}

// resumable reports whether p is a parted copy a later attempt can
// continue: its part size, and the validator of the version its parts are of.
func (p Progress) resumable() bool {
	return p.PartSize > 0 && p.Validator != "" && p.Total > 0
}
