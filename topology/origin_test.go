//go:build topology

package topology

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// trackedOrigin is a media origin that also knows which requests are being
// served right now, to whom (the client's address) and how far along each
// is, and which ended before their body was complete. That is how the test
// proves a fault hit while bytes were flowing, and to which process.
type trackedOrigin struct {
	media mediaOrigin

	mu       sync.Mutex
	inflight map[*served]struct{}
	finished []*served
}

// served is one request to the origin.
type served struct {
	Path       string
	ClientPort int
	Start      time.Time
	Want       int64 // the Content-Length answered; -1 if none

	bytes   atomic.Int64
	End     time.Time
	Aborted bool // ended with fewer bytes than Want: the client went away
}

func (s *served) Bytes() int64 { return s.bytes.Load() }

func newTrackedOrigin() *trackedOrigin {
	return &trackedOrigin{media: newMediaOrigin(), inflight: map[*served]struct{}{}}
}

func (o *trackedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := &served{Path: r.URL.Path, Start: time.Now(), Want: -1}
	if _, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		s.ClientPort, _ = strconv.Atoi(port)
	}
	o.mu.Lock()
	o.inflight[s] = struct{}{}
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		s.End = time.Now()
		s.Aborted = s.Want >= 0 && s.Bytes() < s.Want
		delete(o.inflight, s)
		o.finished = append(o.finished, s)
	}()
	o.media.ServeHTTP(&countingWriter{ResponseWriter: w, s: s}, r)
}

// Put serves body at path, at most bytesPerSecond per request (0: as fast
// as it goes), ignoring ranges when noRanges.
func (o *trackedOrigin) Put(path string, body []byte, contentType string, bytesPerSecond int64, noRanges bool) {
	o.media.put(path, body, contentType, bytesPerSecond, noRanges)
}

// BytesSent is how many body bytes were sent for path, over all requests.
func (o *trackedOrigin) BytesSent(path string) int64 { return o.media.bytesSent(path) }

// InFlight returns the requests being served whose path satisfies match.
func (o *trackedOrigin) InFlight(match func(path string) bool) []*served {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*served
	for s := range o.inflight {
		if match(s.Path) {
			out = append(out, s)
		}
	}
	return out
}

// Finished returns the requests that ended, oldest first.
func (o *trackedOrigin) Finished() []*served {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*served(nil), o.finished...)
}

// RequestsFor returns every request for path, finished or not, by start time.
func (o *trackedOrigin) RequestsFor(path string) []*served {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*served
	for _, s := range o.finished {
		if s.Path == path {
			out = append(out, s)
		}
	}
	for s := range o.inflight {
		if s.Path == path {
			out = append(out, s)
		}
	}
	return out
}

// countingWriter counts body bytes and keeps the Flusher the origin uses
// to stream throttled bodies.
type countingWriter struct {
	http.ResponseWriter
	s *served
}

func (w *countingWriter) WriteHeader(code int) {
	if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
		w.s.Want = n
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.s.bytes.Add(int64(n))
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
