package gcssink

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

// KeptBytes is how much of each end of an object the sink keeps: enough for
// what a transfer reads back (an MP4's box headers and moov, to check the
// structure and read the metadata), while the media in between is thrown
// away. A read the kept bytes do not cover fails, so a benchmark that
// starts reading media back fails loudly instead of measuring wrong bytes.
const KeptBytes = 1 << 20

// segment is kept content: b at offset off of the object.
type segment struct {
	off int64
	b   []byte
}

func (s segment) end() int64 { return s.off + int64(len(s.b)) }

// keeper records the first and last KeptBytes of a stream as it passes.
type keeper struct {
	head []byte
	ring []byte // the last KeptBytes, written circularly
	n    int64  // bytes seen
}

func (k *keeper) write(p []byte) {
	if room := KeptBytes - len(k.head); room > 0 {
		k.head = append(k.head, p[:min(room, len(p))]...)
	}
	if k.ring == nil {
		k.ring = make([]byte, KeptBytes)
	}
	if len(p) > KeptBytes {
		k.n += int64(len(p) - KeptBytes)
		p = p[len(p)-KeptBytes:]
	}
	for len(p) > 0 {
		c := copy(k.ring[k.n%KeptBytes:], p)
		p, k.n = p[c:], k.n+int64(c)
	}
}

// segments returns what was kept, for an object of the k.n bytes seen.
func (k *keeper) segments() []segment {
	n := int(min(k.n, KeptBytes))
	at := int((k.n - int64(n)) % KeptBytes) // where the oldest kept byte is
	tail := append(append(make([]byte, 0, n), k.ring[at:min(at+n, KeptBytes)]...), k.ring[:max(at+n-KeptBytes, 0)]...)
	return keep([]segment{{0, k.head}, {k.n - int64(len(tail)), tail}}, k.n)
}

// keep clips segments to the first and last KeptBytes of an object of size
// bytes and merges those that touch, so a read across two composed parts
// is served from one segment.
func keep(segs []segment, size int64) []segment {
	var clipped []segment
	for _, w := range [][2]int64{{0, min(KeptBytes, size)}, {max(size-KeptBytes, 0), size}} {
		for _, s := range segs {
			lo, hi := max(s.off, w[0]), min(s.end(), w[1])
			if lo < hi {
				clipped = append(clipped, segment{lo, s.b[lo-s.off : hi-s.off]})
			}
		}
	}
	sort.Slice(clipped, func(i, j int) bool { return clipped[i].off < clipped[j].off })
	var out []segment
	for _, s := range clipped {
		if n := len(out); n > 0 && s.off <= out[n-1].end() {
			last := &out[n-1]
			if s.end() > last.end() {
				last.b = append(append([]byte(nil), last.b...), s.b[last.end()-s.off:]...)
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// read serves an XML API media read (GET or HEAD /<bucket>/<object>, the
// storage client's default) from the kept bytes.
func (s *Sink) read(w http.ResponseWriter, r *http.Request, bucket, name string) {
	s.mu.Lock()
	if r.Method == http.MethodGet {
		s.reads++
	}
	o := s.objects[bucket+"/"+name]
	if o != nil {
		snapshot := *o // patch changes the metadata under the lock
		o = &snapshot
	}
	s.mu.Unlock()
	if o == nil || r.URL.Query().Has("generation") && r.URL.Query().Get("generation") != strconv.FormatInt(o.Generation, 10) {
		http.Error(w, "no such object", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", o.ContentType)
	h.Set("X-Goog-Generation", strconv.FormatInt(o.Generation, 10))
	h.Set("X-Goog-Metageneration", strconv.FormatInt(o.Metageneration, 10))
	h.Set("X-Goog-Stored-Content-Length", strconv.FormatInt(o.Size, 10))
	h.Set("Accept-Ranges", "bytes")
	first, last, ranged, err := parseRange(r.Header.Get("Range"), o.Size)
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", o.Size))
		http.Error(w, err.Error(), http.StatusRequestedRangeNotSatisfiable)
		return
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(o.Size, 10))
		w.WriteHeader(http.StatusOK)
		return
	}
	var body []byte
	for _, seg := range o.Kept {
		if seg.off <= first && last < seg.end() {
			body = seg.b[first-seg.off : last+1-seg.off]
			break
		}
	}
	if body == nil && last >= first {
		http.Error(w, fmt.Sprintf("gcssink keeps only the first and last %d bytes of an object; bytes %d-%d of %s are gone", KeptBytes, first, last, name), http.StatusBadRequest)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if ranged {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, o.Size))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		h.Set("X-Goog-Hash", "crc32c="+crc32c.Encode(o.CRC32C))
		w.WriteHeader(http.StatusOK)
	}
	_, _ = w.Write(body)
}

// parseRange reads the storage client's Range header ("bytes=a-b",
// "bytes=a-", "bytes=-n"; none for the whole object).
func parseRange(v string, size int64) (first, last int64, ranged bool, err error) {
	if v == "" {
		return 0, size - 1, false, nil
	}
	spec, ok := strings.CutPrefix(v, "bytes=")
	a, b, dash := strings.Cut(spec, "-")
	if !ok || !dash {
		return 0, 0, false, fmt.Errorf("bad Range %q", v)
	}
	switch {
	case a == "":
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, fmt.Errorf("bad Range %q", v)
		}
		first, last = max(size-n, 0), size-1
	default:
		if first, err = strconv.ParseInt(a, 10, 64); err != nil {
			return 0, 0, false, fmt.Errorf("bad Range %q", v)
		}
		last = size - 1
		if b != "" {
			if last, err = strconv.ParseInt(b, 10, 64); err != nil || last < first {
				return 0, 0, false, fmt.Errorf("bad Range %q", v)
			}
			last = min(last, size-1)
		}
	}
	if first >= size {
		return 0, 0, false, fmt.Errorf("Range %q starts past the object's %d bytes", v, size)
	}
	return first, last, true, nil
}
