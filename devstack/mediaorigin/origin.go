// Package mediaorigin is an HTTP media server for `dev` (the demo files
// behind `send --demo`) and for tests, where it also misbehaves on purpose:
// failing statuses, cut connections, missing or lying lengths, slow drips.
// It counts what it served, so a test can prove a fault really happened.
package mediaorigin

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

// File is one path the origin serves, with optional faults.
type File struct {
	// Body is the file's content; for large files use Source and Size.
	Body        []byte
	Source      io.ReaderAt
	Size        int64
	ContentType string

	// Statuses are answered, one per request and in order, before the file is
	// served normally; e.g. {500, 500} fails twice then succeeds.
	Statuses []int
	// RetryAfter is sent with every status from Statuses.
	RetryAfter string
	// CutAfter > 0 closes the connection abruptly after that many body bytes,
	// on the first CutTimes requests (all requests when CutTimes is 0).
	CutAfter int64
	CutTimes int
	// NoLength omits Content-Length (the body is sent chunked).
	NoLength bool
	// DeclaredLength, when non-zero, is sent as Content-Length instead of the
	// real size (a lying origin). The body is still the real one.
	DeclaredLength int64
	// BytesPerSecond throttles the body; 0 is unthrottled.
	BytesPerSecond int64
	// NoRanges ignores Range headers and advertises no range support.
	NoRanges bool
	// WrongContentRange answers that many range requests with a
	// Content-Range shifted by one byte (and the bytes it names).
	WrongContentRange int
	// SendHashes sends X-Goog-Hash with the CRC32C and MD5 of the whole
	// file, as GCS does.
	SendHashes bool
	// Hold, when set, is waited on before each request is served.
	Hold <-chan struct{}
	// Pause, with PauseAfter > 0, holds each body after PauseAfter bytes
	// until it is closed: a file that stalls mid-way.
	Pause      <-chan struct{}
	PauseAfter int64

	// Validators and versions, for tests of ranged and resumed transfers
	// (validators.go serves them).
	//
	// ETag replaces the computed strong ETag (the CRC-32 of Body, or the
	// size of generated content); NoETag sends none, WeakETag sends it weak
	// (W/"…": two byte-different versions may share it).
	ETag     string
	NoETag   bool
	WeakETag bool
	// LastModified, when set, is sent as Last-Modified.
	LastModified time.Time
	// MaxRange caps a range answer at that many bytes, as some CDNs do;
	// Content-Range names what was served. MaxLaterRange caps only ranges
	// that do not start at byte 0: the first part is served whole, the
	// later ones are not.
	MaxRange      int64
	MaxLaterRange int64
	// IgnoreIfRange serves the requested range even when If-Range names
	// another version of the file (a broken cache).
	IgnoreIfRange bool
	// Then replaces the file once ThenAfter requests were served: the file
	// changes between requests (give Then another ETag or Last-Modified).
	Then      *File
	ThenAfter int
}

// Stats is what the origin observed for one path.
type Stats struct {
	Requests  int   // all requests, including failed ones
	Completed int   // bodies sent in full
	Cut       int   // connections cut on purpose
	BytesSent int64 // body bytes written
	// Capped counts range answers shortened by MaxRange.
	Capped int
	// StaleIfRange counts requests whose If-Range named another version
	// (answered 200 with the whole file, unless IgnoreIfRange).
	StaleIfRange int
}

// Request is one request the origin received.
type Request struct {
	At      time.Time
	Range   string // the Range header, if any
	IfRange string // the If-Range header, if any
	Query   string // the URL's query string, if any
}

// Origin serves Files by path.
type Origin struct {
	mu       sync.Mutex
	files    map[string]*File
	stats    map[string]*Stats
	requests map[string][]Request
	inFlight int        // requests whose handler has not returned
	idle     *sync.Cond // broadcast when inFlight drops to 0
}

// New returns an empty origin.
func New() *Origin {
	o := &Origin{files: map[string]*File{}, stats: map[string]*Stats{}, requests: map[string][]Request{}}
	o.idle = sync.NewCond(&o.mu)
	return o
}

// Put serves f at path (which starts with "/"), replacing what was there.
func (o *Origin) Put(path string, f File) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files[path] = &f
}

// Stats returns a copy of the counters for path.
func (o *Origin) Stats(path string) Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := o.stats[path]; s != nil {
		return *s
	}
	return Stats{}
}

// Settled waits until no request is being served, then returns the
// counters for path. A client may have its bytes (or have hung up) before
// the handler that sent them has counted them; Settled is the counters
// once every handler has.
func (o *Origin) Settled(path string) Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.inFlight > 0 {
		o.idle.Wait()
	}
	if s := o.stats[path]; s != nil {
		return *s
	}
	return Stats{}
}

// Requests returns the requests received for path, oldest first.
func (o *Origin) Requests(path string) []Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Request(nil), o.requests[path]...)
}

func (o *Origin) begin(path string, r *http.Request) (f *File, status int, cut bool, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests[path] = append(o.requests[path], Request{At: time.Now(), Range: r.Header.Get("Range"), IfRange: r.Header.Get("If-Range"), Query: r.URL.RawQuery})
	f = o.files[path]
	if f == nil {
		return nil, 0, false, false
	}
	s := o.stats[path]
	if s == nil {
		s = &Stats{}
		o.stats[path] = s
	}
	s.Requests++
	if f.Then != nil && s.Requests > f.ThenAfter {
		// The file changes: this and later requests get the new version.
		f = f.Then
		o.files[path] = f
	}
	if len(f.Statuses) > 0 {
		status, f.Statuses = f.Statuses[0], f.Statuses[1:]
	}
	cut = f.CutAfter > 0 && (f.CutTimes == 0 || s.Cut < f.CutTimes)
	return f, status, cut, true
}

// takeWrongRange consumes one wrong-Content-Range answer, if any are left.
func (o *Origin) takeWrongRange(f *File) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f.WrongContentRange > 0 {
		f.WrongContentRange--
		return true
	}
	return false
}

func (o *Origin) update(path string, fn func(*Stats)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fn(o.stats[path])
}

func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.inFlight++
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		if o.inFlight--; o.inFlight == 0 {
			o.idle.Broadcast()
		}
		o.mu.Unlock()
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	path := r.URL.Path
	f, status, cut, ok := o.begin(path, r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if f.Hold != nil {
		select {
		case <-f.Hold:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}

	src, size := f.content()
	var from, to int64 = 0, size - 1
	code := http.StatusOK
	if f.ContentType != "" {
		w.Header().Set("Content-Type", f.ContentType)
	}
	f.setValidators(w.Header())
	if f.SendHashes && f.Source == nil {
		sum := md5.Sum(f.Body)
		w.Header().Set("X-Goog-Hash", fmt.Sprintf("crc32c=%s,md5=%s",
			crc32c.Encode(crc32c.Checksum(f.Body)), base64.StdEncoding.EncodeToString(sum[:])))
	}
	if !f.NoRanges {
		w.Header().Set("Accept-Ranges", "bytes")
		rf, rt, ok := parseRange(r.Header.Get("Range"), size)
		if ok && !f.ifRangeMatches(r.Header.Get("If-Range")) {
			o.update(path, func(s *Stats) { s.StaleIfRange++ })
			ok = f.IgnoreIfRange
		}
		if ok {
			if o.takeWrongRange(f) && rt+1 < size {
				rf, rt = rf+1, rt+1
			}
			if f.MaxRange > 0 && rt-rf+1 > f.MaxRange {
				rt = rf + f.MaxRange - 1
				o.update(path, func(s *Stats) { s.Capped++ })
			}
			if f.MaxLaterRange > 0 && rf > 0 && rt-rf+1 > f.MaxLaterRange {
				rt = rf + f.MaxLaterRange - 1
				o.update(path, func(s *Stats) { s.Capped++ })
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rf, rt, size))
			from, to, code = rf, rt, http.StatusPartialContent
		}
	}
	length := to - from + 1
	switch {
	case f.NoLength:
		// No Content-Length: net/http sends the body chunked.
	case f.DeclaredLength != 0:
		w.Header().Set("Content-Length", strconv.FormatInt(f.DeclaredLength, 10))
	default:
		w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	}
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}

	limit := length
	if f.DeclaredLength != 0 && f.DeclaredLength < limit {
		limit = f.DeclaredLength // net/http refuses to write past Content-Length
	}
	if cut && f.CutAfter < limit {
		limit = f.CutAfter
	}
	sent := func(n int) { o.update(path, func(s *Stats) { s.BytesSent += int64(n) }) }
	var n int64
	if f.Pause != nil && f.PauseAfter > 0 && f.PauseAfter < limit {
		n = copyThrottled(w, io.NewSectionReader(src, from, f.PauseAfter), f.BytesPerSecond, sent)
		select {
		case <-f.Pause:
		case <-r.Context().Done():
			return
		}
		n += copyThrottled(w, io.NewSectionReader(src, from+f.PauseAfter, limit-f.PauseAfter), f.BytesPerSecond, sent)
	} else {
		n = copyThrottled(w, io.NewSectionReader(src, from, limit), f.BytesPerSecond, sent)
	}
	if n < limit {
		return // the client went away
	}
	if cut && f.CutAfter < length {
		o.update(path, func(s *Stats) { s.Cut++ })
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	o.update(path, func(s *Stats) { s.Completed++ })
}

// content returns the file's bytes as a ReaderAt and their number.
func (f *File) content() (io.ReaderAt, int64) {
	if f.Source != nil {
		return f.Source, f.Size
	}
	return bytes.NewReader(f.Body), int64(len(f.Body))
}

// copyThrottled writes r to w, at most bytesPerSecond when that is positive,
// flushing as it goes so the client sees a steady stream, and reports every
// write to sent so progress is visible while the body is still flowing.
func copyThrottled(w http.ResponseWriter, r io.Reader, bytesPerSecond int64, sent func(int)) int64 {
	const tick = 50 * time.Millisecond
	per := int64(256 << 10)
	if bytesPerSecond > 0 {
		per = max(bytesPerSecond*int64(tick)/int64(time.Second), 1)
	}
	buf := make([]byte, per)
	var total int64
	fl, _ := w.(http.Flusher)
	for {
		started := time.Now()
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			written, werr := w.Write(buf[:n])
			total += int64(written)
			sent(written)
			if werr != nil {
				return total
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			return total
		}
		if bytesPerSecond > 0 {
			time.Sleep(tick - time.Since(started))
		}
	}
}

// parseRange understands the single-range forms "bytes=a-b", "bytes=a-" and
// "bytes=-n"; anything else is served as a whole.
func parseRange(h string, size int64) (from, to int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || size == 0 {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	var err error
	switch {
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	default:
		if from, err = strconv.ParseInt(a, 10, 64); err != nil || from >= size {
			return 0, 0, false
		}
		to = size - 1
		if b != "" {
			if to, err = strconv.ParseInt(b, 10, 64); err != nil || to < from {
				return 0, 0, false
			}
			to = min(to, size-1)
		}
		return from, to, true
	}
}
